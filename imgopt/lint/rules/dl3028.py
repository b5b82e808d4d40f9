"""DL3028: Pin versions in gem install"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3028(Rule):
    id = "DL3028"
    severity = "warning"
    origin = "hadolint"
    title = "Pin versions in gem install. Instead of `gem install <gem>` use `gem install <gem>:<version>`"
    what = """Flags `gem install` of a gem without `:version` (or a `-v`/`--version` option)."""
    why = """An unpinned gem install takes the newest release at build time."""
    bad = """RUN gem install bundler"""
    good = """RUN gem install bundler:2.5.6"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for cmd in ctx.commands(ins, hadolint=True):
                if cmd.name != "gem" or not cmd.has_args("install", "i"):
                    continue
                args = cmd.args
                if "-v" in args or "--version" in args or any(a.startswith("--version=") for a in args):
                    continue
                if "--" in args:
                    args = args[:args.index("--")]
                gems, k = [], 0
                while k < len(args):
                    a = args[k]
                    if a.startswith("-"):
                        k += 2
                        continue
                    if a not in ("install", "i"):
                        gems.append(a)
                    k += 1
                if not all(":" in g for g in gems):
                    yield self.hit(ins)
                    break


RULE = DL3028()
