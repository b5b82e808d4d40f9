"""The analysis result: typed, versioned, documented (docs/analysis.md).

``AnalysisResult.to_json()`` is the ``imgopt.analysis/v1`` document that
``imgopt analyze --format json`` prints (schema: docs/schema/analysis.schema.json,
generated from these types).  All sizes are bytes; ratios are 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "imgopt.analysis/v1"


@dataclass
class ImageInfo:
    reference: str
    manifest_digest: str
    config_digest: str
    platform: str
    layers: int
    entrypoint: list[str]
    cmd: list[str]
    workdir: str
    user: str
    env: list[str]
    exposed_ports: list[str]


@dataclass
class Summary:
    compressed_bytes: int  # sum of layer blob sizes (what a pull downloads)
    uncompressed_bytes: int  # sum of layer tar sizes
    stored_file_bytes: int  # regular-file content stored across all layers
    final_bytes: int  # regular-file bytes visible in the final filesystem
    final_files: int  # paths in the final filesystem (all kinds)
    removable_junk_bytes: int  # junk classes marked safe to remove
    possibly_removable_bytes: int  # junk classes that need a human decision
    exact_waste_bytes: int  # stored but invisible in the final filesystem
    duplicate_bytes: int  # extra identical copies visible at different paths
    entrypoint_bytes: int  # files the entrypoint needs statically
    dive_efficiency: float
    dive_wasted_bytes: int


@dataclass
class DockerfileRef:
    line: int
    end_line: int
    instruction: str


@dataclass
class LayerReport:
    index: int
    digest: str
    diff_id: str
    media_type: str
    compression: str
    compressed_bytes: int
    uncompressed_bytes: int  # tar size
    file_bytes: int  # regular-file content stored in this layer
    entries: int
    added: int
    modified: int
    removed: int
    hidden_later_bytes: int  # this layer's bytes that upper layers hide
    hides_bytes: int  # lower layers' bytes this layer hides
    junk_bytes: int  # final-filesystem junk that came from this layer
    created_by: str | None
    instruction: str | None
    dockerfile: DockerfileRef | None = None
    dive_size_bytes: int = 0


@dataclass
class HiddenFile:
    path: str
    size: int
    layer: int  # where the bytes are stored
    hidden_by: int  # the layer that hid them
    reason: str  # overwritten | deleted | opaque | replaced


@dataclass
class Waste:
    exact_bytes: int
    by_reason: dict[str, int]
    top: list[HiddenFile]
    dive_efficiency: float
    dive_wasted_bytes: int
    dive_user_wasted_ratio: float | None
    dive_size_bytes: int
    dive_files: list[dict[str, Any]]  # {count, size_bytes, path}, largest first


@dataclass
class JunkExample:
    path: str
    size: int
    layer: int


@dataclass
class JunkClassReport:
    id: str
    title: str
    group: str
    why: str
    safe_to_remove: bool
    bytes: int
    files: int
    examples: list[JunkExample]
    layers: dict[str, int]  # layer index (string, JSON keys) -> bytes


@dataclass
class DuplicateCopy:
    path: str
    layer: int
    visible: bool


@dataclass
class DuplicateGroupReport:
    size: int
    digest: str
    copies: list[DuplicateCopy]
    reclaimable_bytes: int


@dataclass
class Duplicates:
    reclaimable_bytes: int
    visible_duplicate_bytes: int
    groups: list[DuplicateGroupReport]
    files_hashed: int
    bytes_hashed: int


@dataclass
class LargeFile:
    path: str
    size: int
    layer: int
    junk_class: str | None


@dataclass
class DirectorySize:
    """A directory of the final filesystem and the regular-file bytes below it (all depths)."""

    path: str
    bytes: int
    files: int
    junk_bytes: int  # of those bytes, the ones a junk class claims


@dataclass
class EntrypointFile:
    path: str
    size: int
    reason: str
    by: str | None


@dataclass
class EntrypointMissing:
    name: str
    reason: str
    by: str | None


@dataclass
class Entrypoint:
    argv: list[str]
    shell_form: bool
    executable: str | None
    bytes: int
    files: list[EntrypointFile]
    missing: list[EntrypointMissing]
    edges: list[list[str]]  # [from, to, reason]


@dataclass
class PathEvent:
    layer: int
    action: str  # added | modified | deleted | hidden (opaque directory) | replaced
    size: int  # bytes stored by this layer for the path (0 for deletions and directories)
    instruction: str | None


@dataclass
class Problem:
    layer: int | None
    path: str
    problem: str


@dataclass
class AnalysisResult:
    image: ImageInfo
    summary: Summary
    layers: list[LayerReport]
    waste: Waste
    junk: list[JunkClassReport]
    duplicates: Duplicates
    largest: list[LargeFile]
    entrypoint: Entrypoint
    problems: list[Problem] = field(default_factory=list)
    paths: dict[str, list[PathEvent]] = field(default_factory=dict)  # --path: each asked path's history
    # "/" and the directories (down to 4 levels) with at least 0.2 % of the final bytes: a treemap's data
    directories: list[DirectorySize] = field(default_factory=list)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        from imgopt.schema import plain  # asdict's deep copies were ~6 % of a scan's merge

        d = plain(self)
        return {"schema": d.pop("schema"), **d}
