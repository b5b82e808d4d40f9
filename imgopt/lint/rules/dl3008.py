"""DL3008: Pin versions in apt-get install"""

from __future__ import annotations

from imgopt.lint.helpers import nonflag_indexes, package_words
from imgopt.lint.rule import Rule


class DL3008(Rule):
    id = "DL3008"
    severity = "warning"
    origin = "hadolint"
    title = ("Pin versions in apt get install. Instead of `apt-get install <package>` use "
             "`apt-get install <package>=<version>`")
    what = """Flags `apt-get install` of a package without `=version`.  Local packages (a path or a
`.deb`, globs included) need no version.  Packages held in a shell variable are checked with the
variable's value when it is known (set earlier in the same RUN, or by ARG/ENV)."""
    why = """Unpinned packages make the build take whatever the archive has that day, so two builds of the
same Dockerfile differ."""
    bad = """RUN apt-get install -y curl"""
    good = """RUN apt-get install -y curl=7.88.1-10+deb12u5"""
    hadolint = """Does better on hadolint#928 (the versions are in a variable, `buildDeps="python3=3.6.7"
... apt-get install $buildDeps`: hadolint flags it, here the value is read) and covers hadolint#345
(local `.deb` files, which hadolint has accepted since 2.x) for globs and variables too."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            script = ctx.script(ins)
            for cmd in [c for c in script.commands if not c.synthetic]:
                if cmd.name != "apt-get" or "install" not in cmd.args:
                    continue
                idx = [i for i in nonflag_indexes(cmd, ("t", "target-release")) if cmd.args[i] != "install"]
                pkgs = package_words(cmd, idx, script, ctx.env(ins))
                if not all(pinned(p) for p in pkgs):
                    yield self.hit(ins)
                    break


def pinned(pkg: str) -> bool:
    return "=" in pkg or "/" in pkg or pkg.endswith(".deb")


RULE = DL3008()
