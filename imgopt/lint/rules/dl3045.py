"""DL3045: COPY to a relative destination without WORKDIR set"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes, is_windows_absolute
from imgopt.lint.rule import Rule


class DL3045(Rule):
    id = "DL3045"
    severity = "warning"
    origin = "hadolint"
    title = "`COPY` to a relative destination without `WORKDIR` set."
    what = """Flags a COPY to a relative destination in a stage (or its parent stages) without WORKDIR."""
    why = """The destination is then relative to the base image's working directory, which the Dockerfile
does not show and which changes when the base does."""
    bad = """FROM node:20
COPY package.json ."""
    good = """FROM node:20
WORKDIR /app
COPY package.json ."""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        has_wd: dict[int, bool] = {}
        for st in ctx.stages:
            has_wd[st.index] = has_wd.get(st.base_stage, False) if st.base_stage is not None else False
            for ins in st.instructions:
                if ins.keyword == "WORKDIR":
                    has_wd[st.index] = True
                elif ins.keyword == "COPY" and not has_wd[st.index]:
                    words = ins.words
                    if not words:
                        continue
                    dest = drop_quotes(words[-1])
                    if dest.startswith(("/", "$")) or is_windows_absolute(dest):
                        continue
                    yield self.hit(ins)


RULE = DL3045()
