"""An image's :class:`~imgopt.analyze.scan.Scan`, merged from its layers' summaries (no blob is read).

The merged tree is built by applying each summary's entry table in layer
order, exactly as a scan of the blobs would; the per-layer records (dive's
entry lists, stored files with their content hashes) and the content the
analyses consult (heads of scripts and configuration files, ELF facts) come
from the same rows.  :func:`~imgopt.analyze.build_result` then runs on it
unchanged, so an analysis merged from cached summaries is the analysis.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

from imgopt.analyze.scan import LayerScan, Scan, StoredFile
from imgopt.analyze import summary as S
from imgopt.image.executable import ElfInfo
from imgopt.image.filetree import FileTree, LayerChanges
from imgopt.image.model import Image


class SummaryContent:
    """What :class:`~imgopt.analyze.scan.Content` answers, from the summaries' kept heads and ELF facts."""

    def __init__(self) -> None:
        self.heads: dict[tuple[int, str], bytes] = {}
        self.elf: dict[tuple[int, str], ElfInfo | None] = {}
        self._elf_rows: dict[tuple[int, str], tuple] = {}

    def is_seekable(self, layer: int) -> bool:
        return False

    def read(self, layer: int, path: str, n: int = -1) -> bytes | None:
        head = self.heads.get((layer, path))
        if head is not None and 0 <= n <= len(head):
            return head[:n]
        return head

    def open(self, layer: int, path: str) -> BinaryIO | None:
        return None

    def elf_info(self, layer: int, path: str) -> ElfInfo | None:
        key = (layer, path)
        if key not in self.elf:
            self.elf[key] = S.elf_of(self._elf_rows.get(key))
        return self.elf[key]

    def digest(self, sf: StoredFile) -> bytes:
        assert sf.digest is not None  # every regular file of a summary is hashed
        return sf.digest

    def close(self) -> None:
        pass


class _Prefixes:
    """Per-process memo of merged chains of lower layers (by their diffIDs): a copy-on-write
    snapshot of the tree, the layers' records and content.  An image on a known base chain is
    merged from there, paying only for its own upper layers (least recently used out)."""

    MAX = 24

    def __init__(self) -> None:
        from collections import OrderedDict

        self.snaps: "OrderedDict[tuple, tuple]" = OrderedDict()

    def longest(self, chain: list) -> tuple[int, tuple | None]:
        for k in range(len(chain) - 1, 0, -1):
            got = self.snaps.get(tuple(chain[:k]))
            if got is not None:
                self.snaps.move_to_end(tuple(chain[:k]))
                return k, got
        return 0, None

    def keep(self, chain: tuple, snap: tuple) -> None:
        self.snaps[chain] = snap
        self.snaps.move_to_end(chain)
        while len(self.snaps) > self.MAX:
            self.snaps.popitem(last=False)


_PREFIXES = _Prefixes()


def merged_scan(image: Image, summaries: list[S.LayerSummary]) -> Scan:
    """The Scan of ``image`` from one summary per layer (in layer order)."""
    if len(summaries) != len(image.layers):
        raise ValueError("one summary per layer")
    chain = [(s.diff_id, l.archive_link) for s, l in zip(summaries, image.layers)]
    start, snap = _PREFIXES.longest(chain)
    content = SummaryContent()
    if snap is None:
        tree = FileTree()
        scans: list[LayerScan] = []
        problems: list[tuple[int, str, str]] = []
    else:
        base, base_scans, heads, elves, base_problems = snap
        tree, scans, problems = base.fork(), list(base_scans), list(base_problems)
        content.heads.update(heads)
        content._elf_rows.update(elves)
    for i in range(start, len(summaries)):
        layer, s = image.layers[i], summaries[i]
        ls = LayerScan(i, LayerChanges(i), False)
        problems += [(i, n, p) for n, p in s.problems]
        ls.changes = tree.apply(i, _entries(i, s, ls, content))
        ls.tar_bytes = s.tar_bytes
        if layer.archive_link:
            ls.dive = []  # dive reads the link's empty body: an empty layer
        scans.append(ls)
        if i + 1 < len(summaries):  # a chain of lower layers other images may share
            _PREFIXES.keep(tuple(chain[: i + 1]), (tree.fork(), tuple(scans), dict(content.heads),
                                                  dict(content._elf_rows), tuple(problems)))
    key = tuple(chain)

    def lower_tree(j: int) -> FileTree | None:
        got = _PREFIXES.snaps.get(key[:j])
        return got[0] if got is not None else None

    return Scan(image, tree, scans, content, problems, key, lower_tree)  # type: ignore[arg-type]


def _entries(i: int, s: S.LayerSummary, ls: LayerScan, content: SummaryContent) -> Iterator:
    entry_of, dive, files = S.entry_of, ls.dive, ls.files
    heads, elves = content.heads, content._elf_rows
    for row in s.rows():
        path = row[S.PATH]
        if path:
            dive.append((path, row[S.HDR], row[S.KIND] == S.DIR_CODE))
        if row[S.KIND] == S.FILE_CODE:
            digest = row[S.DIGEST]
            files.append(StoredFile(i, path, row[S.SIZE], -1, digest))
            if row[S.HEAD_] is not None:
                heads[(i, path)] = row[S.HEAD_]
            if row[S.ELF] is not None:
                elves[(i, path)] = row[S.ELF]
            yield entry_of(row), digest
        else:
            yield entry_of(row), None


def _dive_list(s: S.LayerSummary) -> list[tuple[str, int, bool]]:
    return [(r[S.PATH], r[S.HDR], r[S.KIND] == S.DIR_CODE) for r in s.rows() if r[S.PATH]]


def dive_from_summaries(summaries: list[S.LayerSummary], links: list[bool]):
    """dive_compat over the summaries; what depends on a layer only is memoized by its diffID."""
    from imgopt.analyze.dive_compat import dive_compat

    layers = [(lambda: []) if link else (lambda s=s: _dive_list(s)) for s, link in zip(summaries, links)]
    return dive_compat(layers, [(s.diff_id, link) for s, link in zip(summaries, links)])


class Done:
    """A finished value where a future is expected."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


__all__ = ["merged_scan", "SummaryContent", "dive_from_summaries", "Done"]
