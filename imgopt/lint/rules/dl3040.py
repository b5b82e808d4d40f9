"""DL3040: dnf clean all missing after dnf command"""

from __future__ import annotations

from imgopt.lint.helpers import clean_after, has_cache_mount
from imgopt.lint.rule import Rule


INSTALL = ("install", "in", "upgrade", "up", "upgrade-minimal", "up-min", "reinstall", "rei")


class DL3040(Rule):
    id = "DL3040"
    severity = "warning"
    origin = "hadolint"
    title = "`dnf clean all` missing after dnf command."
    what = """Flags a RUN with dnf/microdnf install (or upgrade, reinstall) and no `dnf clean all` (or
`rm -rf /var/cache/libdnf5*`) after it; a cache mount of /var/cache/libdnf5 is fine too."""
    why = """dnf keeps metadata and packages in its cache directory, in the layer."""
    bad = """RUN dnf install -y httpd"""
    good = """RUN dnf install -y httpd && dnf clean all"""
    hadolint = "Same as hadolint, including its loose test for the clean-up; imgopt's IMG104 checks it."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if has_cache_mount(ins, "/var/cache/libdnf5") or has_cache_mount(ins, ".cache/libdnf5"):
                continue
            cmds = ctx.commands(ins, hadolint=True)
            for name in ("dnf", "microdnf"):
                def installs(c, name=name):
                    return c.name == name and c.has_args(*INSTALL)

                def cleans(c, name=name):
                    return (c.name == name and c.has_args("clean", "all")) or \
                        (c.name == "rm" and c.has_args("-rf", "/var/cache/libdnf5*"))

                if any(installs(c) for c in cmds) and not clean_after(cmds, installs, cleans):
                    yield self.hit(ins)
                    break


RULE = DL3040()
