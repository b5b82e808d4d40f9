"""``imgopt scan merge RESULTS...``: one result from the shards of a split scan (``--shard I/N``).

Each shard's result (``--format jsonl`` or ``json``) carries its image
records; the layer records and fleet totals are recomputed over all of them
(:func:`imgopt.scan.fleet.assemble`), so the merged result is the one a single
scan would have written.  An image in two shards (overlapping runs) is kept
once; a shard that is missing is noticed from the others' ``shard`` fields.
"""

from __future__ import annotations

import json
from typing import Any

from imgopt.errors import BadInput
from imgopt.scan.fleet import assemble
from imgopt.scan.result import SCHEMA, ImageRecord, ScanError, ScanResult, ScanStats


def read_result(path: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(header, image records, errors) of one shard's result file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise BadInput(path, f"not a scan result ({e.__class__.__name__})") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" not in stripped.strip():  # one JSON document
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise BadInput(path, f"not valid JSON: {e}") from None
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise BadInput(path, f"not an {SCHEMA} document")
        return doc, list(doc.get("images") or []), list(doc.get("errors") or [])
    header: dict[str, Any] | None = None
    images, errors = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise BadInput(path, f"line {n}: not valid JSON: {e}") from None
        kind = rec.pop("kind", None) if isinstance(rec, dict) else None
        if kind == "scan":
            if rec.get("schema") != SCHEMA:
                raise BadInput(path, f"line {n}: not an {SCHEMA} result")
            header = rec
        elif kind == "image":
            images.append(rec)
        elif kind == "error":
            errors.append(rec)
        elif kind not in ("layer", "fleet"):
            raise BadInput(path, f"line {n}: unknown record kind {kind!r}")
    if header is None:
        raise BadInput(path, f"no scan header line: not an {SCHEMA} JSON Lines result")
    return header, images, errors


def merge_files(paths: list[str], top: int = 10) -> ScanResult:
    from imgopt.schema import from_json

    if not paths:
        raise BadInput("imgopt scan merge", "no RESULTS given")
    images: dict[str, ImageRecord] = {}
    errors: list[ScanError] = []
    sources: list[str] = []
    shards: set[str] = set()
    totals = dict.fromkeys(("images_listed", "images_cached", "images_merged", "layers_distinct", "layers_cached",
                            "layers_read", "blob_bytes_read", "task_retries"), 0)
    seconds = 0.0
    rss = 0
    for path in paths:
        header, recs, errs = read_result(path)
        sources += [s for s in header.get("sources") or [] if s not in sources]
        if header.get("shard"):
            shards.add(header["shard"])
        st = header.get("stats") or {}
        for k in totals:
            totals[k] += int(st.get(k) or 0)
        seconds = max(seconds, float(st.get("seconds") or 0))
        rss = max(rss, int(st.get("worker_peak_rss_bytes") or 0))
        for r in recs:
            try:
                rec = from_json(ImageRecord, r)
            except (TypeError, KeyError, AttributeError) as e:
                raise BadInput(path, f"bad image record: {e}") from None
            old = images.get(rec.reference)
            if old is None or (old.status != "ok" and rec.status == "ok"):
                images[rec.reference] = rec
        errors += [from_json(ScanError, e) for e in errs]
    missing = _missing_shards(shards)
    if missing:
        errors.append(ScanError("imgopt scan merge", None, None, f"shards missing: {', '.join(missing)}"))
    stats = ScanStats(seconds=seconds, engine="merge", worker_peak_rss_bytes=rss, **totals)
    uniq = list({(e.source, e.repository, e.reference, e.error): e for e in errors}.values())
    return assemble(list(images.values()), uniq, sources=sources, shard=None, stats=stats, top=top)


def _missing_shards(shards: set[str]) -> list[str]:
    ns = {s.split("/")[1] for s in shards if "/" in s}
    if len(ns) != 1:
        return []
    n = int(ns.pop())
    have = {int(s.split("/")[0]) for s in shards}
    return [f"{i}/{n}" for i in range(1, n + 1) if i not in have]


__all__ = ["merge_files", "read_result"]
