"""DL3012: Multiple HEALTHCHECK instructions"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3012(Rule):
    id = "DL3012"
    severity = "error"
    origin = "hadolint"
    title = "Multiple `HEALTHCHECK` instructions"
    what = """Flags a second (third...) HEALTHCHECK in one stage."""
    why = """Only the last HEALTHCHECK takes effect; the others are dead code that misleads readers."""
    bad = """HEALTHCHECK CMD curl -f http://localhost/
HEALTHCHECK CMD wget -q -O- http://localhost/"""
    good = """HEALTHCHECK CMD curl -f http://localhost/"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        seen: set = set()
        for ins in ctx.of("HEALTHCHECK"):
            if ins.stage_index in seen:
                yield self.hit(ins)
            seen.add(ins.stage_index)


RULE = DL3012()
