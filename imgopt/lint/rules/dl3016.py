"""DL3016: Pin versions in npm"""

from __future__ import annotations

from imgopt.lint.rule import Rule


GIT = ("git://", "git+ssh://", "git+http://", "git+https://")
PATHS = ("/", "./", "../", "~/")
TARBALLS = (".tar", ".tar.gz", ".tgz")


def version_fixed(p: str) -> bool:
    if p.startswith(GIT):
        return "#" in p
    if p.endswith(TARBALLS) or p.startswith(PATHS):
        return True
    name = p.split("/", 1)[1] if p.startswith("@") and "/" in p else p
    return "@" in name


class DL3016(Rule):
    id = "DL3016"
    severity = "warning"
    origin = "hadolint"
    title = "Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`"
    what = """Flags `npm install <package>` (also `npm i` / `npm add`) of a package without `@version`
(git URLs need `#ref`; local paths and tarballs need nothing).  A plain `npm install` of the
package.json is fine."""
    why = """Unpinned packages resolve to the newest release at build time."""
    bad = """RUN npm install -g typescript"""
    good = """RUN npm install -g typescript@5.4.2"""
    hadolint = """hadolint only knows `npm install`; the `npm i` and `npm add` spellings are checked here too."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for cmd in ctx.commands(ins, hadolint=True):
                if cmd.name != "npm":
                    continue
                args = cmd.args_no_flags(("loglevel", "registry"))
                if not args or args[0] not in ("install", "i", "add"):
                    continue
                sub = args[0]
                pkgs = args[1:]
                while pkgs and pkgs[0] == sub:
                    pkgs = pkgs[1:]
                if not all(version_fixed(p) for p in pkgs):
                    yield self.hit(ins)
                    break


RULE = DL3016()
