"""DL3019: Use the --no-cache switch with apk add"""

from __future__ import annotations

from imgopt.lint.helpers import has_cache_mount
from imgopt.lint.rule import Rule


class DL3019(Rule):
    id = "DL3019"
    severity = "info"
    origin = "hadolint"
    title = ("Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` "
             "when done installing packages")
    what = """Flags `apk add` without `--no-cache` (a cache mount of /var/cache/apk is fine too)."""
    why = """Without it apk keeps the downloaded index in /var/cache/apk, in the layer."""
    bad = """RUN apk update && apk add curl"""
    good = """RUN apk add --no-cache curl"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if has_cache_mount(ins, "/var/cache/apk"):
                continue
            if any(c.name == "apk" and "add" in c.args and not c.has_flag("no-cache") for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3019()
