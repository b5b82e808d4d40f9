"""A small process that starts the measured commands (tests only).

Linux counts a process's peak RSS from before its ``exec``: a child forked
from the test process (hundreds of MB after building the corpus) starts with
that much "peak".  This spawner is a fresh interpreter of ~10 MB; commands
forked from it are measured from there.  One JSON request per line on stdin::

    {"argv": [...], "cwd": "...", "env": {...}, "timeout": 60, "stdout": "...", "stderr": "...",
     "as_limit": 6442450944}

answered by one JSON line on stdout: ``{"rc": 0 | null (timed out), "seconds": .., "rss_mb": .., "pid": ..}``.
``rss_mb`` is the peak of the command and of everything it waited for (``wait4``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time


def serve() -> None:
    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: own session (killable as a group), files for output
            try:
                os.setsid()
                os.chdir(req["cwd"])
                if req.get("as_limit"):
                    resource.setrlimit(resource.RLIMIT_AS, (req["as_limit"], req["as_limit"]))
                fd_in = os.open(os.devnull, os.O_RDONLY)
                fd_out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                fd_err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                for a, b in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
                    os.dup2(a, b)
                os.execve(req["argv"][0], req["argv"], req["env"])
            finally:
                os._exit(127)
        rc = None
        rusage = None
        deadline = t0 + float(req.get("timeout", 600))
        while True:
            got, status, rusage = os.wait4(pid, os.WNOHANG)
            if got:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, rusage = os.wait4(pid, 0)
                break
            time.sleep(0.02)
        try:  # whatever the command left running in its session goes too
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        out = {"rc": rc, "seconds": time.monotonic() - t0, "rss_mb": rusage.ru_maxrss / 1024 if rusage else 0.0,
               "pid": pid}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
