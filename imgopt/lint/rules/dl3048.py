"""DL3048: Invalid label key"""

from __future__ import annotations

from imgopt.lint.rule import Rule


_VALID = set("0123456789abcdefghijklmnopqrstuvwxyz.-_/")


def bad_key(k: str) -> bool:
    return (not k or not ("a" <= k[0] <= "z") or not (k[-1].isdigit() or "a" <= k[-1] <= "z")
            or any(ch not in _VALID for ch in k)
            or k.startswith(("com.docker.", "io.docker.", "org.dockerproject."))
            or ".." in k or "--" in k)


class DL3048(Rule):
    id = "DL3048"
    severity = "style"
    origin = "hadolint"
    title = "Invalid label key."
    what = """Flags LABEL keys that break Docker's key format: lower-case letters, digits, `.`, `-`, `_`,
`/`; starting with a letter and ending with a letter or digit; no `..` or `--`; not in the reserved
com.docker., io.docker. and org.dockerproject. namespaces."""
    why = """Tools that read labels (registries, scanners, orchestrators) expect the documented format."""
    bad = """LABEL Maintainer=someone"""
    good = """LABEL org.opencontainers.image.authors=someone"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("LABEL"):
            if any(bad_key(k) for k, _ in ins.pairs):
                yield self.hit(ins)


RULE = DL3048()
