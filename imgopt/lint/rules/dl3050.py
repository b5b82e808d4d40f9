"""DL3050: Superfluous label(s) present"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3050(Rule):
    id = "DL3050"
    severity = "info"
    origin = "hadolint"
    title = "Superfluous label(s) present."
    config = ("label-schema", "strict-labels")
    what = """With `strict-labels`, flags a LABEL with a key that is not in the label schema."""
    why = """A strict schema keeps label sets uniform across a fleet of images."""
    bad = """# strict-labels: true, label-schema: {version: semver}
LABEL version=1.0.0 team=web"""
    good = """LABEL version=1.0.0"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        if not ctx.config.strict_labels:
            return
        schema = ctx.config.label_schema
        for ins in ctx.of("LABEL"):
            if any(k not in schema for k, _ in ins.pairs):
                yield self.hit(ins)


RULE = DL3050()
