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


def _groups_of_size(size: int, files, digest_of, tree) -> list[DuplicateGroup]:
    """The groups among ``files`` (all of one size, in layer order), visibility read off ``tree``."""
    by_digest: dict[bytes, list[StoredFile]] = defaultdict(list)
    for sf in files:  # only files whose sizes collide are compared by content
        by_digest[digest_of(sf)].append(sf)
    groups = []
    for digest, same in by_digest.items():
        if len(same) < 2:
            continue
        copies = []
        for sf in same:
            node = tree.get(sf.path)
            visible = node is not None and node.kind is Kind.FILE and node.layer == sf.layer
            copies.append(Copy(sf.path, sf.layer, visible))
        # a path stored twice in one layer: only the last entry is visible
        seen: set[tuple[str, int]] = set()
        for c in reversed(copies):
            if c.visible and (c.path, c.layer) in seen:
                c.visible = False
            seen.add((c.path, c.layer))
        groups.append(DuplicateGroup(size, digest.hex(), copies))
    return groups


def _order(g: DuplicateGroup) -> tuple:
    return (-g.reclaimable, g.copies[0].path, g.size, g.digest)


def find_duplicates(scan: Scan, min_size: int = 1) -> DuplicateReport:
    if min_size >= 1 and scan.chain is not None and scan.lower_tree is not None and None not in scan.chain:
        return _incremental(scan, min_size)
    by_size = _by_size(scan, min_size)
    rep = DuplicateReport()
    for size, files in by_size.items():
        if len(files) < 2:
            continue
        rep.files_hashed += len(files)
        rep.bytes_hashed += size * len(files)
        rep.groups += _groups_of_size(size, files, scan.content.digest, scan.tree)
    rep.groups.sort(key=_order)
    return rep


# ----------------------------------------------------------- images that share lower layers


@dataclass
class _State:
    """The duplicates of a chain of lower layers, against the merged tree of that chain.  Immutable."""

    by_size: dict  # size -> tuple of StoredFile (layer order)
    groups: dict  # size -> tuple of DuplicateGroup (sizes with a group only)
    files_hashed: int = 0
    bytes_hashed: int = 0


_EMPTY = _State({}, {})


class _Memo:
    """Per-process: the duplicates of each chain of lower layers kept (least recently used out)."""

    MAX = 24

    def __init__(self) -> None:
        from collections import OrderedDict

        self.states: "OrderedDict[tuple, _State]" = OrderedDict()

    def longest(self, chain: tuple, upto: int, min_size: int) -> tuple[int, _State]:
        for k in range(upto, 0, -1):
            got = self.states.get((chain[:k], min_size))
            if got is not None:
                self.states.move_to_end((chain[:k], min_size))
                return k, got
        return 0, _EMPTY

    def keep(self, chain: tuple, min_size: int, state: _State) -> None:
        self.states[(chain, min_size)] = state
        while len(self.states) > self.MAX:
            self.states.popitem(last=False)

    def clear(self) -> None:
        self.states.clear()


MEMO = _Memo()


def _extend(base: _State, new_files: list[StoredFile], since: int, tree, digest_of, min_size: int,
            keep: bool = False) -> _State:
    """``base`` (layers below ``since``) with the layers from ``since`` on: ``new_files`` are theirs, ``tree``
    the merged tree with them.  Only the sizes they add to, and the sizes whose copies they hid, are
    looked at again: a copy below ``since`` that was hidden stays hidden, one that was visible is hidden
    now exactly when ``tree`` records its bytes as hidden by a layer from ``since`` on."""
    touched: dict[int, list[StoredFile]] = {}
    for sf in new_files:
        if sf.size >= min_size:
            got = touched.get(sf.size)
            if got is None:
                got = touched[sf.size] = list(base.by_size.get(sf.size, ()))
            got.append(sf)
    for h in reversed(tree.hidden):  # appended layer by layer: the layers from `since` on are at the end
        if h.by < since:
            break
        if h.origin < since and h.size >= min_size and h.size in base.groups:
            touched.setdefault(h.size, list(base.by_size[h.size]))
    groups = dict(base.groups)
    files_hashed, bytes_hashed = base.files_hashed, base.bytes_hashed
    for size, files in touched.items():
        before = len(base.by_size.get(size, ()))
        if before >= 2:
            files_hashed -= before
            bytes_hashed -= size * before
        if len(files) >= 2:
            files_hashed += len(files)
            bytes_hashed += size * len(files)
        got = _groups_of_size(size, files, digest_of, tree) if len(files) >= 2 else []
        if got:
            groups[size] = tuple(got)
        else:
            groups.pop(size, None)
    by_size = base.by_size
    if keep:  # the state of a chain other images may start from
        by_size = dict(by_size)
        by_size.update((size, tuple(files)) for size, files in touched.items())
    return _State(by_size, groups, files_hashed, bytes_hashed)


def _incremental(scan: Scan, min_size: int) -> DuplicateReport:
    """:func:`find_duplicates` from the state of the longest chain of lower layers seen before (the same
    report; tests/test_merge_memo.py)."""
    chain, n = scan.chain, len(scan.layers)
    assert chain is not None and scan.lower_tree is not None
    digest_of = scan.content.digest
    k, state = MEMO.longest(chain, n - 1, min_size)
    top = n - 1
    # the chains below the top layer, one layer at a time, for the next images: an image on another branch
    # of the same base then starts from the base's state, not from nothing (each prefix extended once)
    while k < top and (lower := scan.lower_tree(k + 1)) is not None:
        state = _extend(state, scan.layers[k].files, k, lower, digest_of, min_size, keep=True)
        k += 1
        MEMO.keep(chain[:k], min_size, state)
    final = _extend(state, [sf for ls in scan.layers[k:] for sf in ls.files], k, scan.tree, digest_of, min_size)
    rep = DuplicateReport(files_hashed=final.files_hashed, bytes_hashed=final.bytes_hashed)
    rep.groups = [g for gs in final.groups.values() for g in gs]
    rep.groups.sort(key=_order)
    return rep
