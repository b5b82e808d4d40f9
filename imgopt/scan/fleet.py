"""Per-layer records and fleet totals, computed from the image records alone.

The same function serves a scan and ``imgopt scan merge`` (shards carry their
image records; layers and totals are recomputed over all of them), so a split
scan adds up to the scan it replaces.
"""

from __future__ import annotations

from collections import defaultdict

from imgopt.scan.result import (FleetTotals, ImageRecord, JunkTotal, LayerRecord, Ranked, ScanError, ScanResult,
                                ScanStats)


def assemble(images: list[ImageRecord], errors: list[ScanError], *, sources: list[str], shard: str | None,
             stats: ScanStats, top: int = 10) -> ScanResult:
    """The ScanResult of these images: sharing filled in, layers and totals computed, in a stable order."""
    images = sorted(images, key=lambda i: (i.repository, i.tag, i.reference))
    ok = [i for i in images if i.status == "ok"]
    users: dict[str, set[str]] = defaultdict(set)
    repos: dict[str, set[str]] = defaultdict(set)
    first: dict[str, tuple] = {}
    junk_max: dict[str, dict[str, int]] = defaultdict(dict)  # diff_id -> class -> bytes
    for img in ok:
        for l in img.layers:
            users[l.diff_id].add(img.reference)
            repos[l.diff_id].add(img.repository)
            first.setdefault(l.diff_id, (l, img.reference))
            for cls, b in l.junk.items():
                if b > junk_max[l.diff_id].get(cls, 0):
                    junk_max[l.diff_id][cls] = b
    for img in ok:
        seen: set[str] = set()
        img.shared_layers = img.shared_bytes = img.unique_bytes = 0
        for l in img.layers:
            if l.diff_id in seen:
                continue
            seen.add(l.diff_id)
            if len(users[l.diff_id]) > 1:
                img.shared_layers += 1
                img.shared_bytes += l.compressed_bytes
            else:
                img.unique_bytes += l.compressed_bytes
    layers = [LayerRecord(l.digest, d, l.compressed_bytes, l.uncompressed_bytes, l.entries, len(users[d]),
                          len(repos[d]), sum(junk_max[d].values()), l.created_by, example)
              for d, (l, example) in first.items()]
    layers.sort(key=lambda r: (-r.images, -r.compressed_bytes, r.diff_id))

    junk: dict[str, list[int]] = {}
    for img in ok:
        for cls, b in img.junk.items():
            t = junk.setdefault(cls, [0, 0, 0])
            if b:
                t[0] += 1
            t[1] += b
    for d, classes in junk_max.items():
        for cls, b in classes.items():
            junk.setdefault(cls, [0, 0, 0])[2] += b
    stored = sum(i.compressed_bytes for i in ok)
    unique = sum(r.compressed_bytes for r in layers)

    def cold(i: ImageRecord) -> float:
        return max((c.total_s for c in i.cold_start), default=0.0)

    fleet = FleetTotals(
        images=len(images), images_ok=len(ok), images_failed=len(images) - len(ok),
        repositories=len({i.repository for i in images}),
        layer_refs=sum(len(i.layers) for i in ok), distinct_layers=len(layers),
        stored_bytes=stored, unique_bytes=unique, dedup_ratio=round(stored / unique, 4) if unique else 1.0,
        uncompressed_stored_bytes=sum(i.uncompressed_bytes for i in ok),
        uncompressed_unique_bytes=sum(r.uncompressed_bytes for r in layers),
        removable_bytes=sum(i.removable_bytes for i in ok), exact_waste_bytes=sum(i.exact_waste_bytes for i in ok),
        junk=sorted((JunkTotal(c, t[0], t[1], t[2]) for c, t in junk.items() if t[1] or t[2]),
                    key=lambda j: (-j.bytes_in_layers, -j.bytes_in_images, j.id)),
        most_shared_layers=[r.diff_id for r in layers if r.images > 1][:top],
        top_removable=[Ranked(i.reference, i.removable_bytes)
                       for i in sorted(ok, key=lambda i: (-i.removable_bytes, i.reference))[:top]],
        top_cold_start=[Ranked(i.reference, cold(i))
                        for i in sorted((i for i in ok if i.cold_start), key=lambda i: (-cold(i), i.reference))[:top]],
    )
    errors = sorted(errors, key=lambda e: (e.source, e.repository or "", e.reference or "", e.error))
    partial = bool(errors) or fleet.images_failed > 0
    return ScanResult(sources, shard, partial, images, layers, fleet, errors, stats)


__all__ = ["assemble"]
