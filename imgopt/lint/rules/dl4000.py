"""DL4000: MAINTAINER is deprecated"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL4000(Rule):
    id = "DL4000"
    severity = "error"
    origin = "hadolint"
    title = "MAINTAINER is deprecated"
    what = """Flags MAINTAINER."""
    why = """MAINTAINER is deprecated; a label is the place for it."""
    bad = """MAINTAINER someone@example.com"""
    good = """LABEL org.opencontainers.image.authors=someone@example.com"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("MAINTAINER"):
            yield self.hit(ins)


RULE = DL4000()
