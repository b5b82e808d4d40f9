"""An eStargz blob read the hard way, independently of imgopt's writer: gzip
members walked with zlib, the footer and the TOC parsed by hand, the tar
stream read with the standard library's tarfile.

Spec: containerd/stargz-snapshotter docs/estargz.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass

TOC_NAME = "stargz.index.json"
PREFETCH = ".prefetch.landmark"
NO_PREFETCH = ".no.prefetch.landmark"
FOOTER_SIZE = 51
# every TOCEntry property the spec defines (docs/estargz.md, "TOC and TOCEntries")
SPEC_FIELDS = {"name", "type", "size", "modtime", "linkName", "mode", "uid", "gid", "userName", "groupName",
               "devMajor", "devMinor", "xattrs", "digest", "offset", "chunkOffset", "chunkSize", "chunkDigest",
               "innerOffset"}
SPEC_TYPES = {"dir", "reg", "symlink", "hardlink", "char", "block", "fifo", "chunk"}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def member_starts(blob: bytes) -> list[int]:
    """Offsets of every gzip member of ``blob`` (fed in pieces: no quadratic copies)."""
    starts, pos, view = [], 0, memoryview(blob)
    while pos < len(blob):
        starts.append(pos)
        d = zlib.decompressobj(31)
        fed = pos
        while not d.eof:
            if fed >= len(blob):
                raise AssertionError(f"gzip member at {pos} is truncated")
            piece = view[fed:fed + 65536]
            fed += len(piece)
            d.decompress(piece)
        pos = fed - len(d.unused_data)
    return starts


def member_bytes(blob: bytes, offset: int, n: int) -> bytes:
    """The first ``n`` uncompressed bytes of the gzip member starting at ``offset``."""
    d = zlib.decompressobj(31)
    out, fed, view = b"", offset, memoryview(blob)
    while len(out) < n and not d.eof and fed < len(blob):
        piece = view[fed:fed + 65536]
        fed += len(piece)
        out += d.decompress(piece, n - len(out))
        while d.unconsumed_tail and len(out) < n:
            out += d.decompress(d.unconsumed_tail, n - len(out))
    return out[:n]


@dataclass
class Estargz:
    toc: dict
    toc_json: bytes
    toc_offset: int
    members: list[int]  # gzip member offsets
    tar_order: list[str]  # entry names as the tar stream holds them (dirs without the trailing slash)
    files: dict[str, bytes]  # regular file contents from the tar stream
    diff_id: str  # sha256 of the whole uncompressed stream
    tar_size: int  # its length
    blob: bytes


def parse(blob: bytes) -> Estargz:
    foot = blob[-FOOTER_SIZE:]
    # an empty gzip member, FLG.FEXTRA, XLEN 26, subfield "SG" of 22 bytes: %016x of the TOC offset + "STARGZ"
    assert foot[:4] == b"\x1f\x8b\x08\x04", "footer: not a gzip header with FEXTRA"
    assert struct.unpack("<H", foot[10:12])[0] == 26 and foot[12:14] == b"SG"
    assert struct.unpack("<H", foot[14:16])[0] == 22 and foot[32:38] == b"STARGZ"
    assert zlib.decompressobj(31).decompress(foot) == b"", "footer member is not empty"
    toc_offset = int(foot[16:32], 16)
    members = member_starts(blob)
    assert toc_offset in members and members[-1] == len(blob) - FOOTER_SIZE
    # the TOC member: a tar holding stargz.index.json, then the end of the archive
    d = zlib.decompressobj(31)
    toc_tar = d.decompress(blob[toc_offset:len(blob) - FOOTER_SIZE])
    assert d.eof and not d.unused_data, "the TOC member is not alone before the footer"
    with tarfile.open(fileobj=io.BytesIO(toc_tar)) as tf:
        (ti,) = tf.getmembers()
        assert ti.name == TOC_NAME
        toc_json = tf.extractfile(ti).read()  # type: ignore[union-attr]
    toc = json.loads(toc_json)
    # the whole blob is one ordinary gzip stream of one tar
    raw = _gunzip_all(blob, members)
    order, files = [], {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        for m in tf:
            order.append(m.name.rstrip("/"))
            if m.isreg():
                files[m.name] = tf.extractfile(m).read()  # type: ignore[union-attr]
    assert order[-1] == TOC_NAME, "the TOC is not the last tar entry"
    return Estargz(toc, toc_json, toc_offset, members, order, files, sha(raw), len(raw), blob)


def _gunzip_all(blob: bytes, starts: list[int]) -> bytes:
    """Every member decompressed, concatenated (each from its own slice: linear time)."""
    view, out = memoryview(blob), []
    for a, b in zip(starts, starts[1:] + [len(blob)]):
        d = zlib.decompressobj(31)
        out.append(d.decompress(view[a:b]))
        assert d.eof and not d.unused_data, f"gzip member at {a} does not end at {b}"
    return b"".join(out)


def spec_problems(e: Estargz) -> list[str]:
    """What in the TOC breaks the spec: unknown fields, missing or wrong digests, offsets off a member."""
    bad: list[str] = []
    members = set(e.members)
    toc_names = []
    if e.toc.get("version") != 1:
        bad.append(f"version {e.toc.get('version')!r}")
    entries = e.toc["entries"]
    i = 0
    while i < len(entries):
        ent = entries[i]
        extra = set(ent) - SPEC_FIELDS
        if extra:
            bad.append(f"{ent.get('name')}: fields outside the spec {sorted(extra)}")
        if ent.get("type") not in SPEC_TYPES:
            bad.append(f"{ent.get('name')}: type {ent.get('type')!r}")
        for req in ("name", "type", "mode", "uid", "gid"):
            if ent.get("type") != "chunk" and req not in ent:
                bad.append(f"{ent.get('name')}: no {req}")
        if ent["type"] == "chunk":
            bad.append(f"{ent['name']}: a chunk without its reg entry")
            i += 1
            continue
        toc_names.append(ent["name"].rstrip("/"))
        if ent["type"] == "reg" and ent.get("size"):
            chunks = [ent]
            while i + 1 < len(entries) and entries[i + 1]["type"] == "chunk":
                i += 1
                chunks.append(entries[i])
            content = e.files.get(ent["name"])
            if content is None or len(content) != ent["size"]:
                bad.append(f"{ent['name']}: size {ent['size']} but the tar holds {len(content or b'')} bytes")
                i += 1
                continue
            if ent.get("digest") != sha(content):
                bad.append(f"{ent['name']}: digest does not match the file's contents")
            got = b""
            for k, c in enumerate(chunks):
                if c["name"] != ent["name"]:
                    bad.append(f"{c['name']}: chunk of another file after {ent['name']}")
                start = c.get("chunkOffset", 0)
                size = c.get("chunkSize", 0) or ent["size"] - start
                if (c.get("chunkSize", 0) == 0) != (k == len(chunks) - 1):
                    bad.append(f"{ent['name']}: chunkSize 0 must mark the last chunk only")
                if c.get("offset") not in members:
                    bad.append(f"{ent['name']}: chunk offset {c.get('offset')} is not a gzip member's start")
                    continue
                data = member_bytes(e.blob, c["offset"], c.get("innerOffset", 0) + size)
                data = data[c.get("innerOffset", 0):]
                if start != len(got) or data != content[start:start + size]:
                    bad.append(f"{ent['name']}: chunk at {start} holds other bytes than the file")
                if c.get("chunkDigest") != sha(data):
                    bad.append(f"{ent['name']}: chunkDigest of the chunk at {start} does not verify")
                got += data
            if got != content:
                bad.append(f"{ent['name']}: the chunks do not make up the file")
        i += 1
    if toc_names != e.tar_order[:-1]:
        bad.append("the TOC's entries are not the tar stream's, in its order")
    return bad


def check(blob: bytes) -> tuple[Estargz, list[str]]:
    e = parse(blob)
    return e, spec_problems(e)


def prefetched(e: Estargz) -> list[str] | None:
    """Names before ``.prefetch.landmark`` in the tar stream (None: the layer has no prefetch landmark)."""
    if PREFETCH not in e.tar_order:
        return None
    return e.tar_order[:e.tar_order.index(PREFETCH)]
