"""DL3003: Use WORKDIR to switch to a directory"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3003(Rule):
    id = "DL3003"
    severity = "warning"
    origin = "hadolint"
    title = "Use WORKDIR to switch to a directory"
    what = """Flags `cd` in a RUN."""
    why = """A `cd` lasts for one RUN only; WORKDIR sets the directory for every following instruction and
documents where the build works."""
    bad = """RUN cd /usr/src/app && git clone https://example.com/app.git ."""
    good = """WORKDIR /usr/src/app
RUN git clone https://example.com/app.git ."""
    hadolint = """Same as hadolint (a `cd` inside `sh -c '...'` is not flagged either)."""

    def check(self, ctx):
        for ins in ctx.of("RUN"):
            if any(c.name == "cd" for c in ctx.commands(ins, hadolint=True)):
                yield self.hit(ins)


RULE = DL3003()
