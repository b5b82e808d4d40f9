"""DL3014: Use the -y switch to avoid manual input"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3014(Rule):
    id = "DL3014"
    severity = "warning"
    origin = "hadolint"
    title = "Use the `-y` switch to avoid manual input `apt-get -y install <package>`"
    what = """Flags `apt-get install` without `-y` / `--yes` / `--assume-yes` / `-qq` (or `-o
APT::Get::Assume-Yes=true`)."""
    why = """Without it apt asks for confirmation; in a build there is nobody to answer and the step fails
(or depends on apt's behaviour without a terminal)."""
    bad = """RUN apt-get install curl"""
    good = """RUN apt-get install -y curl"""
    hadolint = """Same as hadolint, and `-o APT::Get::Assume-Yes=true` is accepted."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for cmd in ctx.commands(ins, hadolint=True):
                if cmd.name == "apt-get" and "install" in cmd.args and not yes(cmd):
                    yield self.hit(ins)
                    break


def yes(cmd) -> bool:
    if cmd.has_flag("y", "yes", "qq", "assume-yes"):
        return True
    if cmd.count_flag("q") == 2 or cmd.count_flag("quiet") == 2 or "-q=2" in cmd.args:
        return True
    return any(a.lower().replace(" ", "") in ("apt::get::assume-yes=true", "apt::get::assume-yes=1")
               for a in cmd.args)


RULE = DL3014()
