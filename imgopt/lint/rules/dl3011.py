"""DL3011: Valid UNIX ports range from 0 to 65535"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3011(Rule):
    id = "DL3011"
    severity = "error"
    origin = "hadolint"
    title = "Valid UNIX ports range from 0 to 65535"
    what = """Flags an EXPOSE of a port (or port range) above 65535."""
    why = """Such a port cannot exist; the build or `docker run -P` fails on it."""
    bad = """EXPOSE 80800"""
    good = """EXPOSE 8080"""
    hadolint = "Same as hadolint; ports given by a known ARG/ENV value are checked too."

    def check(self, ctx):
        for ins in ctx.of("EXPOSE"):
            for word in ins.raw_words:
                value = ctx.expand(ins, word) if "$" in word else word
                if not value:
                    continue
                for port in value.split():
                    nums = port.split("/", 1)[0].split("-")
                    if any(n.isdigit() and int(n) > 65535 for n in nums):
                        yield self.hit(ins)
                        break
                else:
                    continue
                break


RULE = DL3011()
