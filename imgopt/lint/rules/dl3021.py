"""DL3021: COPY with more than 2 arguments requires the last argument to end with /"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes
from imgopt.lint.rule import Rule


class DL3021(Rule):
    id = "DL3021"
    severity = "error"
    origin = "hadolint"
    title = "COPY with more than 2 arguments requires the last argument to end with /"
    what = """Flags a COPY of several sources to a destination that does not end with `/`."""
    why = """With several sources the destination must be a directory; BuildKit rejects the instruction
otherwise."""
    bad = """COPY package.json package-lock.json /app"""
    good = """COPY package.json package-lock.json /app/"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("COPY"):
            if ins.heredocs:
                continue
            words = ins.words
            if len(words) > 2 and not drop_quotes(words[-1]).endswith("/"):
                yield self.hit(ins)


RULE = DL3021()
