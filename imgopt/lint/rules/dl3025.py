"""DL3025: Use arguments JSON notation for CMD and ENTRYPOINT arguments"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3025(Rule):
    id = "DL3025"
    severity = "warning"
    origin = "hadolint"
    title = "Use arguments JSON notation for CMD and ENTRYPOINT arguments"
    what = """Flags CMD, ENTRYPOINT and HEALTHCHECK CMD in shell form."""
    why = """Shell form runs the command under `/bin/sh -c`: the process is not PID 1, does not get SIGTERM
on `docker stop`, and the image needs a shell."""
    bad = """CMD node server.js"""
    good = """CMD ["node", "server.js"]"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.of("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            if ins.keyword == "HEALTHCHECK":
                words = ins.args.split(None, 1)
                if not words or words[0].upper() == "NONE":
                    continue
                rest = _after_cmd(ins.args)
                if rest is not None and not rest.lstrip().startswith("["):
                    yield self.hit(ins)
                continue
            if ins.exec_form is None and ins.args.strip():
                yield self.hit(ins)


def _after_cmd(args: str) -> str | None:
    words = args.split()
    for i, w in enumerate(words):
        if w.upper() == "CMD":
            return " ".join(words[i + 1:])
    return None


RULE = DL3025()
