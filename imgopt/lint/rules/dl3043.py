"""DL3043: ONBUILD, FROM or MAINTAINER triggered from within ONBUILD instruction"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3043(Rule):
    id = "DL3043"
    severity = "error"
    origin = "hadolint"
    title = "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` instruction."
    what = """Flags `ONBUILD ONBUILD`, `ONBUILD FROM` and `ONBUILD MAINTAINER`."""
    why = """The Dockerfile reference forbids them; the child build fails when the trigger fires."""
    bad = """ONBUILD FROM debian:12"""
    good = """ONBUILD COPY . /app"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("ONBUILD"):
            if ins.trigger is not None and ins.trigger.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                yield self.hit(ins)


RULE = DL3043()
