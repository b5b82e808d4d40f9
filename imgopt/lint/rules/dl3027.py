"""DL3027: Do not use apt"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3027(Rule):
    id = "DL3027"
    severity = "warning"
    origin = "hadolint"
    title = "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead"
    what = """Flags `apt` in a RUN."""
    why = """`apt`'s command-line interface is not stable for scripts (it warns so itself); apt-get and
apt-cache are."""
    bad = """RUN apt install -y curl"""
    good = """RUN apt-get install -y curl"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if any(c.name == "apt" for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3027()
