"""DL3062: Pin versions in go"""

from __future__ import annotations

from imgopt.lint.rule import Rule


def local(p: str) -> bool:
    return p == "." or p.startswith(("/", "."))


def pinned(p: str) -> bool:
    return local(p) or ("@" in p and not p.endswith(("@latest", "@none")))


class DL3062(Rule):
    id = "DL3062"
    severity = "warning"
    origin = "hadolint"
    title = "Pin versions in go. Instead of `go install <package>` use `go install <package>@<version>`"
    what = """Flags `go install` / `go get` / `go run` of a remote package without `@version` (or with
`@latest`/`@none`); local paths are fine."""
    why = """Without a version, go resolves the newest release at build time."""
    bad = """RUN go install github.com/go-delve/delve/cmd/dlv@latest"""
    good = """RUN go install github.com/go-delve/delve/cmd/dlv@v1.22.1"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            cmds = [c for c in ctx.commands(ins, hadolint=True) if c.name == "go"]
            runs = []
            for c in cmds:
                if "run" in c.args:
                    a = c.args_no_flags()
                    runs.extend(x for k, x in enumerate(a) if x != "run" and k <= 1)
            pkgs = runs or [x for c in cmds if c.has_args("install", "get")
                            for x in c.args_no_flags() if x not in ("install", "get", "tool")]
            if not all(pinned(p) for p in pkgs):
                yield self.hit(ins)


RULE = DL3062()
