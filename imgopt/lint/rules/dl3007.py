"""DL3007: Using latest is prone to errors"""

from __future__ import annotations

from imgopt.dockerfile.parser import split_image
from imgopt.lint.rule import Rule


class DL3007(Rule):
    id = "DL3007"
    severity = "warning"
    origin = "hadolint"
    title = ("Using latest is prone to errors if the image will ever update. Pin the version explicitly "
             "to a release tag")
    what = """Flags `FROM image:latest` (without a digest), also when the tag comes from an ARG default."""
    why = """`latest` moves: the same Dockerfile builds a different image next month."""
    bad = """FROM node:latest"""
    good = """FROM node:20.11-slim"""
    hadolint = """hadolint only sees a literal `:latest`; here `ARG TAG=latest` + `FROM node:${TAG}` is
flagged too."""

    def check(self, ctx):
        for st in ctx.stages:
            ins = st.from_instruction
            text = st.base if "$" not in st.base else ctx.expand(ins, st.base)
            if not text or "$" in text:
                continue
            ref = split_image(text)
            if ref.tag == "latest" and ref.digest is None:
                yield self.hit(ins)


RULE = DL3007()
