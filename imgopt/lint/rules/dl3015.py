"""DL3015: Avoid additional packages by specifying --no-install-recommends"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3015(Rule):
    id = "DL3015"
    severity = "info"
    origin = "hadolint"
    title = "Avoid additional packages by specifying `--no-install-recommends`"
    what = """Flags `apt-get install` without `--no-install-recommends` (or
`-o APT::Install-Recommends=false`), unless an earlier RUN of the stage, or this one, writes an apt
configuration that turns recommends off."""
    why = """Recommended packages are not needed to run the software and often double an install's size
(documentation tools, X libraries...)."""
    bad = """RUN apt-get install -y python3"""
    good = """RUN apt-get install -y --no-install-recommends python3"""
    hadolint = """hadolint also flags installs after the stage disabled recommends in
/etc/apt/apt.conf.d (`APT::Install-Recommends "false";`); here that configuration is honoured."""

    def check(self, ctx):
        off_stages: set = set()
        for ins in ctx.runs(onbuild=True):
            text = ctx.script(ins).text
            if "Install-Recommends" in text and ("false" in text or '"0"' in text) and "apt.conf" in text:
                off_stages.add(ins.stage_index)
            if ins.stage_index in off_stages:
                continue
            for cmd in ctx.commands(ins, hadolint=True):
                if cmd.name == "apt-get" and "install" in cmd.args and not no_recommends(cmd):
                    yield self.hit(ins)
                    break


def no_recommends(cmd) -> bool:
    if cmd.has_flag("no-install-recommends"):
        return True
    return any(a.replace(" ", "") in ("APT::Install-Recommends=false", "APT::Install-Recommends=0")
               for a in cmd.args)


RULE = DL3015()
