"""DL3038: Use the -y switch to avoid manual input dnf install -y"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3038(Rule):
    id = "DL3038"
    severity = "warning"
    origin = "hadolint"
    title = "Use the -y switch to avoid manual input `dnf install -y <package>`"
    what = """Flags dnf/microdnf install/groupinstall/localinstall without `-y` / `--assumeyes`."""
    why = """dnf asks for confirmation otherwise, and a build has nobody to answer."""
    bad = """RUN dnf install httpd"""
    good = """RUN dnf install -y httpd"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for c in ctx.commands(ins, hadolint=True):
                if c.name in ("dnf", "microdnf") and c.has_args("install", "groupinstall", "localinstall") and \
                        not c.has_flag("y", "assumeyes"):
                    yield self.hit(ins)
                    break


RULE = DL3038()
