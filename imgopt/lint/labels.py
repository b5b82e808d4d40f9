"""The shared shape of the label-schema rules (DL3051-DL3058): a label type and a value test."""

from __future__ import annotations

from imgopt.lint.rule import Rule


class LabelRule(Rule):
    """Checks the values of the schema's labels of one type (``label_type``; None: every label)."""

    origin = "hadolint"
    label_type: str | None = None
    config = ("label-schema",)
    hadolint = "Same as hadolint."

    def bad_value(self, v: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, ctx):
        wanted = [n for n, t in ctx.config.label_schema.items() if self.label_type is None or t == self.label_type]
        if not wanted:
            return
        for ins in ctx.of("LABEL"):
            for k, v in ins.pairs:
                if k in wanted and self.bad_value(v):
                    yield self.hit(ins, self.title.replace("<label>", k))
                    break


__all__ = ["LabelRule"]
