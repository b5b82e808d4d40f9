"""What a trace run can be asked to do: :class:`TraceOptions` (``imgopt trace``'s flags, for the library)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from imgopt.errors import BadInput
from imgopt.trace.backends import BACKENDS as _BACKENDS
from imgopt.trace.runspec import Overrides

BACKENDS = ("auto", *_BACKENDS)  # what --backend accepts (auto: see imgopt.trace.backends.choose)
TRACERS = ("strace", "fanotify", "none")


@dataclass
class TraceOptions:
    backend: str = "auto"  # auto (docker when an engine answers and can be probed, else native) | native | docker
    tracer: str = "strace"  # strace | fanotify (native, root, measurement only) | none (untraced baseline)
    network: str = "none"  # none: own loopback only | host (asked for explicitly)
    timeout: float = 300.0  # wall-clock limit for the whole run, seconds
    settle: float = 1.0  # after ready, keep tracing until the trace log is quiet this long (0: stop at ready)
    settle_max: float = 15.0  # ... but no longer than this
    grace: float = 0.0  # SIGTERM and wait this long before killing everything
    trace_reads: bool = False  # also trace read()/mmap(): bytes_read, every mapping (costs ready time)
    overlay: bool = True  # native: run on an overlay, so the rootfs stays pristine
    cpus: str = "auto"  # CPUs for tracer + app: auto (strace: one CPU; else all) | all | a list "0,2"
    overrides: Overrides = field(default_factory=Overrides)
    volumes: list[str] = field(default_factory=list)  # docker backend: -v SRC:DST[:ro]
    scratch_dir: str | None = None  # where the scratch directory is made (default: $TMPDIR)
    keep_scratch: bool = False  # leave the scratch directory (logs, rootfs) for debugging
    pids: int | None = 4096  # --pids: processes + threads in the sandbox (None: unlimited)
    memory: int | None = 4 << 30  # --memory: bytes, no swap on top (None: unlimited)
    cpu_limit: float | None = None  # --cpu-limit: CPUs of time per second (None: no quota; --cpus pins)
    userns: str = "auto"  # native, as root: auto (the app in a user namespace when imgopt unpacked the rootfs) | off
    seccomp: bool = True  # native: load the seccomp filter (False only to measure what it costs)

    def limits(self):
        from imgopt.trace.cgroup import Limits

        return Limits(pids=self.pids, memory=self.memory, cpu=self.cpu_limit)

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise BadInput(f"--backend {self.backend}", f"expected one of {', '.join(BACKENDS)}")
        if self.tracer not in TRACERS:
            raise BadInput(f"--tracer {self.tracer}", f"expected one of {', '.join(TRACERS)}")
        if self.network not in ("none", "host"):
            raise BadInput(f"--network {self.network}", "expected none or host")
        if self.tracer == "fanotify" and (self.backend == "docker" or os.geteuid() != 0):
            raise BadInput("--tracer fanotify", "needs the native backend and root")
        if not 0 < self.timeout <= 86400:
            raise BadInput(f"--timeout {self.timeout}", "must be between 0 and 86400 seconds")
        cpu_set(self)  # raises on a malformed list
        from imgopt.trace.cgroup import check

        check(self.limits())
        if self.userns not in ("auto", "off"):
            raise BadInput(f"--userns {self.userns}", "expected auto or off")
        if self.volumes and self.backend == "native":
            raise BadInput("-v", "volumes need the docker backend (--backend docker)")


def cpu_set(opts: TraceOptions) -> list[int] | None:
    """The CPUs to pin the sandbox to (None: no pinning).

    ``auto`` pins a strace run to one CPU: every ptrace stop then switches to
    the tracer on the same CPU instead of waking it on another one, which on
    this VM cut pytorch's traced startup from 5.9 s to 2.2 s (untraced 1.7 s).
    The app sees one CPU while traced (thread pools sized by CPU count shrink).
    """
    text = opts.cpus.strip()
    if text == "all" or (text == "auto" and opts.tracer != "strace"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if text == "auto":
        return allowed[-1:]
    try:
        cpus = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        cpus = []
    if not cpus or not set(cpus) <= set(allowed):
        raise BadInput(f"--cpus {opts.cpus}", f"expected auto, all or a list of CPUs among {allowed}")
    return cpus


__all__ = ["TraceOptions", "BACKENDS", "TRACERS", "cpu_set"]
