"""``imgopt cache info`` and ``imgopt cache prune``: typed results (kind ``cache`` in imgopt.formats)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = "imgopt.cache/v1"


@dataclass
class CacheInfo:
    """What the layer cache holds."""

    directory: str
    database: str
    layers: int  # layer summaries
    layer_bytes: int  # their packed entry tables
    results: int  # finished documents (analyses, scan records)
    result_bytes: int
    blobs: int  # compressed digests known
    file_bytes: int  # on disk (database and write-ahead log)
    max_bytes: int  # the bound least-recently-used eviction keeps
    oldest_use: float | None  # Unix time
    newest_use: float | None
    summary_schema: int
    integrity: str  # SQLite's integrity_check: "ok"
    action: str = "info"
    removed_layers: int = 0
    removed_results: int = 0
    removed_bytes: int = 0
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}


CachePruned = CacheInfo  # prune reports the cache after, with what it removed


def _open(cache: str | None):
    from imgopt.cache import open_cache
    from imgopt.errors import BadInput

    c = open_cache(cache, warn=lambda m: None)
    assert c is not None
    if c._db() is None:
        raise BadInput(c.path, "cannot open the cache database")
    return c


def info(cache: str | None = None) -> CacheInfo:
    from imgopt.analyze.summary import SUMMARY_SCHEMA

    c = _open(cache)
    try:
        t = c.totals()
        return CacheInfo(c.directory, c.path, t.layers, t.layer_bytes, t.results, t.result_bytes, t.blobs,
                         t.file_bytes, c.max_bytes, t.oldest_use, t.newest_use, SUMMARY_SCHEMA, c.integrity())
    finally:
        c.close()


def prune(cache: str | None = None, *, max_bytes: int | None = None, older_than: float | None = None,
          everything: bool = False) -> CacheInfo:
    """Remove all entries, those unused for ``older_than`` seconds, and LRU ones above ``max_bytes``
    (default: the cache's bound); then give the space back to the file system."""
    c = _open(cache)
    try:
        bound = c.max_bytes if max_bytes is None and older_than is None and not everything else max_bytes
        layers, results, nbytes = c.prune(max_bytes=bound, older_than=older_than, everything=everything)
        c.vacuum()
    finally:
        c.close()
    out = info(cache)
    out.action, out.removed_layers, out.removed_results, out.removed_bytes = "prune", layers, results, nbytes
    return out


__all__ = ["CacheInfo", "CachePruned", "info", "prune", "SCHEMA"]
