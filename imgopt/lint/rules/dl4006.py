"""DL4006: Set the SHELL option -o pipefail before RUN with a pipe in it"""

from __future__ import annotations

from imgopt.lint.rule import Rule


PIPEFAIL_SHELLS = ("/bin/bash", "/bin/zsh", "/bin/ash", "bash", "zsh", "ash")


def sets_pipefail(cmd) -> bool:
    return cmd.has_flag("o") and "pipefail" in cmd.args


class DL4006(Rule):
    id = "DL4006"
    severity = "warning"
    origin = "hadolint"
    title = ("Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an "
             "alpine image or if your shell is symlinked to busybox then consider explicitly setting your "
             "SHELL to /bin/ash, or disable this check")
    what = """Flags a RUN with a pipe when the stage's SHELL does not set `-o pipefail` and the script
does not run `set -o pipefail` before its first pipe."""
    why = """A pipeline's status is its last command's: `curl URL | tar -x` succeeds when the download
fails, and the build goes on with a broken layer."""
    bad = """RUN curl -fsSL https://example.com/x.tgz | tar -xz"""
    good = """SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.com/x.tgz | tar -xz"""
    hadolint = """hadolint also flags scripts that set `set -o pipefail` (or `set -euo pipefail`) themselves
before the pipe (a common hadolint complaint); those are fine here.  Pipes inside `sh -c '...'`
are not counted (the SHELL option would not reach them)."""

    def check(self, ctx):
        ok = False
        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                ok = False
            elif ins.keyword == "SHELL":
                words = ins.exec_form if ins.exec_form is not None else ins.args.split()
                text = " ".join(words)
                if text.startswith(("pwsh", "powershell", "cmd")):
                    ok = True
                else:
                    ok = bool(words) and words[0] in PIPEFAIL_SHELLS and "pipefail" in words and any(
                        w.startswith("-") and not w.startswith("--") and "o" in w for w in words)
            elif ins.keyword == "RUN" and not ok:
                if self._unsafe_pipe(ctx, ins):
                    yield self.hit(ins)

    @staticmethod
    def _unsafe_pipe(ctx, ins) -> bool:
        cmds = ctx.commands(ins, hadolint=True)
        piped = [c for c in cmds if c.op in ("|", "|&")]
        if not piped:
            return False
        first_pipe = min(c.start for c in piped)
        for c in cmds:
            if c.start >= first_pipe:
                break
            if c.name == "set" and sets_pipefail(c):
                return False
        return True


RULE = DL4006()
