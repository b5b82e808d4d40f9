"""DL3018: Pin versions in apk add"""

from __future__ import annotations

from imgopt.lint.helpers import nonflag_indexes, package_words
from imgopt.lint.rule import Rule


# apk options that take a value (so the value is not a package)
VALUE_FLAGS = ("t", "virtual", "repository", "X", "p", "root", "arch", "cache-dir", "keys-dir",
               "repositories-file", "wait", "timeout", "cache-max-age")


def pinned(p: str) -> bool:
    return any(s in p for s in ("=", "~", ">", "<")) or p.endswith(".apk")


class DL3018(Rule):
    id = "DL3018"
    severity = "warning"
    origin = "hadolint"
    title = "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`"
    what = """Flags `apk add` of a package without a version constraint (`=`, `~`, `>`, `<`); `.apk` files
need none.  Values of apk's options (`-X`/`--repository URL`, `--root DIR`, `-t`/`--virtual NAME`,
`--arch`, `--keys-dir`, `--repositories-file`...) are not taken for packages, and packages held in a
variable are checked with its value when it is known."""
    why = """An unpinned apk add takes whatever the repository has at build time."""
    bad = """RUN apk add --no-cache curl"""
    good = """RUN apk add --no-cache curl=8.5.0-r0"""
    hadolint = """hadolint#408 (`apk -X URL add`) is fixed in hadolint, but it still takes the values of
apk's other options for unpinned packages: `apk add --root /rootfs --no-cache curl=8.5.0-r0` and
`--repositories-file`, `--keys-dir`, `--arch` are flagged by hadolint and not here."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            script = ctx.script(ins)
            for cmd in [c for c in script.commands if not c.synthetic]:
                if cmd.name != "apk" or "add" not in cmd.args:
                    continue
                idx = [i for i in nonflag_indexes(cmd, VALUE_FLAGS) if cmd.args[i] != "add"]
                if not all(pinned(p) for p in package_words(cmd, idx, script, ctx.env(ins))):
                    yield self.hit(ins)
                    break


RULE = DL3018()
