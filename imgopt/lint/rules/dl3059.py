"""DL3059: Multiple consecutive RUN instructions"""

from __future__ import annotations

from imgopt.lint.helpers import flags_key
from imgopt.lint.rule import Rule


class DL3059(Rule):
    id = "DL3059"
    severity = "info"
    origin = "hadolint"
    title = "Multiple consecutive `RUN` instructions. Consider consolidation."
    what = """Flags a RUN that directly follows another RUN with the same flags when both run a single
command.  RUNs that chain several commands are taken as deliberately separate, and so are RUNs with
a comment between them."""
    why = """Each RUN is a layer: more layers to pull (one request each) and files that a later step
deletes stay in the earlier one."""
    bad = """RUN apt-get update
RUN apt-get install -y curl"""
    good = """RUN apt-get update && apt-get install -y curl"""
    hadolint = """hadolint ignores comments here, so two RUNs are "consecutive" even with a comment
between them (hadolint#712, #713; #1138 shows how confusing that is).  A comment line between two
steps documents them as separate steps, usually kept apart on purpose for the layer cache, so here
a comment (other than a pragma) ends the sequence."""

    def check(self, ctx):
        comment_lines = {c.line for c in ctx.df.comments if not c.in_instruction and not _pragma(c.text)}
        prev = None
        for ins in ctx.instructions:
            if ins.keyword != "RUN":
                prev = None
                continue
            n = sum(1 for c in ctx.commands(ins, hadolint=True))
            if prev is not None:
                p_ins, p_n = prev
                between = any(p_ins.end_line < ln < ins.start_line for ln in comment_lines)
                if not between and flags_key(p_ins) == flags_key(ins) and n <= 1 and p_n <= 1:
                    yield self.hit(ins)
            prev = (ins, n)


def _pragma(text: str) -> bool:
    return text.startswith(("hadolint ", "imgopt "))


RULE = DL3059()
