"""What ``imgopt minify`` / ``imgopt slim`` report: typed, versioned documents.

:class:`MinifyResult` is the ``imgopt.minify/v1`` document ``--format json``
prints (schema: docs/schema/minify.schema.json); :class:`RemovedFiles` is the
``imgopt.removed/v1`` document ``--removed FILE`` writes (every removed path).
All sizes are bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from imgopt.minify.naming import written_names
from imgopt.trace.profile import DirUse, ListeningSocket

SCHEMA = "imgopt.minify/v1"
REMOVED_SCHEMA = "imgopt.removed/v1"
KEPT_SCHEMA = "imgopt.kept/v1"


@dataclass
class ImageSize:
    compressed_bytes: int
    uncompressed_bytes: int
    files: int  # non-directory paths
    file_bytes: int  # regular-file content
    layers: int


@dataclass
class SlimSize(ImageSize):
    startup_files: int = 0  # files laid out first (read before the app was ready)


@dataclass
class Tally:
    bytes: int
    files: int


@dataclass
class AddedPath:
    path: str
    why: str


@dataclass
class ProbeRun:
    round: int
    backend: str  # native | docker
    passed: bool
    failure: str
    ready_time: float | None


@dataclass
class VerificationReport:
    passed: bool
    rounds: int
    added: list[AddedPath]  # paths verification added after a failing round
    results: list[ProbeRun]
    mismatches: list[str]  # probe outcomes that differ from the original image's


@dataclass
class AutoProbeOutcome:
    name: str
    passed: bool
    required: bool  # the readiness probe (required) or exploration after it (not)
    detail: str


@dataclass
class ProbingSummary:
    """What zero-config probing found in the original (and replayed against the slim image)."""

    kind: str  # server | job | idle | failed
    decided_after: float  # seconds from launching the sandbox to knowing the kind
    ready_time: float | None
    sockets: list[ListeningSocket]
    requests: int
    crawled: int
    probes: list[AutoProbeOutcome]
    served_dirs: list[DirUse]
    notes: list[str]


@dataclass
class KeptDirectory:
    """A directory the app served or listed, and whether the slim image keeps it whole."""

    path: str
    reason: str  # document root | listed while answering | listed
    kept: bool
    files: int
    bytes: int
    why: str


@dataclass
class LayerEstimate:
    """One layer of a candidate layout, as the simulator was given it."""

    compressed_bytes: int  # estimated (see Optimization.size_estimate)
    uncompressed_bytes: int  # the layer's tar, exact
    entries: int
    files: int


@dataclass
class LayoutCandidate:
    """A layout --optimize-for considered: the startup files as ``startup_layers`` layers, then the rest as
    ``rest_layers`` layers, each run small layers first."""

    codec: str  # gzip | zstd | none | estargz
    level: int | None
    startup_layers: int
    rest_layers: int
    layers: list[LayerEstimate]
    compressed_bytes: int  # estimated total
    pull_seconds: float  # predicted cold pull
    total_seconds: float  # predicted pull + start until the app is ready
    network_seconds: float  # of the critical path: waiting on the network
    cpu_seconds: float  # of the critical path: decompress + extract

    @property
    def label(self) -> str:
        lvl = f"-{self.level}" if self.level is not None else ""
        return f"{self.codec}{lvl}, {self.startup_layers} startup + {self.rest_layers} rest layers"


@dataclass
class Optimization:
    """What ``--optimize-for`` searched and chose."""

    target: str  # as given: REGISTRY[,CLIENT]
    registry: str
    client: str
    host: str
    ready_time: float  # the app's traced seconds until ready, part of every candidate's total
    size_estimate: str  # how compressed sizes were estimated
    candidates: list[LayoutCandidate]  # every one considered, in search order
    chosen: LayoutCandidate
    default: LayoutCandidate | None  # the default slim layout (gzip-6, startup + rest), when the client can pull it
    predicted_gain_seconds: float | None  # default minus chosen total (None: no default to compare with)
    why: str
    best: LayoutCandidate | None = None  # the least predicted; chosen only if it beats the default by min_gain
    min_gain: float = 0.0  # the fraction of the default's predicted total the best had to win by


def predicted_gain(cand: LayoutCandidate, default: LayoutCandidate | None) -> float:
    """How much faster ``cand`` is predicted than ``default``, as a fraction of the default's total."""
    return 1 - cand.total_seconds / default.total_seconds if default is not None and default.total_seconds else 0.0


@dataclass
class MinifyResult:
    """The slim image written, against the original: sizes, what was removed, verification."""

    image: str  # the original, as given
    output: str  # where the slim image was written
    manifest_digest: str
    original: ImageSize
    slim: SlimSize
    removed_by_class: dict[str, Tally]  # junk class (or "(not junk: unused)") -> removed, largest first
    removed_by_dir: dict[str, Tally]  # top three path components -> removed, 15 largest
    keep_rules: dict[str, int]  # keep rule id -> paths it kept
    kept_by_reason: dict[str, Tally]  # reason category (trace, ELF/shebang closure, language closure (python)...)
    language_closure_unresolved: dict[str, int]  # "language: why" -> loads the closure could not resolve
    verification: VerificationReport | None  # None with --verify none
    seconds: float
    tags: list[str]  # the names the slim image was written with (never the source's own)
    probing: ProbingSummary | None  # zero-config probing (None: the probes came from a probe file)
    dirs: list[KeptDirectory]  # served and listed directories
    optimization: Optimization | None  # --optimize-for: the candidates, their predictions, the choice (else None)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}


@dataclass
class RemovedPath:
    path: str  # absolute, inside the image
    size: int
    layer: int
    junk_class: str | None


@dataclass
class RemovedFiles:
    """Every path of the original image that the slim image does not have."""

    image: str
    removed: list[RemovedPath]
    schema: str = REMOVED_SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}


@dataclass
class KeptPath:
    path: str  # absolute, inside the image
    size: int  # regular-file bytes (0 for directories, symlinks...)
    reason: str  # the first reason it was kept, e.g. "traced", "closure:node: require('x') in /app/a.js"
    category: str  # the summary's group for the reason


@dataclass
class UnresolvedLoad:
    language: str
    file: str  # the file holding the load
    line: int
    what: str  # as written, e.g. "importlib.import_module(name)"
    why: str  # dynamic | not found | too big | unparsed


@dataclass
class KeptFiles:
    """Every path the slim image keeps, with its reason, and the loads the language closure could not resolve."""

    image: str
    kept: list[KeptPath]
    unresolved: list[UnresolvedLoad]
    schema: str = KEPT_SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}


def kept_files(image_name: str, scan, slim) -> KeptFiles:
    """The ``--kept`` document of a :class:`imgopt.minify.SlimImage`."""
    from imgopt.minify.keep import kept_entries

    return KeptFiles(image_name, [KeptPath(**e) for e in kept_entries(scan, slim.plan)],
                     [UnresolvedLoad(u.language, u.file, u.line, u.what, u.why) for u in slim.plan.unresolved])


def removed_files(image_name: str, slim) -> RemovedFiles:
    """The ``--removed`` document of a :class:`imgopt.minify.SlimImage`."""
    return RemovedFiles(image_name, [RemovedPath(r.path, r.size, r.layer, r.junk_class) for r in slim.removed])


def probing_summary(profile) -> ProbingSummary | None:
    """The probing part of the report (None when the probes came from a file)."""
    if profile is None or profile.discovery is None:
        return None
    d = profile.discovery
    return ProbingSummary(d.kind, d.decided_after, profile.ready_time, list(d.sockets), d.requests, d.crawled,
                          [AutoProbeOutcome(r.name, r.passed, r.required, r.detail) for r in profile.probes if r.auto],
                          list(profile.served_dirs), list(d.notes))


def minify_result(original, scan, slim, verification, manifest_digest: str, dest: str,
                  seconds: float, profile=None) -> MinifyResult:
    """The report of one minify run: ``original`` Image and its Scan, the SlimImage, its Verification."""
    by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_dir: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in slim.removed:
        c = by_class[r.junk_class or "(not junk: unused)"]
        c[0] += r.size
        c[1] += 1
        top = "/" + "/".join(r.path.strip("/").split("/")[:3])
        d = by_dir[top]
        d[0] += r.size
        d[1] += 1
    new = slim.image
    ver = verification
    from imgopt.minify.keep import kept_by_reason

    unresolved: dict[str, int] = defaultdict(int)
    for u in slim.plan.unresolved:
        unresolved[f"{u.language}: {u.why.split(':')[0]}"] += 1
    return MinifyResult(
        image=original.name, output=dest, manifest_digest=manifest_digest,
        original=ImageSize(sum(l.size for l in original.layers), sum(ls.tar_bytes for ls in scan.layers),
                           slim.original_files, slim.original_bytes, len(original.layers)),
        slim=SlimSize(sum(l.size for l in new.layers), sum(l.uncompressed_size or 0 for l in new.layers),
                      slim.kept_files, slim.kept_bytes, len(new.layers), len(slim.plan.startup)),
        removed_by_class={k: Tally(*v) for k, v in sorted(by_class.items(), key=lambda x: -x[1][0])},
        removed_by_dir={k: Tally(*v) for k, v in sorted(by_dir.items(), key=lambda x: -x[1][0])[:15]},
        keep_rules=slim.plan.rules_applied,
        kept_by_reason={k: Tally(v["bytes"], v["files"]) for k, v in kept_by_reason(scan, slim.plan).items()},
        language_closure_unresolved=dict(sorted(unresolved.items())),
        verification=None if ver is None else VerificationReport(
            ver.passed, len(ver.rounds), [AddedPath(p, w) for p, w in ver.added],
            [ProbeRun(r.number, b.backend, b.passed, b.failure, b.ready_time) for r in ver.rounds for b in r.results],
            ver.mismatches),
        seconds=round(seconds, 2),
        tags=written_names(dest, new),
        probing=probing_summary(profile),
        dirs=[KeptDirectory(d.path, d.reason, d.kept, d.files, d.bytes, d.why) for d in slim.plan.dirs],
        optimization=slim.optimization,
    )


__all__ = ["MinifyResult", "Optimization", "LayoutCandidate", "LayerEstimate", "RemovedFiles", "KeptFiles", "minify_result", "removed_files", "kept_files", "SCHEMA", "predicted_gain",
           "REMOVED_SCHEMA", "KEPT_SCHEMA"]
