"""DL3060: yarn cache clean missing after yarn install was run"""

from __future__ import annotations

from imgopt.lint.helpers import first_index, has_cache_mount, reported_stage
from imgopt.lint.rule import Rule


class DL3060(Rule):
    id = "DL3060"
    severity = "info"
    origin = "hadolint"
    title = "`yarn cache clean` missing after `yarn install` was run."
    what = """Flags a RUN with `yarn install` and no `yarn cache clean` after it (a cache mount of
`.cache/yarn` is fine too), in a stage that ends up in the image."""
    why = """yarn keeps every downloaded package in its cache; in the layer that duplicates node_modules."""
    bad = """RUN yarn install --frozen-lockfile"""
    good = """RUN yarn install --frozen-lockfile && yarn cache clean"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            cmds = ctx.commands(ins, hadolint=True)
            inst = first_index(cmds, lambda c: c.name == "yarn" and "install" in c.args)
            if inst is None:
                continue
            clean = first_index(cmds, lambda c: c.name == "yarn" and c.has_args("cache") and c.has_args("clean"))
            if clean is None:
                if has_cache_mount(ins, ".cache/yarn"):
                    continue
            elif clean > inst:
                continue
            if ins.trigger is None and not reported_stage(ctx, ins):
                continue
            yield self.hit(ins)


RULE = DL3060()
