"""DL3057: HEALTHCHECK instruction missing"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3057(Rule):
    id = "DL3057"
    severity = "ignore"
    origin = "hadolint"
    title = "`HEALTHCHECK` instruction missing."
    what = """Flags a stage without HEALTHCHECK (one inherited from a parent stage counts).  Off by default."""
    why = """Without a health check, an orchestrator only knows that the process runs, not that it serves."""
    bad = """FROM nginx:1.25"""
    good = """FROM nginx:1.25
HEALTHCHECK CMD curl -f http://localhost/ || exit 1"""
    hadolint = "Same as hadolint (off by default there too)."

    def check(self, ctx):
        has: dict[int, bool] = {}
        for st in ctx.stages:
            has[st.index] = any(i.keyword == "HEALTHCHECK" for i in st.instructions) or (
                st.base_stage is not None and has.get(st.base_stage, False))
        for st in ctx.stages:
            if has[st.index] or any(s.base_stage == st.index and has[s.index] for s in ctx.stages):
                continue
            yield self.hit(st.from_instruction)


RULE = DL3057()
