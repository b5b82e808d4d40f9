"""DL3036: zypper clean missing after zypper use"""

from __future__ import annotations

from imgopt.lint.helpers import clean_after, has_cache_mount
from imgopt.lint.rule import Rule


def installs(c) -> bool:
    return c.name == "zypper" and c.has_args("install", "in")


def cleans(c) -> bool:
    return c.name == "zypper" and c.has_args("clean", "cc")


class DL3036(Rule):
    id = "DL3036"
    severity = "warning"
    origin = "hadolint"
    title = "`zypper clean` missing after zypper use."
    what = """Flags a RUN with `zypper install` and no `zypper clean` after it (a cache mount of
/var/cache/zypp is fine too)."""
    why = """zypper keeps downloaded packages in /var/cache/zypp, in the layer."""
    bad = """RUN zypper install -y nginx"""
    good = """RUN zypper install -y nginx && zypper clean"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            cmds = ctx.commands(ins, hadolint=True)
            if not any(installs(c) for c in cmds) or has_cache_mount(ins, "/var/cache/zypp"):
                continue
            if not clean_after(cmds, installs, cleans):
                yield self.hit(ins)


RULE = DL3036()
