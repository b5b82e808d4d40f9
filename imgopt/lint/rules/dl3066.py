"""DL3066: Non-numeric user-id may not be resolvable by host system"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3066(Rule):
    id = "DL3066"
    severity = "info"
    origin = "hadolint"
    title = "Non-numeric user-id may not be resolvable by host system"
    what = """Flags `USER name` (not a numeric uid, nor an ARG)."""
    why = """A user name is resolved through the image's /etc/passwd at run time; orchestrators that
enforce `runAsNonRoot` (Kubernetes) can only verify a numeric uid."""
    bad = """USER app"""
    good = """USER 10001"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        args: set[str] = set()
        for ins in ctx.instructions:
            if ins.keyword == "ARG":
                args |= {n for n, _ in ins.arg_defaults}
            elif ins.keyword == "USER":
                u = ins.args.strip()
                uid = u.split(":", 1)[0]
                if uid.isdigit() or (uid == "" and u != ""):
                    continue
                if any("${" + a + "}" in u or "$" + a in u for a in args):
                    continue
                yield self.hit(ins)


RULE = DL3066()
