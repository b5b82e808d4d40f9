"""The library entry points: trace an image or an unpacked rootfs.

* :func:`run_trace` — image reference (or :class:`Image`) in, AccessProfile out;
* :func:`trace_image` — an open image, native or docker backend, full result;
* :func:`trace_rootfs` — an unpacked rootfs directory and a config (what
  ``imgopt minify`` uses to check that a slimmed rootfs still passes its
  probes: ``result.passed``, and ``result.missing`` for what it looked for
  and did not find).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field

from imgopt.errors import BadInput
from imgopt.image.model import Image, ImageConfig, Platform
from imgopt.trace.bundle import MOUNT
from imgopt.trace.profile import AccessProfile, ProbeResult, ProcessInfo
from imgopt.trace.autoprobe import Auto, run_all
from imgopt.trace.probes import Probe
from imgopt.trace.recorder import Recorded, Recorder
from imgopt.trace.rootfs import RootFS
from imgopt.trace.runspec import Overrides, RunSpec, run_spec

BACKENDS = ("auto", "native", "docker")
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
        if self.volumes and self.backend == "native":
            raise BadInput("-v", "volumes need the docker backend (--backend docker)")


@dataclass
class TraceResult:
    profile: AccessProfile
    output: str  # the app's stdout+stderr (tail)
    scratch: str | None = None  # kept scratch directory, with keep_scratch
    launch_ready: float | None = None  # seconds from launching the sandbox to ready (what benchmarks compare)

    @property
    def passed(self) -> bool:
        return self.profile.passed

    @property
    def missing(self) -> list[str]:
        """Paths the app looked up that did not exist (failed lookups), in order."""
        return [f.path for f in self.profile.files if not f.exists]

    @property
    def failure(self) -> str:
        """One line: the first failed probe and why ('' when all passed)."""
        for p in self.profile.probes:
            if not p.passed and p.required:
                return f"probe {p.name!r} failed: {p.detail}"
        return ""


# ---------------------------------------------------------------- entry points


def run_trace(image: "str | Image", probes: list[Probe] | None = None,
              options: TraceOptions | None = None) -> AccessProfile:
    """Trace ``image`` (a reference like ``docker-archive:app.tar`` or an open Image)."""
    if isinstance(image, Image):
        return trace_image(image, probes, options).profile
    from imgopt.image.sources import open_image

    with open_image(image) as img:
        return trace_image(img, probes, options).profile


def trace_image(image: Image, probes: list[Probe] | None = None,
                options: TraceOptions | None = None) -> TraceResult:
    """Unpack ``image`` into a scratch directory (for lookups; and to run it, natively) and trace it."""
    from imgopt.image.unpack import unpack

    opts = options or TraceOptions()
    opts.check()
    _check_platform(image)
    opts = resolve_backend(opts)
    scratch = _mkscratch(opts)
    try:
        rootfs = os.path.join(scratch, "rootfs")
        unpack(image, rootfs)
        ids = {"image_name": image.name, "image_digest": image.digest, "config_digest": image.config_digest}
        if opts.backend == "docker":
            from imgopt.trace.docker import trace_docker

            res = trace_docker(image, rootfs, probes, opts, scratch, **ids)
        else:
            res = trace_rootfs(rootfs, image.config, probes, opts, scratch=scratch, **ids)
        if opts.keep_scratch:
            res.scratch = scratch
        return res
    finally:
        if not opts.keep_scratch:
            rmtree(scratch)


def trace_rootfs(rootfs: str, config: ImageConfig, probes: list[Probe] | None = None,
                 options: TraceOptions | None = None, *, scratch: str | None = None, image_name: str = "",
                 image_digest: str = "", config_digest: str = "") -> TraceResult:
    """Run ``config``'s entrypoint on the unpacked ``rootfs`` in a native sandbox and trace it.

    The rootfs is not modified (an overlay takes the writes).  Without
    ``probes``, :mod:`~imgopt.trace.autoprobe` finds out how the app is used.
    """
    opts = options or TraceOptions()
    opts.check()
    if opts.backend == "docker":
        raise BadInput("--backend docker", "an unpacked rootfs runs natively; trace the image for docker")
    if not os.path.isdir(rootfs):
        raise BadInput(rootfs, "no such rootfs directory")
    fs = RootFS(rootfs)
    subject = image_name or rootfs
    run = run_spec(config, fs, opts.overrides, subject)
    probes = probes or Auto(config.exposed_ports)
    own = scratch is None
    scratch = scratch or _mkscratch(opts)
    try:
        sess = _NativeSession(fs, run, probes, opts, scratch)
        rec, results, exit_info, t_end = sess.run()
        profile = build_profile(rec, results, run, exit_info, t_end, t_start=sess.t_start,
                                backend="native", tracer=opts.tracer, image=subject, image_digest=image_digest,
                                config_digest=config_digest, notes=sess.notes, session=sess)
        return TraceResult(profile, sess.output[-8000:], scratch if opts.keep_scratch else None,
                           launch_ready(profile, rec, sess.t_start, sess.launched))
    finally:
        if own and not opts.keep_scratch:
            rmtree(scratch)


# ---------------------------------------------------------------- the native run


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


class _NativeSession(Session):
    """Start, probe, stop and read one native sandbox run."""

    def __init__(self, fs: RootFS, run: RunSpec, probes: list[Probe], opts: TraceOptions, scratch: str):
        super().__init__(run, probes, opts, scratch)
        self.fs = fs
        self.launched = 0.0

    def run(self) -> tuple[Recorded, list[ProbeResult], dict | None, float]:
        from imgopt.trace.native import NativeSandbox

        opts = self.opts
        tracer, bundle = self._strace()
        fan_mask = 0
        if opts.tracer == "fanotify":
            from imgopt.trace.fanotify import MASK

            fan_mask = MASK
        sb = NativeSandbox(self.fs.root, self.run_spec, self.scratch, network=opts.network, tracer=tracer,
                           log_path=f"{MOUNT}/out/trace.log" if tracer else None, bundle=bundle,
                           overlay=opts.overlay, fanotify_mask=fan_mask, cpus=cpu_set(opts))
        fan = None
        try:
            sb.start(timeout=min(60.0, opts.timeout))
            self.t_start, self.launched = sb.started, sb.launched
            if sb.fanotify_fd >= 0:
                from imgopt.trace.fanotify import FanotifyReader

                fan, sb.fanotify_fd = FanotifyReader(sb.fanotify_fd), -1
            limit = sb.launched + opts.timeout
            results = run_all(self.probes, sb, limit, self._exec_log, launched=sb.launched,
                              trace_log=os.path.join(self.scratch, "out", "trace.log") if tracer else None,
                              private_netns=opts.network != "host")
            if all(r.passed for r in results if r.required):
                settle(opts, limit, os.path.join(self.scratch, "out", "trace.log"), sb.poll_exit)
            exit_info = sb.poll_exit()
            self.mapped = sb.mapped_files() if opts.tracer == "strace" else set()
        finally:
            sb.stop(self.opts.grace)
            self.output = sb.output()
            self.notes.extend(sb.notes)
        t_end = time.time()
        from imgopt.trace.served import DirCollector

        self.dirs = DirCollector(results)
        rec = self._record(sb, fan)
        return rec, results, exit_info, t_end

    def _record(self, sb, fan) -> Recorded:
        rec = Recorded()
        out = os.path.join(self.scratch, "out")
        if self.opts.tracer == "strace":
            read_logs(rec, self.fs, self.run_spec.workdir, out, self._exec_logs, self.mapped, self.notes,
                      self.opts.trace_reads, observer=self.dirs.observe if self.dirs else None)
        elif fan is not None:
            from imgopt.trace.fanotify import kind_of

            r = Recorder(self.fs, rec=rec)
            for t, _pid, mask, path in fan.stop():
                if path.startswith("/"):
                    r.add(path.removesuffix(" (deleted)"), kind_of(mask), t, follow=False)
            rec.t0 = sb.started
            self.notes.append("fanotify: opened files only (no stat/access/readlink, no failed lookups, "
                              "no symlink chains, no bytes)")
        else:
            rec.t0 = sb.started
            self.notes.append("untraced run (tracer none): no files recorded")
        return rec


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


# ---------------------------------------------------------------- the profile


def build_profile(rec: Recorded, results: list[ProbeResult], run: RunSpec, exit_info: dict | None, t_end: float,
                  *, t_start: float, backend: str, tracer: str, image: str, image_digest: str,
                  config_digest: str, notes: list[str], session: "Session | None" = None) -> AccessProfile:
    """The AccessProfile of one run (times relative to the entrypoint's exec)."""
    t0 = rec.t0 if rec.t0 is not None else t_start
    passed = bool(results) and all(r.passed for r in results if r.required)
    for r in results:
        for key in ("first_success", "started", "finished"):
            if getattr(r, key) is not None:
                setattr(r, key, round(max(0.0, getattr(r, key) - t0), 6))
    ready = max((r.first_success or 0.0) for r in results if r.required) if passed else None
    exit_code = exit_info.get("exit_code") if exit_info else None
    if exit_code is None and rec.exit_time is not None:
        exit_code = rec.exit_code if rec.exit_code is not None else None
    procs = [ProcessInfo(p.pid, p.ppid, p.argv, p.exe, round(max(0.0, p.start - t0), 6))
             for p in sorted(rec.processes.values(), key=lambda p: (p.start, p.pid))]
    started = _dt.datetime.fromtimestamp(t0, _dt.timezone.utc).isoformat(timespec="milliseconds")
    profile = AccessProfile(
        image=image, image_digest=image_digest, config_digest=config_digest, backend=backend, argv=list(run.argv),
        env=list(run.env), workdir=run.workdir, user=run.user, started_at=started.replace("+00:00", "Z"),
        duration=round(max(0.0, t_end - t0), 6), ready_time=ready, exit_code=exit_code,
        files=rec.file_accesses(t0, ready), processes=procs, probes=results,
        written_dirs=sorted(rec.written_dirs), tracer=tracer, notes=list(notes))
    if session is not None:
        _zero_config(profile, session, t0)
    return profile


def _zero_config(profile: AccessProfile, session: "Session", t0: float) -> None:
    """What automatic probing found, and the served and listed directories, into the profile."""
    if isinstance(session.probes, Auto) and session.probes.discovery is not None:
        profile.discovery = session.probes.discovery
        for s in profile.discovery.sockets:
            s.first_seen = round(max(0.0, s.first_seen - t0), 6) if s.first_seen is not None else None
    if session.dirs is not None:
        profile.served_dirs, profile.listed_dirs = session.dirs.result(t0)


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


def launch_ready(profile: AccessProfile, rec: Recorded, t_start: float, launched: float) -> float | None:
    """Seconds from launching the sandbox to the probes' first success (None: never ready)."""
    if profile.ready_time is None:
        return None
    t0 = rec.t0 if rec.t0 is not None else t_start
    return round(t0 + profile.ready_time - launched, 6)


# ---------------------------------------------------------------- helpers


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


def resolve_backend(opts: TraceOptions) -> TraceOptions:
    """``auto``: docker when an engine answers (and its loopback is reachable: root or --network host)."""
    from dataclasses import replace

    if opts.backend != "auto":
        return opts
    choice = "native"
    if opts.tracer != "fanotify" and (os.geteuid() == 0 or opts.network == "host") and _engine_answers():
        choice = "docker"
    if opts.volumes and choice != "docker":
        raise BadInput("-v", "volumes need the docker backend, and no Docker engine answers")
    return replace(opts, backend=choice)


def _engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no engine
        return False



def _mkscratch(opts: TraceOptions) -> str:
    base = opts.scratch_dir
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="imgopt-trace-", dir=base)


def _check_platform(image: Image) -> None:
    want, have = Platform.host(), image.config.platform
    if have.os and have.architecture and (have.os != want.os or have.architecture != want.architecture):
        raise BadInput(image.name, f"image is for {have}, this host runs {want}: cannot run its entrypoint")


def rmtree(path: str) -> None:
    """Remove a scratch tree, fixing permissions that block it (overlay work dirs, 0555 dirs)."""
    def fix(func, p, exc) -> None:
        parent = os.path.dirname(p)
        for q in (parent, p):
            try:
                os.chmod(q, stat.S_IRWXU, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass

    if os.path.exists(path):
        shutil.rmtree(path, onerror=fix)


__all__ = ["TraceOptions", "TraceResult", "run_trace", "trace_image", "trace_rootfs", "build_profile", "rmtree"]
