"""DL3047: Avoid use of wget without progress bar"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3047(Rule):
    id = "DL3047"
    severity = "info"
    origin = "hadolint"
    title = ("Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. "
             "Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`).")
    what = """Flags wget without `--progress`, `-q`, `-nv`, `-o`/`-a` (log to a file)."""
    why = """wget's default progress bar writes a line per few kilobytes into the build log, which can
grow to megabytes for one download."""
    bad = """RUN wget https://example.com/big.tar.gz"""
    good = """RUN wget -q https://example.com/big.tar.gz"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for c in ctx.commands(ins, hadolint=True):
                if c.name != "wget" or c.has_flag("progress"):
                    continue
                if c.has_flag("q", "quiet", "o", "output-file", "a", "append-output", "no-verbose") or "-nv" in c.args:
                    continue
                yield self.hit(ins)
                break


RULE = DL3047()
