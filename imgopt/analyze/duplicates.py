"""Duplicate content: the same bytes at different paths or in different layers.

Only files whose sizes collide are compared, by their xxh3-128 content hash
(every layer summary hashes each regular file as it is read; a scan of a
seekable layer without summaries reads just the colliding files).
``files_hashed`` / ``bytes_hashed`` count the files so compared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from imgopt.analyze.scan import Scan, StoredFile
from imgopt.image.tarstream import Kind


@dataclass
class Copy:
    path: str
    layer: int
    visible: bool  # present in the final filesystem


@dataclass
class DuplicateGroup:
    size: int
    digest: str  # xxh3-128, hex
    copies: list[Copy]

    @property
    def reclaimable(self) -> int:
        """Bytes saved if every extra copy went (visible ones could be hardlinks; hidden ones are waste)."""
        return self.size * (len(self.copies) - 1)


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup] = field(default_factory=list)  # largest reclaimable first
    files_hashed: int = 0
    bytes_hashed: int = 0

    @property
    def reclaimable_bytes(self) -> int:
        return sum(g.reclaimable for g in self.groups)

    @property
    def visible_duplicate_bytes(self) -> int:
        """Extra copies that all remain visible at different paths of the final filesystem."""
        return sum(g.size * (sum(c.visible for c in g.copies) - 1)
                   for g in self.groups if sum(c.visible for c in g.copies) > 1)


def _by_size(scan: Scan, min_size: int) -> dict[int, list[StoredFile]]:
    by_size: dict[int, list[StoredFile]] = defaultdict(list)
    for ls in scan.layers:
        for sf in ls.files:
            if sf.size >= min_size:
                by_size[sf.size].append(sf)
    return by_size


def find_duplicates(scan: Scan, min_size: int = 1) -> DuplicateReport:
    by_size = _by_size(scan, min_size)
    rep = DuplicateReport()
    for size, files in by_size.items():
        if len(files) < 2:
            continue
        by_digest: dict[bytes, list[StoredFile]] = defaultdict(list)
        for sf in files:  # only files whose sizes collide are compared by content
            rep.files_hashed += 1
            rep.bytes_hashed += sf.size
            by_digest[scan.content.digest(sf)].append(sf)
        for digest, same in by_digest.items():
            if len(same) < 2:
                continue
            copies = []
            for sf in same:
                node = scan.tree.get(sf.path)
                visible = node is not None and node.kind is Kind.FILE and node.layer == sf.layer
                copies.append(Copy(sf.path, sf.layer, visible))
            # a path stored twice in one layer: only the last entry is visible
            seen: set[tuple[str, int]] = set()
            for c in reversed(copies):
                if c.visible and (c.path, c.layer) in seen:
                    c.visible = False
                seen.add((c.path, c.layer))
            rep.groups.append(DuplicateGroup(size, digest.hex(), copies))
    rep.groups.sort(key=lambda g: (-g.reclaimable, g.copies[0].path))
    return rep
