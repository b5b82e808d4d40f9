"""DL3037: Specify version with zypper install -y <package>=<version>"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3037(Rule):
    id = "DL3037"
    severity = "warning"
    origin = "hadolint"
    title = "Specify version with `zypper install -y <package>=<version>`."
    what = """Flags `zypper install` of a package without a version (`=`, `>=`, `<`...); `.rpm` files need none."""
    why = """An unpinned install takes whatever the repository has at build time."""
    bad = """RUN zypper install -y nginx"""
    good = """RUN zypper install -y nginx=1.21.5"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for c in ctx.commands(ins, hadolint=True):
                if c.name != "zypper" or not c.has_args("install", "in"):
                    continue
                pkgs = [a for a in c.args_no_flags() if a not in ("install", "in")]
                if not all(any(s in p for s in ("=", ">", "<")) or p.endswith(".rpm") for p in pkgs):
                    yield self.hit(ins)
                    break


RULE = DL3037()
