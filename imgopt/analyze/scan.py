"""One pass over an image's layers: merged tree, per-layer records, content access.

Two strategies, chosen per layer:

* **seekable** (a layer stored uncompressed in a local archive or layout, as
  ``docker save`` writes them): tar headers are read by seeking over the
  content, and the blob's SHA-256 is verified in a parallel thread (hashlib
  releases the GIL).  Content is read later, only where an analysis needs it:
  files whose sizes collide (duplicates), the entrypoint's ELF/script closure.
* **streaming** (compressed layers, registries): the layer is inflated once,
  front to back; every file is hashed (xxh3-128) as it passes, ELF files are
  spooled to a temporary file to read their dynamic section, and the first
  bytes of each file are kept for scripts (shebangs).

Either way the result is the same :class:`Scan`.
"""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

import xxhash

from imgopt.analyze.members import ELF_MAGIC, SPOOL_MEM, read_member
from imgopt.errors import BadInput
from imgopt.image.executable import ElfInfo, parse_elf
from imgopt.image.filetree import FileTree, LayerChanges, Node
from imgopt.image.fs import BoundedFile
from imgopt.image.model import Image, Layer
from imgopt.image.fasttar import Member, TarReader
from imgopt.image.tarstream import Entry, Kind, iter_entries
from imgopt.image.verify_write import remember

HEAD = 256  # bytes kept per script-like file


@dataclass(slots=True)
class StoredFile:
    """A regular file as stored in one layer (hidden later or not)."""

    layer: int
    path: str
    size: int
    offset: int  # content offset in the layer tar (seekable layers), else -1
    digest: bytes | None = None


@dataclass
class LayerScan:
    index: int
    changes: LayerChanges
    seekable: bool
    dive: list[tuple[str, int, bool]] = field(default_factory=list)  # (path, tar size, is dir) in tar order
    files: list[StoredFile] = field(default_factory=list)
    tar_bytes: int = 0  # uncompressed tar size


@dataclass
class Scan:
    image: Image
    tree: FileTree
    layers: list[LayerScan]
    content: "Content"
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (layer, path, problem)
    # merged from layer summaries (imgopt.analyze.merge): each layer's identity, and the merged tree of the
    # first j layers when the merge kept it (lower_tree(j)); analyses may then reuse what other images on
    # the same lower layers computed
    chain: tuple | None = None
    lower_tree: "Callable[[int], FileTree | None] | None" = None

    def close(self) -> None:
        self.content.close()


class Content:
    """Access to file content after the scan, by (layer, path)."""

    def __init__(self, image: Image):
        self._image = image
        self._seekable: dict[int, BinaryIO] = {}
        self.offsets: dict[tuple[int, str], tuple[int, int]] = {}  # seekable: (offset, size)
        self.heads: dict[tuple[int, str], bytes] = {}  # streaming: first bytes of scripts
        self.elf: dict[tuple[int, str], ElfInfo | None] = {}  # streaming: parsed ELF files

    def add_seekable(self, layer: int, f: BinaryIO) -> None:
        self._seekable[layer] = f

    def is_seekable(self, layer: int) -> bool:
        return layer in self._seekable

    def read(self, layer: int, path: str, n: int = -1) -> bytes | None:
        """Up to ``n`` bytes of a file (all with -1); None if unavailable."""
        key = (layer, path)
        if layer in self._seekable and key in self.offsets:
            off, size = self.offsets[key]
            f = self._seekable[layer]
            f.seek(off)
            return f.read(size if n < 0 else min(n, size))
        head = self.heads.get(key)
        if head is not None and (n >= 0 and n <= len(head)):
            return head[:n]
        return head

    def open(self, layer: int, path: str) -> BinaryIO | None:
        key = (layer, path)
        if layer in self._seekable and key in self.offsets:
            off, size = self.offsets[key]
            local = self._image.layers[layer].local
            if local is not None and size > SPOOL_MEM:
                return BoundedFile(local[0], local[1] + off, size)  # type: ignore[return-value]
            f = self._seekable[layer]
            f.seek(off)
            return io.BytesIO(f.read(size))
        return None

    def elf_info(self, layer: int, path: str) -> ElfInfo | None:
        key = (layer, path)
        if key in self.elf:
            return self.elf[key]
        head = self.read(layer, path, 4)
        if head != ELF_MAGIC:
            self.elf[key] = None
            return None
        f = self.open(layer, path)
        info = parse_elf(f) if f is not None else None
        self.elf[key] = info
        return info

    def digest(self, sf: StoredFile) -> bytes:
        if sf.digest is None:
            h = xxhash.xxh3_128()
            f = self._seekable[sf.layer]
            f.seek(sf.offset)
            left = sf.size
            while left > 0:
                b = f.read(min(left, 1 << 20))
                if not b:
                    raise BadInput(self._image.layers[sf.layer].subject, f"short read in {sf.path}")
                h.update(b)
                left -= len(b)
            sf.digest = h.digest()
        return sf.digest

    def close(self) -> None:
        for f in self._seekable.values():
            f.close()
        self._seekable.clear()


# ------------------------------------------------------------------ scanning


def worker_pool(jobs: int) -> ProcessPoolExecutor | None:
    """Worker processes for CPU work beside the parser (threads would fight it for the GIL).

    As many as ``jobs``: the parser waits on I/O and on the workers at the end,
    so one worker per core keeps both cores busy.
    """
    if jobs <= 1:
        return None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))


def scan_image(image: Image, *, progress: Callable[[int, int], None] | None = None,
               jobs: int = 2, pool: ProcessPoolExecutor | None = None, verify: bool = True) -> Scan:
    """Read every layer once; verify every blob; build the merged tree.

    ``verify=False`` skips the SHA-256 of layers read in place from local
    disk (streamed layers are always verified, at no extra cost).
    """
    tree = FileTree()
    content = Content(image)
    scans: list[LayerScan] = []
    problems: list[tuple[int, str, str]] = []
    total = sum(l.size for l in image.layers)
    own_pool = pool is None and verify and any(l.local for l in image.layers)
    if own_pool:
        pool = worker_pool(jobs)
    verifications: list[Future] = []
    try:
        seekable = {i: f for i, l in enumerate(image.layers) if (f := l.open_seekable_tar()) is not None}
        for i, f in seekable.items():
            content.add_seekable(i, f)
        if verify:  # hash every in-place layer in the workers while this process parses; biggest first
            for i in sorted(seekable, key=lambda i: -image.layers[i].size):
                fut = image.layers[i].verify(pool)
                if fut is not None:
                    verifications.append(fut)
        for i, layer in enumerate(image.layers):
            f = seekable.get(i)
            if f is not None:
                ls = _scan_seekable(i, layer, f, tree, content, problems)
            else:
                ls = _scan_stream(i, layer, tree, content, problems)
            if layer.archive_link:
                ls.dive = []  # dive reads the link's empty body: an empty layer
            scans.append(ls)
            if progress:
                progress(layer.size, total)
        for fut in verifications:
            fut.result()  # raises DigestMismatch
        for i, layer in enumerate(image.layers):  # read end to end and checked: sinks need not again
            if verify or i not in seekable:
                remember(layer)
    except BaseException:
        content.close()
        raise
    finally:
        if own_pool and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return Scan(image, tree, scans, content, problems)


def _record(e: Entry, m: Member, ls: LayerScan) -> None:
    """What dive's tree sees of an entry: the raw header size, whiteouts as leaves."""
    if e.path:  # dive's own tree drops opaque markers; dive_compat does that
        ls.dive.append((e.path, m.size, e.kind is Kind.DIR))


def _scan_seekable(i: int, layer: Layer, f: BinaryIO, tree: FileTree, content: Content,
                   problems: list) -> LayerScan:
    ls = LayerScan(i, LayerChanges(i), True)
    end = _size(f)

    def entries():
        for e, m, _reader in iter_entries(f, layer.subject, lambda n, p: problems.append((i, n, p)), seekable=True):
            _record(e, m, ls)
            if e.kind is Kind.FILE:
                if m.offset_data + e.size > end:
                    raise BadInput(layer.subject, f"tar archive is truncated inside {e.path}")
                ls.files.append(StoredFile(i, e.path, e.size, m.offset_data))
                content.offsets[(i, e.path)] = (m.offset_data, e.size)
            yield e, None
        ls.tar_bytes = end

    ls.changes = tree.apply(i, entries())
    return ls


def _size(f: BinaryIO) -> int:
    pos = f.tell()
    end = f.seek(0, 2)
    f.seek(pos)
    return end


def _scan_stream(i: int, layer: Layer, tree: FileTree, content: Content, problems: list) -> LayerScan:
    ls = LayerScan(i, LayerChanges(i), False)
    stream = layer.open_tar()

    def entries():
        for e, m, reader in iter_entries(stream, layer.subject, lambda n, p: problems.append((i, n, p))):
            _record(e, m, ls)
            digest = None
            if e.kind is Kind.FILE:
                digest = _read_member(i, e, reader, content)
                ls.files.append(StoredFile(i, e.path, e.size, -1, digest))
            yield e, digest
        stream.verify()
        ls.tar_bytes = stream.uncompressed_bytes

    try:
        ls.changes = tree.apply(i, entries())
    finally:
        stream.close()
    return ls


def _read_member(i: int, e: Entry, reader: TarReader, content: Content) -> bytes:
    """Hash a member while it streams by; keep what later analyses need."""
    digest, first, elf = read_member(reader.read_member, lambda f, size: parse_elf(f))
    key = (i, e.path)
    if first.startswith(ELF_MAGIC):
        content.elf[key] = elf
        content.heads[key] = first[:HEAD]
    elif first.startswith(b"#!") or e.path.startswith(KEEP_HEAD_PREFIXES):
        content.heads[key] = first[:64 << 10]
    return digest


# small text files analyses read whole (library search paths, OS identity)
KEEP_HEAD_PREFIXES = ("etc/ld.so.conf", "etc/os-release", "usr/lib/os-release", "etc/passwd", "etc/group")


def node_head(scan: Scan, node: Node, path: str, n: int = HEAD) -> bytes:
    """First bytes of the file at ``path`` in the merged tree ('' if unknown)."""
    data = scan.content.read(node.layer, path, n)
    return data or b""


__all__ = ["Scan", "LayerScan", "StoredFile", "Content", "scan_image", "node_head"]
