"""DL4001: Either use Wget or Curl but not both"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL4001(Rule):
    id = "DL4001"
    severity = "warning"
    origin = "hadolint"
    title = "Either use Wget or Curl but not both"
    what = """Flags RUNs that use curl or wget once the stage has used both."""
    why = """Two download tools where one does: one more package in the image, two sets of flags to read."""
    bad = """RUN wget -q https://example.com/a
RUN curl -fsSLO https://example.com/b"""
    good = """RUN curl -fsSLO https://example.com/a && curl -fsSLO https://example.com/b"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        seen: set[str] = set()
        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                seen = set()
                continue
            if ins.keyword != "RUN":
                continue
            now = {c.name for c in ctx.commands(ins, hadolint=True) if c.name in ("curl", "wget")}
            seen |= now
            if now and len(seen) >= 2:
                yield self.hit(ins)


RULE = DL4001()
