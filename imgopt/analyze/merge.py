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


def merged_scan(image: Image, summaries: list[S.LayerSummary]) -> Scan:
    """The Scan of ``image`` from one summary per layer (in layer order)."""
    if len(summaries) != len(image.layers):
        raise ValueError("one summary per layer")
    tree = FileTree()
    content = SummaryContent()
    scans: list[LayerScan] = []
    problems: list[tuple[int, str, str]] = []
    for i, (layer, s) in enumerate(zip(image.layers, summaries)):
        ls = LayerScan(i, LayerChanges(i), False)
        problems += [(i, n, p) for n, p in s.problems]
        ls.changes = tree.apply(i, _entries(i, s, ls, content))
        ls.tar_bytes = s.tar_bytes
        if layer.archive_link:
            ls.dive = []  # dive reads the link's empty body: an empty layer
        scans.append(ls)
    return Scan(image, tree, scans, content, problems)  # type: ignore[arg-type]


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


def dive_lists(summaries: list[S.LayerSummary], links: list[bool]) -> list[list[tuple[str, int, bool]]]:
    """dive's per-layer (path, tar size, is dir) lists, straight from the summaries."""
    out = []
    for s, link in zip(summaries, links):
        if link:
            out.append([])
            continue
        out.append([(r[S.PATH], r[S.HDR], r[S.KIND] == S.DIR_CODE) for r in s.rows() if r[S.PATH]])
    return out


def dive_from_summaries(summaries: list[S.LayerSummary], links: list[bool]):
    """dive_compat over the summaries (runs in a worker beside the merge)."""
    from imgopt.analyze.dive_compat import dive_compat

    return dive_compat(dive_lists(summaries, links))


__all__ = ["merged_scan", "SummaryContent", "dive_lists", "dive_from_summaries"]
