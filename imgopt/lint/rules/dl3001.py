"""DL3001: Commands that make no sense in a container"""

from __future__ import annotations

from imgopt.lint.rule import Rule


INVALID = frozenset({"free", "kill", "mount", "ps", "service", "shutdown", "ssh", "top", "vim"})


class DL3001(Rule):
    id = "DL3001"
    severity = "info"
    origin = "hadolint"
    title = ("For some bash commands it makes no sense running them in a Docker container like `ssh`, "
             "`vim`, `shutdown`, `service`, `ps`, `free`, `top`, `kill`, `mount`, `ifconfig`")
    what = """Flags RUN commands that are interactive or manage a running system: ssh, vim, shutdown,
service, ps, free, top, kill, mount."""
    why = """A build step runs once, without a terminal or an init system; these commands either hang,
do nothing useful, or show that the image is being treated like a virtual machine."""
    bad = """RUN service nginx start"""
    good = """CMD ["nginx", "-g", "daemon off;"]"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            if any(c.name in INVALID for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3001()
