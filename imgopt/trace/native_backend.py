"""The native backend: the entrypoint in :class:`~imgopt.trace.native.NativeSandbox` (namespaces, no daemon)."""

from __future__ import annotations

import os
import time

from imgopt.trace.backends import Target
from imgopt.trace.bundle import MOUNT
from imgopt.trace.options import TraceOptions, cpu_set
from imgopt.trace.autoprobe import run_all
from imgopt.trace.probes import Probe
from imgopt.trace.profile import ProbeResult
from imgopt.trace.profile_build import build_profile, launch_ready
from imgopt.trace.recorder import Recorded, Recorder
from imgopt.trace.result import TraceResult
from imgopt.trace.rootfs import RootFS
from imgopt.trace.runspec import RunSpec
from imgopt.trace.session import Session, read_logs, settle


class NativeBackend:
    name = "native"
    volumes = False

    def auto_ok(self, opts: TraceOptions) -> bool:
        return True  # needs nothing but this host (root or a user namespace)

    def trace(self, target: Target, opts: TraceOptions) -> TraceResult:
        """Run the entrypoint on the unpacked rootfs (an overlay takes the writes) and trace it."""
        sess = NativeSession(target.fs, target.run, target.probes, opts, target.scratch)
        rec, results, exit_info, t_end = sess.run()
        profile = build_profile(rec, results, target.run, exit_info, t_end, t_start=sess.t_start,
                                backend=self.name, tracer=opts.tracer, image=target.image_name,
                                image_digest=target.image_digest, config_digest=target.config_digest,
                                notes=sess.notes, sandbox=sess.sandbox, session=sess)
        return TraceResult(profile, sess.output[-8000:], None, launch_ready(profile, rec, sess.t_start, sess.launched),
                           limit=sess.limit)


def _shifted(rootfs: str) -> bool:
    """Is ``rootfs`` owned by the sandbox's uid range (shifted by trace_image), so a user namespace fits it?"""
    from imgopt.trace.userns import HOST_BASE

    try:
        return os.stat(rootfs).st_uid >= HOST_BASE
    except OSError:
        return False


class NativeSession(Session):
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
                           overlay=opts.overlay, fanotify_mask=fan_mask, cpus=cpu_set(opts), limits=opts.limits(),
                           userns=opts.userns == "auto" and _shifted(self.fs.root), seccomp=opts.seccomp)
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
            self.sandbox, self.limit = sb.protections, sb.limit_hit
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


__all__ = ["NativeBackend", "NativeSession"]
