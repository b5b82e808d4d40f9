"""DL3022: COPY --from should reference a previously defined FROM alias"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes
from imgopt.lint.rule import Rule


class DL3022(Rule):
    id = "DL3022"
    severity = "warning"
    origin = "hadolint"
    title = "`COPY --from` should reference a previously defined `FROM` alias"
    what = """Flags `COPY --from=NAME` where NAME is neither an earlier stage (by name or number) nor an
image reference."""
    why = """A misspelt stage name is taken for an image on Docker Hub: the build pulls something
unexpected or fails late."""
    bad = """FROM golang:1.22 AS build
FROM alpine:3.19
COPY --from=biuld /app /app"""
    good = """FROM golang:1.22 AS build
FROM alpine:3.19
COPY --from=build /app /app"""
    hadolint = """Stage names are compared without case, as BuildKit does (hadolint flags `AS Build` +
`--from=build`), and a value with `/` (an image such as `--from=docker/buildx-bin`, which cannot
be a stage name) is not flagged; values with ARGs are expanded first."""

    def check(self, ctx):
        names: set[str] = set()
        count = 0
        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                st = ctx.stage(ins)
                if st is not None and st.name:
                    names.add(st.name)
                count += 1
                continue
            if ins.keyword != "COPY":
                continue
            src = ins.flag("from")
            if src is None:
                continue
            value = ctx.expand(ins, src) if "$" in src else src
            if value is None or "$" in value:
                continue
            value = drop_quotes(value)
            if ":" in value or "/" in value or "@" in value or value.lower() in names:
                continue
            if value.isdigit() and int(value) < count:
                continue
            yield self.hit(ins)


RULE = DL3022()
