"""DL4003: Multiple CMD instructions found"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL4003(Rule):
    id = "DL4003"
    severity = "warning"
    origin = "hadolint"
    title = ("Multiple `CMD` instructions found. If you list more than one `CMD` then only the last `CMD` "
             "will take effect")
    what = """Flags a second (third...) CMD in one stage."""
    why = """Only the last CMD counts; the others mislead."""
    bad = """CMD ["a"]
CMD ["b"]"""
    good = """CMD ["b"]"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        seen: set = set()
        for ins in ctx.of("CMD"):
            if ins.stage_index in seen:
                yield self.hit(ins)
            seen.add(ins.stage_index)


RULE = DL4003()
