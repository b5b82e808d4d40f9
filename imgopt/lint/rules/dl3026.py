"""DL3026: Use only an allowed registry in the FROM image"""

from __future__ import annotations

from imgopt.dockerfile.parser import split_image
from imgopt.lint.helpers import mounts
from imgopt.lint.rule import Rule


def match_registry(allow: str, registry: str) -> bool:
    if allow == "*":
        return True
    if allow.startswith("*"):
        return registry.endswith(allow[1:])
    if allow.endswith("*"):
        return registry.startswith(allow[:-1])
    return registry == allow


class DL3026(Rule):
    id = "DL3026"
    severity = "error"
    origin = "hadolint"
    title = "Use only an allowed registry in the FROM image"
    config = ("trusted-registries",)
    what = """With trusted registries configured (`--trusted-registry`, `trustedRegistries`), flags FROM,
`COPY --from` and `RUN --mount=...,from=` images from other registries.  Images without a registry
are Docker Hub's (`docker.io`); wildcards `*.example.com` and `example.*` work."""
    why = """Base images are code you run; limiting where they come from is a supply-chain control (and
keeps pulls on the registries close to you)."""
    bad = """# trustedRegistries: [registry.example.com]
FROM debian:12"""
    good = """FROM registry.example.com/debian:12"""
    hadolint = """Same as hadolint; a FROM written with ARGs is checked with their default values."""

    def check(self, ctx):
        allowed = ctx.config.trusted_registries
        if not allowed:
            return
        aliases: set[str] = set()

        def ok(text: str) -> bool:
            if text.lower() in aliases or text.lower() == "scratch":
                return True
            ref = split_image(text)
            if ref.registry is None:
                return any(match_registry(a, "docker.io") or match_registry(a, "hub.docker.com") for a in allowed)
            return any(match_registry(a, ref.registry) for a in allowed)

        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                st = ctx.stage(ins)
                text = st.base if st is not None else ""
                if "$" in text:
                    text = ctx.expand(ins, text) or ""
                if text and "$" not in text and not ok(text):
                    yield self.hit(ins)
                if st is not None and st.name:
                    aliases.add(st.name)
            elif ins.keyword == "COPY" and ins.flag("from"):
                src = ins.flag("from")
                if not src.isdigit() and not ok(src):
                    yield self.hit(ins)
            elif ins.keyword == "RUN":
                for m in mounts(ins):
                    if m["type"] in ("bind", "cache") and "from" in m and not ok(m["from"]):
                        yield self.hit(ins)
                        break


RULE = DL3026()
