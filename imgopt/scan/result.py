"""What ``imgopt scan`` finds: per image, per layer, fleet totals (typed, versioned; docs/scan.md).

:class:`ScanResult` is the ``imgopt.scan/v1`` document ``--format json``
prints (schema: docs/schema/scan.schema.json).  ``--format jsonl`` writes the
same records one per line, each with a ``kind`` (``scan`` first, then
``image``, ``layer``, ``error`` lines, ``fleet`` last), which is also what
``imgopt scan merge`` reads back.  Sizes are bytes; layer bytes are
compressed (what a registry stores and serves) unless named uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imgopt.schema import plain

SCHEMA = "imgopt.scan/v1"


@dataclass
class ColdStart:
    """A simulated cold pull + start of the image (imgopt simulate's model, no trace: 1 s assumed to ready)."""

    registry: str
    client: str
    pull_s: float
    total_s: float


@dataclass
class ImageLayer:
    index: int
    digest: str
    diff_id: str
    compressed_bytes: int
    uncompressed_bytes: int
    entries: int
    junk: dict[str, int]  # junk class id -> bytes of this image's final-filesystem junk from the layer
    created_by: str | None


@dataclass
class ImageRecord:
    """One image of the scan: its figures, or why it failed."""

    reference: str  # what imgopt analyze takes, e.g. docker://HOST/REPO:TAG
    repository: str
    tag: str
    status: str  # ok | failed
    error: str | None
    manifest_digest: str | None
    config_digest: str | None
    created: str | None  # the config's creation time
    platform: str | None
    compressed_bytes: int = 0
    uncompressed_bytes: int = 0
    final_bytes: int = 0
    final_files: int = 0
    removable_junk_bytes: int = 0
    possibly_removable_bytes: int = 0
    exact_waste_bytes: int = 0
    removable_bytes: int = 0  # removable junk + exact waste: what slimming and squashing would save
    duplicate_bytes: int = 0
    entrypoint_bytes: int = 0
    entrypoint_missing: int = 0  # what the entrypoint needs but the image lacks (a broken image)
    dive_efficiency: float | None = None
    dive_wasted_bytes: int = 0
    problems: int = 0  # odd or hostile entries handled (see the image's analysis)
    junk: dict[str, int] = field(default_factory=dict)  # junk class id -> bytes
    layers: list[ImageLayer] = field(default_factory=list)
    shared_layers: int = 0  # layers other images of the scan use too
    shared_bytes: int = 0  # their compressed bytes
    unique_bytes: int = 0  # compressed bytes of layers no other image of the scan uses
    cold_start: list[ColdStart] = field(default_factory=list)
    # with --details: the image's whole imgopt.analysis/v1 document (what imgopt analyze prints)
    analysis: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})

    def to_json(self) -> dict[str, Any]:
        d = plain(self)
        if d["analysis"] is None:
            del d["analysis"]
        return d


@dataclass
class LayerRecord:
    """A distinct layer of the scan (by diffID) and the images that share it."""

    digest: str  # the first blob seen for it (one diffID may be stored under several digests)
    diff_id: str
    compressed_bytes: int
    uncompressed_bytes: int
    entries: int
    images: int  # images of the scan that use it
    repositories: int
    junk_bytes: int  # final-filesystem junk from this layer (largest over its images)
    created_by: str | None
    example: str  # one image that uses it


@dataclass
class JunkTotal:
    id: str
    images: int  # images carrying junk of this class
    bytes_in_images: int  # summed over images (what every pull moves)
    bytes_in_layers: int  # over distinct layers (what the registry stores once)


@dataclass
class Ranked:
    reference: str
    value: float  # bytes, or seconds for cold starts


@dataclass
class FleetTotals:
    images: int
    images_ok: int
    images_failed: int
    repositories: int
    layer_refs: int  # layers summed over images
    distinct_layers: int
    stored_bytes: int  # compressed bytes summed over images (as if nothing were shared)
    unique_bytes: int  # compressed bytes of the distinct layers (what the registry holds)
    dedup_ratio: float  # stored / unique (1.0: nothing shared)
    uncompressed_stored_bytes: int
    uncompressed_unique_bytes: int
    removable_bytes: int  # summed over images
    exact_waste_bytes: int
    junk: list[JunkTotal]
    most_shared_layers: list[str]  # diffIDs, most images first
    top_removable: list[Ranked]  # images by removable bytes
    top_cold_start: list[Ranked]  # images by simulated cold start (slowest registry profile)


@dataclass
class ScanError:
    """A repository or image the scan could not read (the rest went on)."""

    source: str
    repository: str | None
    reference: str | None
    error: str


@dataclass
class ScanStats:
    seconds: float
    engine: str  # local:N | dask:ADDRESS | merge
    images_listed: int
    images_cached: int  # records taken whole from the cache
    images_merged: int  # merged from layer summaries
    layers_distinct: int
    layers_cached: int  # summaries found in the cache
    layers_read: int  # layers read this run
    blob_bytes_read: int  # compressed bytes of the layers read
    task_retries: int  # tasks run again after their worker died
    worker_peak_rss_bytes: int  # the largest peak RSS of a task's worker process


@dataclass
class ScanResult:
    sources: list[str]
    shard: str | None  # I/N when this is one shard of a split scan
    partial: bool  # some repository or image failed
    images: list[ImageRecord]
    layers: list[LayerRecord]
    fleet: FleetTotals
    errors: list[ScanError]
    stats: ScanStats
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "sources": self.sources, "shard": self.shard, "partial": self.partial,
                "images": [i.to_json() for i in self.images], "layers": [plain(l) for l in self.layers],
                "fleet": plain(self.fleet), "errors": [plain(e) for e in self.errors],
                "stats": plain(self.stats)}

    def failures(self) -> list[tuple[str, str]]:
        """(what failed, why) for every failed image and every source or repository error, for the
        reports and the CLI: a message that starts with its subject is split there (said once)."""
        rows = [(i.reference, i.error or "") for i in self.images if i.status != "ok"]
        rows += [(e.repository or e.source, e.error) for e in self.errors]
        return [_labelled(what, why) for what, why in rows]

    def nothing_scanned(self) -> bool:
        """Something failed and no image was analysed: every source, repository or image failed."""
        return bool(self.errors or self.images) and not any(i.status == "ok" for i in self.images)

    def records(self) -> list[dict[str, Any]]:
        """The JSON Lines form: one record per line, each with its ``kind``."""
        out: list[dict[str, Any]] = [{"kind": "scan", "schema": self.schema, "sources": self.sources,
                                      "shard": self.shard, "partial": self.partial, "stats": plain(self.stats)}]
        out += [{"kind": "image", **i.to_json()} for i in self.images]
        out += [{"kind": "layer", **plain(l)} for l in self.layers]
        out += [{"kind": "error", **plain(e)} for e in self.errors]
        out.append({"kind": "fleet", **plain(self.fleet)})
        return out


def _labelled(what: str, why: str) -> tuple[str, str]:
    """(label, problem): a message whose subject names ``what`` (``docker://HOST/REPO`` for ``REPO``) is
    labelled by that subject, so that it is said once."""
    head, sep, rest = why.partition(": ")
    if sep and (head == what or head.removeprefix("docker://") == what or head.endswith("/" + what)):
        return head, rest
    return what, why


__all__ = ["SCHEMA", "ScanResult", "ImageRecord", "ImageLayer", "LayerRecord", "FleetTotals", "JunkTotal",
           "Ranked", "ScanError", "ScanStats", "ColdStart"]
