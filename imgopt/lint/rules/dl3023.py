"""DL3023: COPY --from cannot reference its own FROM alias"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3023(Rule):
    id = "DL3023"
    severity = "error"
    origin = "hadolint"
    title = "`COPY --from` cannot reference its own `FROM` alias"
    what = """Flags `COPY --from=NAME` inside the stage named NAME."""
    why = """A stage cannot copy from itself; BuildKit reports a cycle."""
    bad = """FROM debian:12 AS app
COPY --from=app /a /b"""
    good = """COPY --from=build /a /b"""
    hadolint = "Same as hadolint (names compared without case, as BuildKit does)."

    def check(self, ctx):
        for ins in ctx.of("COPY"):
            src = ins.flag("from")
            st = ctx.stage(ins)
            if src is not None and st is not None and st.name and src.lower() == st.name:
                yield self.hit(ins)


RULE = DL3023()
