"""DL3035: Do not use zypper dist-upgrade"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3035(Rule):
    id = "DL3035"
    severity = "warning"
    origin = "hadolint"
    title = "Do not use `zypper dist-upgrade`."
    what = """Flags `zypper dist-upgrade` / `zypper dup`."""
    why = """A distribution upgrade inside a build changes the base image's release under it; use a newer
base image instead."""
    bad = """RUN zypper dup -y"""
    good = """FROM opensuse/leap:15.6"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if any(c.name == "zypper" and c.has_args("dist-upgrade", "dup") for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3035()
