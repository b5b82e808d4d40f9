"""DL3044: Do not refer to an environment variable within the same ENV statement"""

from __future__ import annotations

from imgopt.lint.rule import Rule


_VAR_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def references(var: str, text: str) -> bool:
    text = text.replace("\\$", "")  # an escaped dollar is literal (hadolint#1062)
    if "${" + var + "}" in text or "${" + var + ":" in text:
        return True
    token = "$" + var
    parts = text.split(token)
    return len(parts) > 1 and any(not p or p[0] not in _VAR_CHARS for p in parts[1:])


class DL3044(Rule):
    id = "DL3044"
    severity = "error"
    origin = "hadolint"
    title = "Do not refer to an environment variable within the same `ENV` statement where it is defined."
    what = """Flags `ENV A=1 B=$A` where A is defined by this same ENV and not before (by an earlier ARG or
ENV)."""
    why = """All values of one ENV are expanded before any of them is set, so `$A` is the old value (usually
empty), not the one on the left."""
    bad = """ENV APP=/app PATH=$APP/bin:$PATH"""
    good = """ENV APP=/app
ENV PATH=$APP/bin:$PATH"""
    hadolint = """Same as hadolint, except that an escaped `\\$VAR` (left for the entrypoint to expand)
is not a reference (hadolint flags it, hadolint#1062), and `${VAR:-default}` is one."""

    def check(self, ctx):
        defined: set[str] = set()
        for ins in ctx.instructions:
            if ins.keyword == "ARG":
                defined |= {n for n, _ in ins.arg_defaults}
            elif ins.keyword == "ENV":
                pairs = ins.raw_pairs
                bad = False
                for i, (var, _) in enumerate(pairs):
                    if var in defined:
                        continue
                    if any(references(var, v) for j, (_, v) in enumerate(pairs) if j != i):
                        bad = True
                defined |= {n for n, _ in pairs}
                if bad:
                    yield self.hit(ins)


RULE = DL3044()
