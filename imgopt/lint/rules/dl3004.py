"""DL3004: Do not use sudo"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3004(Rule):
    id = "DL3004"
    severity = "error"
    origin = "hadolint"
    title = "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root"
    what = """Flags `sudo` in a RUN."""
    why = """Build steps already run as the current USER; `sudo` needs a TTY and a sudoers setup, and its
environment handling makes steps behave differently from the same command without it.  Switch
with USER, or use gosu/su-exec at run time."""
    bad = """RUN sudo apt-get install -y curl"""
    good = """USER root
RUN apt-get install -y curl"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if any(c.name == "sudo" for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3004()
