"""Write new layers from planned entries: plain tar (gzip / zstd / none) or eStargz.

Entries are written deterministically: PAX headers with each file's original
mode, owner, mtime, link target, device numbers and xattrs; the order given
by the layout.  The gzip and zstd output depends only on the input and level.

eStargz (containerd/stargz-snapshotter docs/estargz.md): every non-empty
regular file's payload starts a new gzip member (large files are chunked,
each chunk a member); prioritized files come first, followed by
``.prefetch.landmark`` (or ``.no.prefetch.landmark`` first when nothing is
prioritized); the TOC ``stargz.index.json`` is the last tar entry in its own
member, its entries holding only the spec's fields; a 51-byte footer gzip
member records the TOC offset.  The blob is still one valid gzip stream of
one valid tar, so any runtime can pull it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Iterable

from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK, Compression, CompressingWriter, _deflate_mod
from imgopt.image.digest import HashingWriter
from imgopt.image.model import Descriptor, Layer, file_opener
from imgopt.image.tarstream import Kind

TOC_NAME = "stargz.index.json"
PREFETCH_LANDMARK = ".prefetch.landmark"
NO_PREFETCH_LANDMARK = ".no.prefetch.landmark"
TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size"
ESTARGZ_CHUNK = 4 << 20
BLOCK = 512


@dataclass
class OutEntry:
    """One entry of a layer to write."""

    path: str  # relative, no leading slash
    kind: Kind
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] | None = None
    content: Callable[[], BinaryIO] | None = None  # regular files


def tar_header(e: OutEntry) -> bytes:
    ti = tarfile.TarInfo(e.path + ("/" if e.kind is Kind.DIR and e.path else ""))
    ti.type = {Kind.FILE: tarfile.REGTYPE, Kind.DIR: tarfile.DIRTYPE, Kind.SYMLINK: tarfile.SYMTYPE,
               Kind.HARDLINK: tarfile.LNKTYPE, Kind.CHAR: tarfile.CHRTYPE, Kind.BLOCK: tarfile.BLKTYPE,
               Kind.FIFO: tarfile.FIFOTYPE, Kind.WHITEOUT: tarfile.REGTYPE, Kind.OPAQUE: tarfile.REGTYPE}[e.kind]
    ti.mode = e.mode & 0o7777
    ti.uid, ti.gid, ti.mtime = e.uid, e.gid, e.mtime
    ti.uname, ti.gname = e.uname, e.gname
    ti.size = e.size if e.kind is Kind.FILE else 0
    ti.linkname = e.linkname
    ti.devmajor, ti.devminor = e.devmajor, e.devminor
    if e.xattrs:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in sorted(e.xattrs.items())}
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _pad(n: int) -> bytes:
    return b"\0" * ((BLOCK - n % BLOCK) % BLOCK)


@dataclass
class WrittenLayer:
    layer: Layer
    entries: int
    uncompressed_size: int
    toc_digest: str | None = None
    prioritized: int = 0


def content_chunks(e: OutEntry, chunk: int = CHUNK):
    """A regular file's ``e.size`` bytes from its content, in pieces (OSError if the content is short)."""
    if not e.size:
        return
    assert e.content is not None, e.path
    left = e.size
    with e.content() as f:
        while left > 0:
            b = f.read(min(chunk, left))
            if not b:
                raise OSError(f"short content for {e.path}")
            yield b
            left -= len(b)


def _copy_content(e: OutEntry, sink: Callable[[bytes], None]) -> None:
    for b in content_chunks(e):
        sink(b)


def write_plain_layer(entries: Iterable[OutEntry], codec: Compression, level: int | None, workdir: str,
                      subject: str) -> WrittenLayer:
    fd, path = tempfile.mkstemp(prefix="layer-", dir=workdir)
    n = 0
    with os.fdopen(fd, "wb") as out:
        blob = HashingWriter(out)
        comp = CompressingWriter(blob, codec, level)
        tar = HashingWriter(comp)
        for e in entries:
            n += 1
            tar.write(tar_header(e))
            if e.kind is Kind.FILE and e.size:
                _copy_content(e, tar.write)
                tar.write(_pad(e.size))
        tar.write(b"\0" * (2 * BLOCK))
        comp.close()
    desc = Descriptor(mt.layer_media_type("oci", codec), blob.digest, blob.size)
    layer = Layer(desc, tar.digest, file_opener(path), subject, compression=codec, uncompressed_size=tar.size)
    layer.local = (path, 0, blob.size)
    layer.verified = True  # written here: digests computed from the bytes written
    return WrittenLayer(layer, n, tar.size)


# ------------------------------------------------------------------- eStargz


class _Members:
    """Concatenated gzip members written to a file; offsets in compressed bytes."""

    def __init__(self, out: HashingWriter, level: int):
        self.out = out
        self.level = level
        self.c = None
        self.crc = 0
        self.isize = 0
        self.tar = hashlib.sha256()  # the uncompressed stream: the diffID
        self.tar_size = 0

    @property
    def offset(self) -> int:
        return self.out.size

    def open(self) -> None:
        if self.c is None:
            # fixed header: no name, mtime 0, XFL 0, OS 255 (unknown): deterministic
            self.out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
            self.c = _deflate_mod.compressobj(self.level, _deflate_mod.DEFLATED, -15)
            self.crc = 0
            self.isize = 0

    def write(self, data: bytes) -> None:
        self.open()
        assert self.c is not None
        self.crc = zlib.crc32(data, self.crc)
        self.isize += len(data)
        self.tar.update(data)
        self.tar_size += len(data)
        out = self.c.compress(data)
        if out:
            self.out.write(out)

    def close(self) -> None:
        if self.c is None:
            return
        self.out.write(self.c.flush())
        self.out.write(struct.pack("<II", self.crc & 0xFFFFFFFF, self.isize & 0xFFFFFFFF))
        self.c = None


def footer(toc_offset: int) -> bytes:
    """The 51-byte eStargz footer: an empty gzip member carrying the TOC offset."""
    extra = b"SG" + struct.pack("<H", 22) + b"%016xSTARGZ" % toc_offset
    head = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<H", len(extra)) + extra
    return head + b"\x01\x00\x00\xff\xff" + struct.pack("<II", 0, 0)


def _modtime(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


_TOC_TYPE = {Kind.DIR: "dir", Kind.FILE: "reg", Kind.SYMLINK: "symlink", Kind.HARDLINK: "hardlink",
             Kind.CHAR: "char", Kind.BLOCK: "block", Kind.FIFO: "fifo"}


def _landmark(name: str) -> OutEntry:
    return OutEntry(name, Kind.FILE, 0o644, size=1, content=lambda: io.BytesIO(b"\x0f"))


def write_estargz_layer(entries: list[OutEntry], prioritized: int, level: int | None, workdir: str,
                        subject: str, chunk_size: int = ESTARGZ_CHUNK) -> WrittenLayer:
    """An eStargz layer: ``entries[:prioritized]`` are prefetched at mount."""
    level = Compression.GZIP.check_level(level)
    if prioritized:
        ordered = entries[:prioritized] + [_landmark(PREFETCH_LANDMARK)] + entries[prioritized:]
    else:
        ordered = [_landmark(NO_PREFETCH_LANDMARK)] + entries
    fd, path = tempfile.mkstemp(prefix="estargz-", dir=workdir)
    toc: list[dict] = []
    with os.fdopen(fd, "wb") as out:
        blob = HashingWriter(out)
        m = _Members(blob, level)
        for e in ordered:
            ent: dict = {"name": e.path + ("/" if e.kind is Kind.DIR and e.path else ""), "type": _TOC_TYPE[e.kind],
                         "mode": e.mode & 0o7777, "uid": e.uid, "gid": e.gid}  # the tar header's mode
            if e.mtime:
                ent["modtime"] = _modtime(e.mtime)
            if e.uname:
                ent["userName"] = e.uname
            if e.gname:
                ent["groupName"] = e.gname
            if e.linkname:
                ent["linkName"] = e.linkname
            if e.kind in (Kind.CHAR, Kind.BLOCK):
                ent["devMajor"], ent["devMinor"] = e.devmajor, e.devminor
            if e.xattrs:
                ent["xattrs"] = {k: base64.b64encode(v.encode("utf-8", "surrogateescape")).decode()
                                 for k, v in sorted(e.xattrs.items())}
            m.write(tar_header(e))
            if e.kind is Kind.FILE and e.size:
                ent["size"] = e.size
                chunks, ent["digest"] = _write_chunks(e, m, chunk_size)
                ent.update(chunks[0])
                toc.append(ent)
                for c in chunks[1:]:
                    toc.append({"name": ent["name"], "type": "chunk", **c})
                m.write(_pad(e.size))
            else:
                toc.append(ent)
        # the TOC: its own member, then the tar end
        m.close()
        toc_offset = m.offset
        toc_json = json.dumps({"version": 1, "entries": toc}, separators=(",", ":"), sort_keys=False).encode()
        ti = tarfile.TarInfo(TOC_NAME)
        ti.size, ti.mode = len(toc_json), 0o644
        m.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        m.write(toc_json + _pad(len(toc_json)))
        m.write(b"\0" * (2 * BLOCK))
        m.close()
        blob.write(footer(toc_offset))
    toc_digest = "sha256:" + hashlib.sha256(toc_json).hexdigest()
    diff_id = "sha256:" + m.tar.hexdigest()
    desc = Descriptor(mt.OCI_LAYER_GZIP, blob.digest, blob.size,
                      annotations={TOC_DIGEST_ANNOTATION: toc_digest,
                                   UNCOMPRESSED_SIZE_ANNOTATION: str(m.tar_size)})
    layer = Layer(desc, diff_id, file_opener(path), subject, compression=Compression.GZIP,
                  uncompressed_size=m.tar_size)
    layer.local = (path, 0, blob.size)
    layer.verified = True
    return WrittenLayer(layer, len(ordered), m.tar_size, toc_digest, prioritized)


def _write_chunks(e: OutEntry, m: _Members, chunk_size: int) -> tuple[list[dict], str]:
    """Payload of a regular file, each chunk starting a gzip member: the chunks' TOC
    fields (offset, chunkOffset, chunkSize, chunkDigest) and the whole file's digest."""
    chunks: list[dict] = []
    whole = hashlib.sha256()
    assert e.content is not None
    left = e.size
    pos = 0
    with e.content() as f:
        while left > 0:
            n = min(chunk_size, left)
            m.close()
            start = m.offset
            h = hashlib.sha256()
            got = 0
            while got < n:
                b = f.read(min(CHUNK, n - got))
                if not b:
                    raise OSError(f"short content for {e.path}")
                m.write(b)
                h.update(b)
                whole.update(b)
                got += len(b)
            left -= n
            # the spec's fields, as the reference writer (estargz.Writer) spells them: chunkOffset
            # left out when 0 (the first chunk), chunkSize 0 on the last chunk or an unchunked file
            c: dict = {"offset": start}
            if pos:
                c["chunkOffset"] = pos
            c["chunkSize"] = n if left else 0
            c["chunkDigest"] = "sha256:" + h.hexdigest()
            chunks.append(c)
            pos += n
    return chunks, "sha256:" + whole.hexdigest()
