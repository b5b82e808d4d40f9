"""What one layer holds, read once: the per-layer summary an image's analysis is merged from.

A :class:`LayerSummary` depends on the layer's uncompressed tar only, so it
is keyed by the layer's diffID (the layer cache, :mod:`imgopt.cache`, stores
it; ``imgopt analyze`` and ``imgopt scan`` both use it).  It holds the
layer's *entry table*: one row per tar member with everything the analyses
that span layers need (the merged tree, exact and dive-compatible waste,
duplicates, junk on the final tree, the entrypoint's closure):

========  ==================================================================
column    what
========  ==================================================================
path      normalized path ("" is the root)
kind      index into :class:`~imgopt.image.tarstream.Kind`
size      content bytes (regular files)
mode..    mode, uid, gid, mtime, linkname, uname, gname, devmajor, devminor,
          xattrs (dict or None), target (whiteouts and opaque markers)
hdr       the raw tar header size (dive's figures use it)
digest    xxh3-128 of the content (regular files; duplicates)
head      the first bytes of scripts and ELF files (256) and of small files
          under etc/ (64 KiB: ld.so.conf and its includes, passwd, os-release)
elf       ELF facts: (class, machine, interp, needed, rpath, runpath,
          soname, static) for every ELF file
========  ==================================================================

Rows are packed in chunks of :data:`CHUNK_ROWS` (marshal, then zstd), so a
table of 100k+ entries is stored and moved compressed and decoded one chunk
at a time.  :data:`SUMMARY_SCHEMA` versions the content: bump it when a
column or the head policy changes, and every cached summary is recomputed.

Reading is one pass per layer: a layer stored uncompressed on local disk is
memory-mapped (headers parsed, file bodies hashed in place, the SHA-256 run
in a thread that releases the GIL); any other layer is streamed through its
decompressor once, verified against its digests at the end.
"""

from __future__ import annotations

import hashlib
import marshal
import mmap
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import xxhash

from imgopt.analyze.members import ELF_MAGIC, read_member
from imgopt.errors import BadInput, DigestMismatch
from imgopt.image.codecs import Compression
from imgopt.image.executable import ElfInfo, file_reader, read_elf
from imgopt.image.limits import MAX_TREE_ENTRIES
from imgopt.image.model import Layer
from imgopt.image.tarstream import Entry, Kind, iter_entries
from imgopt.image.verify_write import remember

SUMMARY_SCHEMA = 1
# the packing depends on marshal's format: a cache written by another one is a miss
FORMAT = f"marshal{marshal.version}-py{sys.version_info[0]}.{sys.version_info[1]}-zstd"
CHUNK_ROWS = 8192
ZSTD_LEVEL = 3

HEAD = 256  # bytes kept of scripts and ELF files (a shebang line, ELF magic)
ETC_HEAD = 64 << 10  # bytes kept of files under etc/ (configuration the analyses read)
ETC_PREFIXES = ("etc/", "usr/lib/os-release")

KINDS = list(Kind)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
FILE_CODE = KIND_CODE[Kind.FILE]
DIR_CODE = KIND_CODE[Kind.DIR]

# row columns
PATH, KIND, SIZE, MODE, UID, GID, MTIME, LINK, UNAME, GNAME, DEVMAJ, DEVMIN, XATTRS, TARGET, HDR, DIGEST, HEAD_, ELF = \
    range(18)


@dataclass
class BlobFacts:
    """What was learnt about the compressed blob a summary was read from (per digest, not per diffID)."""

    digest: str
    size: int
    compression: str  # as sniffed from the bytes
    push_gzip_bytes: int | None = None  # uncompressed blobs: the gzip-6 size a push would serve


@dataclass
class LayerSummary:
    diff_id: str
    tar_bytes: int  # uncompressed tar size
    entries: int
    files: int  # regular files
    file_bytes: int
    problems: list[tuple[str, str]]  # (member name, problem) found while decoding names
    chunks: list[bytes] = field(repr=False)  # the packed entry table
    verified: bool = True  # the bytes were checked against the layer's digests
    blob: BlobFacts | None = None
    schema: int = SUMMARY_SCHEMA

    @property
    def packed_bytes(self) -> int:
        return sum(len(c) for c in self.chunks)

    def rows(self) -> Iterator[tuple]:
        """The entry table, in tar order, decoded one chunk at a time."""
        import zstandard

        d = zstandard.ZstdDecompressor()
        for c in self.chunks:
            yield from marshal.loads(d.decompress(c))

    def header(self) -> dict[str, Any]:
        """The small fields (what the cache keeps beside the chunks)."""
        return {"tar_bytes": self.tar_bytes, "entries": self.entries, "files": self.files,
                "file_bytes": self.file_bytes, "problems": [list(p) for p in self.problems]}

    @classmethod
    def from_header(cls, diff_id: str, header: dict[str, Any], chunks: list[bytes]) -> "LayerSummary":
        return cls(diff_id, header["tar_bytes"], header["entries"], header["files"], header["file_bytes"],
                   [tuple(p) for p in header["problems"]], chunks)


def entry_of(row: tuple) -> Entry:
    return Entry(row[PATH], KINDS[row[KIND]], row[SIZE], row[MODE], row[UID], row[GID], row[MTIME], row[LINK],
                 row[UNAME], row[GNAME], row[DEVMAJ], row[DEVMIN], row[XATTRS] or {}, row[TARGET])


def elf_of(t: tuple | None) -> ElfInfo | None:
    if t is None:
        return None
    return ElfInfo(t[0], t[1], t[2], list(t[3]), list(t[4]), list(t[5]), t[6], t[7])


def _elf_tuple(info: ElfInfo | None) -> tuple | None:
    if info is None:
        return None
    return (info.elf_class, info.machine, info.interp, tuple(info.needed), tuple(info.rpath), tuple(info.runpath),
            info.soname, info.static)


def head_len(path: str, first: bytes) -> int:
    """How many first bytes of a regular file the summary keeps (0: none)."""
    if path.startswith(ETC_PREFIXES):
        return ETC_HEAD
    if first.startswith((ELF_MAGIC, b"#!")):
        return HEAD
    return 0


class _Packer:
    def __init__(self) -> None:
        import zstandard

        self._c = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.rows: list[tuple] = []
        self.chunks: list[bytes] = []

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.chunks.append(self._c.compress(marshal.dumps(self.rows)))
            self.rows = []


def _row(e: Entry, hdr: int, digest: bytes | None = None, head: bytes | None = None, elf: tuple | None = None):
    return (e.path, KIND_CODE[e.kind], e.size, e.mode, e.uid, e.gid, e.mtime, e.linkname, e.uname, e.gname,
            e.devmajor, e.devminor, e.xattrs or None, e.target, hdr, digest, head, elf)


# ------------------------------------------------------------------ reading


def summarize_layer(layer: Layer, *, verify: bool = True, push_gzip: bool = False,
                    counter: Callable[[int], None] | None = None) -> LayerSummary:
    """Read ``layer`` once and summarize it.

    ``verify=False`` skips the SHA-256 of a layer read in place from local
    disk (the summary is then marked unverified and must not be cached);
    streamed layers are always verified.  ``push_gzip``: for a layer stored
    uncompressed, also measure the gzip-6 size a push would serve (simulate).
    ``counter(n)`` is told of every blob byte read.
    """
    local = layer.local
    if local is not None and layer.compression is Compression.NONE and not push_gzip:
        return _summarize_mapped(layer, local, verify, counter)
    return _summarize_stream(layer, push_gzip, counter)


class _MemFile:
    """A read-only file over a memoryview (what the tar reader reads headers from)."""

    def __init__(self, view: memoryview):
        self._v, self._pos, self._n = view, 0, len(view)

    def read(self, n: int = -1) -> bytes:
        end = self._n if n < 0 else min(self._n, self._pos + n)
        b = bytes(self._v[self._pos:end])
        self._pos = end
        return b

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else self._n + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True


def _bound(layer: Layer, entries: int) -> None:
    """A hostile layer's table is bounded like the merged tree it feeds (imgopt.image.limits)."""
    if entries > MAX_TREE_ENTRIES:
        raise BadInput(layer.subject, f"the layer has more than {MAX_TREE_ENTRIES:,} tar entries; "
                                      "refusing to hold them all")


def _summarize_mapped(layer: Layer, local: tuple[str, int, int], verify: bool,
                      counter: Callable[[int], None] | None) -> LayerSummary:
    path, base, size = local
    desc = layer.descriptor
    if verify:
        if size != desc.size:
            raise DigestMismatch(layer.subject, f"blob is {size} bytes, descriptor says {desc.size}")
        if desc.digest != layer.diff_id:
            raise DigestMismatch(layer.subject, f"uncompressed layer's digest {desc.digest} is not its diffID "
                                                f"{layer.diff_id}")
    if size == 0:  # nothing to map: streamed (and verified) like any other blob, an empty layer
        return _summarize_stream(layer, False, counter)
    with open(path, "rb") as fh:
        start = base - base % mmap.ALLOCATIONGRANULARITY
        try:
            mm = mmap.mmap(fh.fileno(), base + size - start, offset=start, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as e:
            raise BadInput(layer.subject, f"cannot map the layer: {e}") from None
    view = memoryview(mm)[base - start: base - start + size]
    try:
        sha: dict[str, Any] = {}
        t = None
        if verify:
            alg = desc.digest.split(":", 1)[0]

            def hash_all() -> None:
                try:
                    sha["got"] = f"{alg}:{hashlib.new(alg, view).hexdigest()}"
                except BaseException as e:  # noqa: BLE001 - reported by the caller
                    sha["error"] = e

            t = threading.Thread(target=hash_all, daemon=True)
            t.start()
        try:
            summary = _table_mapped(layer, view)
        finally:
            if t is not None:
                t.join()
        if verify:
            if "error" in sha:
                raise BadInput(layer.subject, f"cannot read the layer: {sha['error']}")
            if sha["got"] != desc.digest:
                raise DigestMismatch(layer.subject, f"digest mismatch: content hashes to {sha['got']}, "
                                                    f"expected {desc.digest}")
            remember(layer)  # read end to end and checked: sinks need not again
        if counter:
            counter(size)
        summary.verified = verify
        summary.blob = BlobFacts(desc.digest, desc.size, Compression.NONE.value)
        return summary
    finally:
        view.release()
        try:
            mm.close()
        except BufferError:
            pass  # an error's traceback still holds slices of the map: it closes when they go, and the
            # error (a hostile layer's one line) is what the caller must see, not this


def _table_mapped(layer: Layer, view: memoryview) -> LayerSummary:
    i_problems: list[tuple[str, str]] = []
    pk = _Packer()
    end = len(view)
    entries = files = file_bytes = 0
    xxh = xxhash.xxh3_128_digest
    for e, m, _r in iter_entries(_MemFile(view), layer.subject, lambda n, p: i_problems.append((n, p)),
                                 seekable=True):
        entries += 1
        _bound(layer, entries)
        if e.kind is not Kind.FILE:
            pk.add(_row(e, m.size))
            continue
        off, sz = m.offset_data, e.size
        if off + sz > end:
            raise BadInput(layer.subject, f"tar archive is truncated inside {e.path}")
        files += 1
        file_bytes += sz
        body = view[off: off + sz]
        first = bytes(body[:4])
        n = head_len(e.path, first)
        elf = None
        if first == ELF_MAGIC:
            elf = _elf_tuple(read_elf(lambda o, k, b=body: b[o: o + k], sz))
        pk.add(_row(e, m.size, xxh(body), bytes(body[:n]) if n else None, elf))
    pk.flush()
    return LayerSummary(layer.diff_id, end, entries, files, file_bytes, i_problems, pk.chunks)


def _summarize_stream(layer: Layer, push_gzip: bool, counter: Callable[[int], None] | None) -> LayerSummary:
    problems: list[tuple[str, str]] = []
    pk = _Packer()
    entries = files = file_bytes = 0
    stream = layer.open_tar()
    gz = None
    src: Any = stream
    if push_gzip and layer.compression is Compression.NONE:
        from imgopt.simulate.workload import LEVELS, PUSH_CODEC, _Counter, _Tee

        gz = _Counter(PUSH_CODEC, LEVELS[PUSH_CODEC])
        src = _Tee(stream, [gz])
    try:
        for e, m, reader in iter_entries(src, layer.subject, lambda n, p: problems.append((n, p))):
            entries += 1
            _bound(layer, entries)
            if e.kind is not Kind.FILE:
                pk.add(_row(e, m.size))
                continue
            files += 1
            file_bytes += e.size
            digest, head, elf = _read_member(e, reader)
            pk.add(_row(e, m.size, digest, head, elf))
        while src.read(1 << 20):  # end-of-archive padding counts (sizes, the gzip estimate)
            pass
        stream.verify()
        remember(layer)
        tar_bytes = stream.uncompressed_bytes
    finally:
        stream.close()
    pk.flush()
    if counter:
        counter(layer.size)
    s = LayerSummary(layer.diff_id, tar_bytes, entries, files, file_bytes, problems, pk.chunks)
    s.blob = BlobFacts(layer.digest, layer.size, layer.compression.value, gz.finish() if gz else None)
    return s


def _read_member(e: Entry, reader) -> tuple[bytes, bytes | None, tuple | None]:
    """(xxh3-128, kept head, ELF facts) of the member streaming by."""
    digest, first, elf = read_member(reader.read_member, lambda f, size: _elf_tuple(read_elf(file_reader(f), size)))
    n = head_len(e.path, first[:4])
    return digest, first[:n] if n else None, elf


__all__ = ["LayerSummary", "BlobFacts", "summarize_layer", "SUMMARY_SCHEMA", "FORMAT", "entry_of", "elf_of",
           "head_len", "KINDS"]
