"""DL3032: yum clean all missing after yum command"""

from __future__ import annotations

from imgopt.lint.helpers import clean_after
from imgopt.lint.rule import Rule


def installs(c) -> bool:
    return c.name == "yum" and "install" in c.args


def cleans(c) -> bool:
    # hadolint's test: yum with "clean" or "all", or rm with "-rf" or "/var/cache/yum/*"
    return (c.name == "yum" and c.has_args("clean", "all")) or (c.name == "rm" and c.has_args("-rf", "/var/cache/yum/*"))


class DL3032(Rule):
    id = "DL3032"
    severity = "warning"
    origin = "hadolint"
    title = "`yum clean all` missing after yum command."
    what = """Flags a RUN with `yum install` and no `yum clean all` (or `rm -rf /var/cache/yum/*`) after it."""
    why = """yum keeps downloaded packages and metadata in /var/cache/yum; left in the layer they are
pulled with every image."""
    bad = """RUN yum install -y httpd"""
    good = """RUN yum install -y httpd && yum clean all"""
    hadolint = """Same as hadolint, including its loose test for the clean-up; imgopt's IMG104 checks it."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            cmds = ctx.commands(ins, hadolint=True)
            if any(installs(c) for c in cmds) and not clean_after(cmds, installs, cleans):
                yield self.hit(ins)


RULE = DL3032()
