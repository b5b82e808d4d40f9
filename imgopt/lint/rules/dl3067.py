"""DL3067: Do not copy an entire filesystem from another stage"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes
from imgopt.lint.rule import Rule


class DL3067(Rule):
    id = "DL3067"
    severity = "warning"
    origin = "hadolint"
    title = "Do not copy an entire filesystem from another stage"
    what = """Flags `COPY --from=stage / /`."""
    why = """It copies everything, including the other stage's package caches, build tools and /proc
placeholders, defeating the point of a multi-stage build."""
    bad = """COPY --from=build / /"""
    good = """COPY --from=build /app/dist /app/dist"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("COPY"):
            if ins.flag("from") is None:
                continue
            words = [drop_quotes(w) for w in ins.words]
            if len(words) >= 2 and words[-1] == "/" and "/" in words[:-1]:
                yield self.hit(ins)


RULE = DL3067()
