"""IMG008: An exec-form array that is not valid JSON runs as a shell command"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class IMG008(Rule):
    id = "IMG008"
    severity = "warning"
    title = "Looks like exec form, but is not valid JSON: it runs as a shell command"
    what = """Flags RUN/CMD/ENTRYPOINT/SHELL/COPY/ADD/VOLUME arguments that start with `[` and end with `]`
but are not a JSON array of strings (single quotes, missing commas, a trailing comma)."""
    why = """BuildKit then takes the text as shell form: `CMD ['node', 'app.js']` runs
`/bin/sh -c "['node', 'app.js']"`, which fails at container start, not at build time."""
    bad = """CMD ['node', 'server.js']"""
    good = """CMD ["node", "server.js"]"""

    def check(self, ctx):
        for ins in ctx.of("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"):
            a = ins.args.strip()
            if ins.exec_form is None and a.startswith("[") and a.endswith("]") and not ins.heredocs:
                yield self.hit(ins)


RULE = IMG008()
