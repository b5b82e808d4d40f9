"""DL3020: Use COPY instead of ADD for files and folders"""

from __future__ import annotations

from imgopt.lint.helpers import drop_quotes, is_archive, is_url
from imgopt.lint.rule import Rule


class DL3020(Rule):
    id = "DL3020"
    severity = "error"
    origin = "hadolint"
    title = "Use COPY instead of ADD for files and folders"
    what = """Flags ADD of local files or directories (ADD is for URLs and for extracting local archives)."""
    why = """ADD's extra behaviours (downloading, unpacking) surprise readers; COPY does only what it says."""
    bad = """ADD requirements.txt /app/"""
    good = """COPY requirements.txt /app/"""
    hadolint = """Sources written with variables are checked with their values: `ARG URL=https://...` +
`ADD ${URL} /tmp/` is not flagged here (hadolint flags it, hadolint#769)."""

    def check(self, ctx):
        for ins in ctx.of("ADD"):
            if ins.heredocs:
                continue
            words = ins.words if ins.exec_form is not None else [w for w in ins.raw_words]
            if len(words) < 2:
                continue
            for src in words[:-1]:
                value = src
                if "$" in src and ins.exec_form is None:
                    value = ctx.expand(ins, src)
                    if value is None:
                        value = src
                elif ins.exec_form is None:
                    value = drop_quotes(src)
                if not (is_archive(value) or is_url(value) or value.startswith("git@")):
                    yield self.hit(ins)
                    break


RULE = DL3020()
