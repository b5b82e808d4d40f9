"""DL4004: Multiple ENTRYPOINT instructions found"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL4004(Rule):
    id = "DL4004"
    severity = "error"
    origin = "hadolint"
    title = ("Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then only the "
             "last `ENTRYPOINT` will take effect")
    what = """Flags a second (third...) ENTRYPOINT in one stage."""
    why = """Only the last ENTRYPOINT counts; the others mislead."""
    bad = """ENTRYPOINT ["a"]
ENTRYPOINT ["b"]"""
    good = """ENTRYPOINT ["b"]"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        seen: set = set()
        for ins in ctx.of("ENTRYPOINT"):
            if ins.stage_index in seen:
                yield self.hit(ins)
            seen.add(ins.stage_index)


RULE = DL4004()
