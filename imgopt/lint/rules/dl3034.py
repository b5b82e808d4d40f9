"""DL3034: Non-interactive switch missing from zypper command"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3034(Rule):
    id = "DL3034"
    severity = "warning"
    origin = "hadolint"
    title = "Non-interactive switch missing from `zypper` command: `zypper install -y`"
    what = """Flags zypper install/remove/source-install/patch without `-n`/`--non-interactive`/`-y`."""
    why = """zypper asks for confirmation otherwise, and a build has nobody to answer."""
    bad = """RUN zypper install nginx"""
    good = """RUN zypper install -y nginx"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for c in ctx.commands(ins, hadolint=True):
                if c.name == "zypper" and c.has_args("install", "in", "remove", "rm", "source-install", "si", "patch") \
                        and not c.has_flag("non-interactive", "n", "no-confirm", "y"):
                    yield self.hit(ins)
                    break


RULE = DL3034()
