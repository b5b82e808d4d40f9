"""DL3029: Do not use --platform flag with FROM"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3029(Rule):
    id = "DL3029"
    severity = "warning"
    origin = "hadolint"
    title = "Do not use --platform flag with FROM"
    what = """Flags `FROM --platform=...` with a fixed platform (`$BUILDPLATFORM`/`$TARGETPLATFORM` are
fine)."""
    why = """A fixed platform makes the image build for that platform only, whatever `--platform` the build
asks for; multi-platform builds then ship the wrong binaries."""
    bad = """FROM --platform=linux/amd64 debian:12"""
    good = """FROM --platform=$BUILDPLATFORM golang:1.22 AS build"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for st in ctx.stages:
            p = st.platform
            if p is not None and "BUILDPLATFORM" not in p and "TARGETPLATFORM" not in p:
                yield self.hit(st.from_instruction)


RULE = DL3029()
