"""DL3049: Label is missing"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3049(Rule):
    id = "DL3049"
    severity = "info"
    origin = "hadolint"
    title = "Label `<label>` is missing."
    config = ("label-schema",)
    what = """With a label schema configured (`label-schema`, `--require-label`), flags a stage that lacks
a required label.  A stage built FROM a stage that has it inherits it; a stage used only as a
`COPY --from` source needs none."""
    why = """Required labels (owner, source, version...) are how registries and scanners find out what an
image is."""
    bad = """# label-schema: {org.opencontainers.image.source: url}
FROM debian:12"""
    good = """FROM debian:12
LABEL org.opencontainers.image.source=https://github.com/example/app"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        schema = ctx.config.label_schema
        if not schema:
            return
        copied = {(ins.flag("from") or "").lower() for ins in ctx.of("COPY") if ins.flag("from")}
        for label in schema:
            has: dict[int, bool] = {}
            for st in ctx.stages:
                own = any(ins.keyword == "LABEL" and label in [k for k, _ in ins.pairs] for ins in st.instructions)
                has[st.index] = own or (st.base_stage is not None and has.get(st.base_stage, False))
            for st in ctx.stages:
                if has[st.index] or (st.name and st.name in copied):
                    continue
                if any(s.base_stage == st.index and has[s.index] for s in ctx.stages):
                    continue
                yield self.hit(st.from_instruction, f"Label `{label}` is missing.")


RULE = DL3049()
