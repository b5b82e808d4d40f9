"""DL3065: Setting FROM --platform to predefined $TARGETPLATFORM is redundant"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3065(Rule):
    id = "DL3065"
    severity = "warning"
    origin = "hadolint"
    title = "Setting `FROM --platform` to predefined `$TARGETPLATFORM` in is redundant as this is the default behavior"
    what = """Flags `FROM --platform=$TARGETPLATFORM`."""
    why = """That is what FROM does without the flag; the flag only adds noise."""
    bad = """FROM --platform=$TARGETPLATFORM alpine:3.19"""
    good = """FROM alpine:3.19"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for st in ctx.stages:
            if st.platform in ("$TARGETPLATFORM", "${TARGETPLATFORM}"):
                yield self.hit(st.from_instruction)


RULE = DL3065()
