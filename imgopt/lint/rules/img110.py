"""IMG110: Shell-form ENTRYPOINT or CMD in the image"""

from __future__ import annotations

from imgopt.dockerfile.shell import parse_shell
from imgopt.lint.rule import Rule


class IMG110(Rule):
    id = "IMG110"
    severity = "info"
    title = "Shell-form ENTRYPOINT/CMD: the image needs a shell, and the app does not get SIGTERM"
    what = """Flags the ENTRYPOINT (or, without one, the CMD) the image starts with when it is in shell form
(`CMD node server.js`), in the last stage or inherited from the stages it is built FROM."""
    why = """Shell form runs `/bin/sh -c "..."`: the shell is PID 1, so `docker stop` (and Kubernetes)
send SIGTERM to the shell, not to the app, and the container is killed after the grace period (10 s by
default) instead of shutting down cleanly; and the image cannot drop its shell (distroless, scratch,
`imgopt slim`).  `exec` in front of the command fixes the signals but still needs the shell."""
    bad = """CMD gunicorn -b 0.0.0.0:8000 app:app"""
    good = """CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]"""

    def check(self, ctx):
        if not ctx.stages:
            return
        entry = cmd = None
        for st in ctx.df.stage_chain(ctx.stages[-1]):
            for ins in st.instructions:
                if ins.keyword == "ENTRYPOINT":
                    entry, cmd = ins, None  # ENTRYPOINT resets the inherited CMD
                elif ins.keyword == "CMD":
                    cmd = ins
        start = entry if entry is not None else cmd
        if start is None or start.exec_form is not None or not start.args.strip():
            return
        if any(c.name == "exec" for c in parse_shell(start.args).commands):
            yield self.hit(start, f"shell-form {start.keyword} needs /bin/sh in the image (exec form drops it)")
            return
        yield self.hit(start, f"shell-form {start.keyword}: /bin/sh is PID 1, SIGTERM does not reach the app (stop "
                              "waits out the grace period, 10 s by default) and the image needs a shell; use exec form",
                       "~10 s per container stop")


RULE = IMG110()
