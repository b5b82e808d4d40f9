"""DL3000: Use absolute WORKDIR"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes, is_windows_absolute
from imgopt.lint.rule import Rule


class DL3000(Rule):
    id = "DL3000"
    severity = "error"
    origin = "hadolint"
    title = "Use absolute WORKDIR"
    what = """Flags a WORKDIR that is a relative path."""
    why = """A relative WORKDIR is resolved against the previous one, so its meaning depends on every
WORKDIR before it, including the base image's.  An absolute path says where files go."""
    bad = """WORKDIR app"""
    good = """WORKDIR /app"""
    hadolint = """Like hadolint, a path starting with a variable is accepted; unlike hadolint, when the
variable's value is known from an ARG or ENV of this Dockerfile and is relative, it is flagged."""

    def check(self, ctx):
        for ins in ctx.of("WORKDIR"):
            path = drop_quotes(ins.args.strip())
            if not path or path.startswith("/") or is_windows_absolute(path):
                continue
            if path.startswith("$"):
                value = ctx.expand(ins, ins.args.strip())
                if value is None or value.startswith("/") or is_windows_absolute(value) or "$" in value:
                    continue
            yield self.hit(ins)


RULE = DL3000()
