"""The :class:`~imgopt.trace.profile.AccessProfile` of one run: what the recorder saw, the probes, the exit."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from imgopt.trace.profile import AccessProfile, ProbeResult, ProcessInfo
from imgopt.trace.recorder import Recorded
from imgopt.trace.runspec import RunSpec

if TYPE_CHECKING:
    from imgopt.trace.session import Session


def build_profile(rec: Recorded, results: list[ProbeResult], run: RunSpec, exit_info: dict | None, t_end: float,
                  *, t_start: float, backend: str, tracer: str, image: str, image_digest: str,
                  config_digest: str, notes: list[str], sandbox: dict | None = None,
                  session: "Session | None" = None) -> AccessProfile:
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
        written_dirs=sorted(rec.written_dirs), tracer=tracer, notes=list(notes), sandbox=dict(sandbox or {}))
    if session is not None:
        _zero_config(profile, session, t0)
    return profile


def _zero_config(profile: AccessProfile, session: "Session", t0: float) -> None:
    """What automatic probing found, and the served and listed directories, into the profile."""
    from imgopt.trace.autoprobe import Auto

    if isinstance(session.probes, Auto) and session.probes.discovery is not None:
        profile.discovery = session.probes.discovery
        for s in profile.discovery.sockets:
            s.first_seen = round(max(0.0, s.first_seen - t0), 6) if s.first_seen is not None else None
    if session.dirs is not None:
        profile.served_dirs, profile.listed_dirs = session.dirs.result(t0)


def launch_ready(profile: AccessProfile, rec: Recorded, t_start: float, launched: float) -> float | None:
    """Seconds from launching the sandbox to the probes' first success (None: never ready)."""
    if profile.ready_time is None:
        return None
    t0 = rec.t0 if rec.t0 is not None else t_start
    return round(t0 + profile.ready_time - launched, 6)


__all__ = ["build_profile", "launch_ready"]
