"""What one traced run does, whichever backend runs it.

:class:`Session` holds the run's notes and output and sets up the strace
bundle and the exec probes' logs; :func:`settle` keeps tracing after ready
until the app is quiet; :func:`read_logs` feeds the logs to the recorder.
A backend (:mod:`imgopt.trace.backends`) subclasses Session for its sandbox.
"""

from __future__ import annotations

import os
import time

from imgopt.trace.bundle import MOUNT
from imgopt.trace.options import TraceOptions
from imgopt.trace.probes import Probe
from imgopt.trace.recorder import Recorded, Recorder
from imgopt.trace.rootfs import RootFS
from imgopt.trace.runspec import RunSpec


class Session:
    """What both backends' runs share: the run's notes and output, the exec probes' strace logs,
    and the strace bundle in the scratch directory."""

    def __init__(self, run: RunSpec, probes: list[Probe], opts: TraceOptions, scratch: str):
        self.run_spec, self.probes, self.opts, self.scratch = run, probes, opts, scratch
        self.notes: list[str] = []
        self.output = ""
        self.t_start = 0.0
        self.mapped: set[str] = set()
        self._exec_logs: list[str] = []
        self.sandbox: dict = {}  # the protections in effect (AccessProfile.sandbox)
        self.limit = ""  # which resource limit stopped the app ('' when none did)
        self.dirs = None  # imgopt.trace.served.DirCollector, once the probes ran

    def _exec_log(self, i: int) -> str | None:
        """Where exec probe ``i``'s strace log goes (inside the sandbox), None when not tracing."""
        if self.opts.tracer != "strace":
            return None
        name = f"probe-{i}-{len(self._exec_logs)}.log"
        self._exec_logs.append(name)
        return f"{MOUNT}/out/{name}"

    def _strace(self) -> tuple[list[str] | None, str | None]:
        """(tracer argv, bundle directory) for ``--tracer strace``, else (None, None)."""
        if self.opts.tracer != "strace":
            return None, None
        from imgopt.trace.bundle import make_bundle, tracer_argv
        from imgopt.trace.strace_log import strace_options

        bundle = os.path.join(self.scratch, "bundle")
        return tracer_argv(make_bundle(bundle), strace_options(self.opts.trace_reads, self.opts.trace_reads)), bundle


def read_logs(rec: Recorded, fs: RootFS, workdir: str, out: str, exec_logs: list[str], mapped: set[str],
              notes: list[str], trace_reads: bool, observer=None) -> None:
    """Feed the main strace log, the exec probes' logs and the end-of-run mappings into ``rec``."""
    from imgopt.trace.strace_log import parse

    main = os.path.join(out, "trace.log")
    if not os.path.exists(main):
        notes.append("the tracer wrote no log (it failed to start; see the output)")
        return
    recorder = Recorder(fs, cwd=workdir, rec=rec, observer=observer)
    with open(main, errors="surrogateescape") as f:
        recorder.feed(parse(f))
    for name in exec_logs:
        p = os.path.join(out, name)
        if os.path.exists(p):
            with open(p, errors="surrogateescape") as f:
                Recorder(fs, cwd=workdir, by_probe=True, rec=rec).feed(parse(f))
    last = max((f.first for f in rec.files.values()), default=rec.t0 or 0.0)
    for path in sorted(mapped):
        recorder.add(path, "mmap", last, follow=False)
    if not trace_reads:
        notes.append("read()/mmap() not traced (use --reads): bytes_read unknown; mmap kinds from the "
                     "mappings left at the end of the run")


def settle(opts: TraceOptions, limit: float, log: str, exited) -> float:
    """After ready: keep tracing until the app's file activity stops; returns the seconds waited.

    Apps go on loading things right after they answer (a server's master
    importing modules while its workers serve): stopping at the first
    success would miss them.  "Quiet" = the trace log grew by less than a
    heartbeat's worth (512 bytes) in each 0.25 s tick for ``opts.settle``
    seconds; at most ``opts.settle_max`` seconds, never past the wall-clock
    limit, not at all once the entrypoint has exited.  Untraced runs just
    wait ``opts.settle``.
    """
    if opts.settle <= 0:
        return 0.0
    start = time.time()
    end = min(start + max(opts.settle, opts.settle_max), limit)
    quiet_since = start
    last = _size(log)
    while time.time() < end and exited() is None:
        time.sleep(0.25)
        now, size = time.time(), _size(log)
        if size is None or size - (last or 0) >= 512:
            quiet_since = now if size is not None else quiet_since
        last = size
        if now - quiet_since >= opts.settle:
            break
    return time.time() - start


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


__all__ = ["Session", "read_logs", "settle"]
