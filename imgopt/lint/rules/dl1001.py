"""DL1001: Please refrain from using inline ignore pragmas"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class DL1001(Rule):
    id = "DL1001"
    severity = "ignore"
    origin = "hadolint"
    title = "Please refrain from using inline ignore pragmas `# hadolint ignore=DLxxxx`."
    what = """Reports every inline ignore pragma (`# hadolint ignore=...`, `# imgopt ignore=...`).
Off by default; teams that want all exceptions in the configuration file turn it on
(`--warning DL1001`)."""
    why = """Pragmas scattered through Dockerfiles are easy to forget; a central ignore list is easier to review."""
    bad = """# hadolint ignore=DL3008
RUN apt-get install -y curl"""
    good = """RUN apt-get install -y curl=7.88.1-10+deb12u5"""
    hadolint = "Same as hadolint; imgopt's own `# imgopt ignore=` spelling is reported too."

    def check(self, ctx):
        from imgopt.lint.pragmas import ignore_comments

        for c in ignore_comments(ctx.df):
            if " global " in f" {c.text} " or " stage " in f" {c.text} ":
                continue
            yield Hit(c.line)


RULE = DL1001()
