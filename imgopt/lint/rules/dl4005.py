"""DL4005: Use SHELL to change the default shell"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL4005(Rule):
    id = "DL4005"
    severity = "warning"
    origin = "hadolint"
    title = "Use SHELL to change the default shell"
    what = """Flags `ln ... /bin/sh` in a RUN."""
    why = """Relinking /bin/sh changes the shell of every later RUN and of the running container behind the
reader's back; SHELL says it openly and only for the build."""
    bad = """RUN ln -sf /bin/bash /bin/sh"""
    good = """SHELL ["/bin/bash", "-c"]"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if any(c.name == "ln" and "/bin/sh" in c.args for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL4005()
