"""DL3006: Always tag the version of an image explicitly"""

from __future__ import annotations

from imgopt.dockerfile.parser import split_image
from imgopt.lint.rule import Rule


class DL3006(Rule):
    id = "DL3006"
    severity = "warning"
    origin = "hadolint"
    title = "Always tag the version of an image explicitly"
    what = """Flags a FROM image without a tag or digest (scratch and earlier stages excepted).  A FROM
written with ARGs is checked with the ARGs' default values."""
    why = """Without a tag the build uses whatever `latest` is that day: builds stop being repeatable,
and every new upstream release silently changes the image and its size."""
    bad = """FROM debian"""
    good = """FROM debian:12.5-slim"""
    hadolint = """hadolint skips every FROM that starts with a variable, and misreads others
(hadolint#339, #979, #1078): `ARG BASE=alpine:3.19` + `FROM ${BASE}` is fine here, `ARG BASE=alpine`
+ `FROM ${BASE}` is flagged (hadolint says nothing), and `FROM img${SRC}` naming an earlier stage is
not flagged.  A FROM whose value is unknown (an ARG without default) is not flagged."""

    def check(self, ctx):
        seen: set[str] = set()
        for st in ctx.stages:
            ins = st.from_instruction
            text = st.base
            if "$" in text:
                text = ctx.expand(ins, text)
                if text is None or "$" in text or not text:
                    if st.name:
                        seen.add(st.name)
                    continue
            low = text.lower()
            if low != "scratch" and low not in seen:
                ref = split_image(text)
                if ref.tag is None and ref.digest is None:
                    yield self.hit(ins)
            if st.name:
                seen.add(st.name)


RULE = DL3006()
