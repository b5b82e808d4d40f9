"""Verify a slim image with the same probes, and repair it before handing it over.

Round by round: build the slim image, run the probes against it (native
sandbox; Docker too when asked), compare with the original's results.
Without a probe file, the probes are the ones the original's trace ran and
passed -- zero-config probing's automatic probes, each expecting the answer
the original gave (:func:`imgopt.trace.autoprobe.replay_probes`): the slim
image is verified against what was discovered, not probed anew.  If a
probe fails, the failing run was traced: every path it looked up that the
slim image lacks but the original has is added (and, for directories it
listed, the original's entries), and the image is built again.  Only a
passing image is returned; otherwise :class:`VerificationFailed` carries the
failing probe and the last missing paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imgopt.analyze.entrypoint import Resolver
from imgopt.analyze.scan import Scan
from imgopt.errors import Failed
from imgopt.image.tarstream import Kind
from imgopt.minify import MinifyOptions, SlimImage, plan_and_build
from imgopt.trace.profile import AccessProfile, ProbeResult


class VerificationFailed(Failed):
    """The slim image does not pass its probes (exit code 1)."""


@dataclass
class VerifyOptions:
    backends: list[str] = field(default_factory=lambda: ["native"])
    max_rounds: int = 4
    timeout: float = 300.0
    probes: list | None = None  # imgopt.trace.probes.Probe list; None: those the profile recorded
    limits: dict = field(default_factory=dict)  # TraceOptions pids / memory / cpu_limit for the probe runs


@dataclass
class BackendResult:
    backend: str
    passed: bool
    failure: str
    probes: list[ProbeResult]
    ready_time: float | None
    missing: list[str]


@dataclass
class Round:
    number: int
    kept_files: int
    results: list[BackendResult]
    added: list[tuple[str, str]] = field(default_factory=list)  # (path, why) added for the next round

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


@dataclass
class Verification:
    rounds: list[Round]
    passed: bool
    mismatches: list[str] = field(default_factory=list)  # differences from the original's probe results

    @property
    def added(self) -> list[tuple[str, str]]:
        return [a for r in self.rounds for a in r.added]


def run_probes_on(slim_image, probes, backend: str, timeout: float, limits: dict | None = None):
    from imgopt.trace.options import TraceOptions
    from imgopt.trace.run import trace_image

    return trace_image(slim_image, probes, TraceOptions(backend=backend, timeout=timeout, trace_reads=False,
                                                        **(limits or {})))


def compare(original: AccessProfile | None, results: list[ProbeResult]) -> list[str]:
    """Probe outcomes that differ from the original image's (status, exit code).

    Matched by name, in order (two probes may share a name: the same path with two bodies): the
    slim run replays only what passed on the original, so positions alone would not line up.
    """
    if original is None:
        return []
    out = []
    by_name: dict[str, list[ProbeResult]] = {}
    for a in original.probes:
        by_name.setdefault(a.name, []).append(a)
    for b in results:
        same = by_name.get(b.name)
        if not same:
            continue
        a = same.pop(0)
        if a.passed and not b.passed:
            out.append(f"probe {b.name!r}: passed on the original, fails on the slim image ({b.detail})")
        if a.status is not None and b.status is not None and a.status != b.status:
            out.append(f"probe {b.name!r}: HTTP status {b.status}, original {a.status}")
        if a.exit_code is not None and b.exit_code is not None and a.exit_code != b.exit_code:
            out.append(f"probe {b.name!r}: exit code {b.exit_code}, original {a.exit_code}")
    return out


def repairs(scan: Scan, slim: SlimImage, failing: AccessProfile) -> list[tuple[str, str]]:
    """Paths to add: what the failing run looked for that the original image has."""
    r = Resolver(scan)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for f in failing.files:
        rel = f.path.strip("/")
        if not rel or rel in seen:
            continue
        seen.add(rel)
        final, node = r.lookup(f.path)
        if node is None:
            continue  # absent in the original too: not what breaks the slim image
        if not f.exists and final.strip("/") not in slim.plan.keep:
            out.append((f.path, f"looked up by the failing run ({', '.join(f.kinds)}) and present in the original"))
        elif "listdir" in f.kinds and node.children is not None:
            for name, child in sorted(node.children.items()):
                p = f"{final.strip('/')}/{name}"
                if p not in slim.plan.keep and child.kind is not Kind.DIR:
                    out.append(("/" + p, f"entry of {final}, which the failing run listed"))
    return out


def minify_verified(scan: Scan, profile: AccessProfile | None, opts: MinifyOptions, vopts: VerifyOptions,
                    workdir: str, progress=None) -> tuple[SlimImage, Verification]:
    from imgopt.trace.autoprobe import replay_probes

    probes = vopts.probes if vopts.probes is not None else replay_probes(profile)
    extra: list[str] = []
    rounds: list[Round] = []
    mismatches: list[str] = []
    slim = None
    for n in range(1, vopts.max_rounds + 1):
        slim = plan_and_build(scan, profile, opts, workdir, extra_includes=extra)
        if progress:
            progress(f"round {n}: {slim.kept_files} files kept; running the probes")
        rnd = Round(n, slim.kept_files, [])
        failing_profiles = []
        for backend in vopts.backends:
            res = run_probes_on(slim.image, probes, backend, vopts.timeout, vopts.limits)
            rnd.results.append(BackendResult(backend, res.passed, res.failure, res.profile.probes,
                                             res.profile.ready_time, res.missing[:50]))
            if not res.passed:
                failing_profiles.append(res.profile)
            else:
                mismatches = compare(profile, res.profile.probes)
        rounds.append(rnd)
        if rnd.passed and not mismatches:
            return slim, Verification(rounds, True)
        adds: list[tuple[str, str]] = []
        for fp in failing_profiles:
            adds += [a for a in repairs(scan, slim, fp) if a[0] not in extra and a not in adds]
        if not adds:
            break  # nothing left to try: the failure is not a missing file
        rnd.added = adds
        extra += [p for p, _ in adds]
    assert slim is not None
    return slim, Verification(rounds, False, mismatches)
