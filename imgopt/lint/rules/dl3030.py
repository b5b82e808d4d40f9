"""DL3030: Use the -y switch to avoid manual input yum install -y"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3030(Rule):
    id = "DL3030"
    severity = "warning"
    origin = "hadolint"
    title = "Use the -y switch to avoid manual input `yum install -y <package>`"
    what = """Flags `yum install` / `groupinstall` / `localinstall` without `-y` / `--assumeyes`."""
    why = """yum asks for confirmation otherwise, and a build has nobody to answer."""
    bad = """RUN yum install httpd"""
    good = """RUN yum install -y httpd"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for cmd in ctx.commands(ins, hadolint=True):
                if cmd.name == "yum" and cmd.has_args("install", "groupinstall", "localinstall") and \
                        not cmd.has_flag("y", "assumeyes"):
                    yield self.hit(ins)
                    break


RULE = DL3030()
