"""Byte-level builders for hostile layers and images (tests only).

``tarfile`` refuses to write most of what a hostile image holds (negative
sizes, bad checksums, base-256 device numbers, PAX ``mtime=inf``), so layers
are written header by header here.  Images are written as real files:
``docker save`` archives and OCI layouts, with every digest right unless a
case wants it wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import zstandard

BLOCK = 512
EPOCH = 1700000000
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_TAR = ROOT / "fixtures" / "sample.tar"
BUSYBOX_LAYER = "blobs/sha256/760d960a690888dcb9a5b78fc568741f0df69adc85b4fd5700f7cbf525a3d145"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ headers


def octal(n: int, width: int) -> bytes:
    """A NUL-terminated octal field, or GNU base-256 when it does not fit (negative too)."""
    digits = width - 1
    if 0 <= n < 8 ** digits:
        return f"{n:0{digits}o}".encode() + b"\0"
    if n < 0:
        n += 1 << (8 * width)  # two's complement; top bit set marks base-256
        return bytes([0xFF]) + n.to_bytes(width, "big")[1:]
    return bytes([0x80]) + n.to_bytes(width - 1, "big")


def header(name: str | bytes, typ: bytes = b"0", size: int = 0, *, mode: int = 0o644, uid: int = 0, gid: int = 0,
           mtime: int = EPOCH, linkname: str | bytes = "", devmajor: int = 0, devminor: int = 0,
           checksum_delta: int = 0) -> bytes:
    """One 512-byte ustar header.  Fields that do not fit are written base-256 (GNU)."""
    def b(s: str | bytes, n: int) -> bytes:
        raw = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
        return raw[:n].ljust(n, b"\0")

    fields = [
        b(name, 100), octal(mode, 8), octal(uid, 8), octal(gid, 8), octal(size, 12), octal(mtime, 12),
        b" " * 8, typ, b(linkname, 100), b"ustar\x00", b"00", b("root", 32), b("root", 32),
        octal(devmajor, 8), octal(devminor, 8), b"\0" * 155, b"\0" * 12,
    ]
    hdr = bytearray(b"".join(fields))
    assert len(hdr) == BLOCK, len(hdr)
    chk = sum(hdr) + checksum_delta
    hdr[148:156] = f"{chk:06o}".encode() + b"\0 "
    return bytes(hdr)


def pad(n: int) -> bytes:
    return b"\0" * ((BLOCK - n % BLOCK) % BLOCK)


def pax(records: dict[str, str | bytes], name: str = "PaxHeader", typ: bytes = b"x") -> bytes:
    """A PAX extended (``x``) or global (``g``) header member."""
    body = b""
    for k, v in records.items():
        val = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v
        rec = k.encode() + b"=" + val + b"\n"
        n = len(rec) + 2
        while len(str(n).encode()) + 1 + len(rec) != n:
            n = len(str(n).encode()) + 1 + len(rec)
        body += str(n).encode() + b" " + rec
    return header(name, typ, len(body)) + body + pad(len(body))


def _long(name: str | bytes, linkname: str | bytes = "") -> bytes:
    """A PAX header carrying a name or link target that a ustar header cannot hold (> 100 bytes)."""
    def raw(s: str | bytes) -> bytes:
        return s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s

    recs: dict[str, str | bytes] = {}
    if len(raw(name)) > 100:
        recs["path"] = raw(name)
    if len(raw(linkname)) > 100:
        recs["linkpath"] = raw(linkname)
    return pax(recs) if recs else b""


def reg(name: str | bytes, data: bytes = b"", **kw) -> bytes:
    return _long(name) + header(name, b"0", len(data), **kw) + data + pad(len(data))


def dir_(name: str | bytes, **kw) -> bytes:
    kw.setdefault("mode", 0o755)
    return _long(name) + header(name, b"5", 0, **kw)


def symlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    return _long(name, target) + header(name, b"2", 0, linkname=target, mode=0o777, **kw)


def hardlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    return _long(name, target) + header(name, b"1", 0, linkname=target, **kw)


def chardev(name: str, major: int, minor: int) -> bytes:
    return header(name, b"3", 0, devmajor=major, devminor=minor, mode=0o600)


def blockdev(name: str, major: int, minor: int) -> bytes:
    return header(name, b"4", 0, devmajor=major, devminor=minor, mode=0o600)


def fifo(name: str) -> bytes:
    return header(name, b"6", 0, mode=0o600)


END = b"\0" * (2 * BLOCK)


def tar(*members: bytes, end: bool = True) -> bytes:
    return b"".join(members) + (END if end else b"")


def tarfile_layer(files: dict[str, bytes]) -> bytes:
    """A well-formed layer written by tarfile (for the benign parts of cases)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), EPOCH, 0o755 if name.startswith("bin/") else 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# -------------------------------------------------------------- streaming


def gzip_stream(chunks: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """gzip of the concatenated chunks, produced chunk by chunk (for layers too big for memory)."""
    import zlib

    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    for ch in chunks:
        out = c.compress(ch)
        if out:
            yield out
    yield c.flush()


def zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    z = bytes(chunk)
    while total > 0:
        n = min(total, chunk)
        yield z if n == chunk else bytes(n)
        total -= n


def write_stream(path: Path, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Write chunks to ``path``; (sha256 digest, size)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "wb") as f:
        for ch in chunks:
            h.update(ch)
            n += len(ch)
            f.write(ch)
    return "sha256:" + h.hexdigest(), n


def hash_stream(chunks: Iterable[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for ch in chunks:
        h.update(ch)
        n += len(ch)
    return "sha256:" + h.hexdigest(), n


# ----------------------------------------------------------------- images


def busybox_layer() -> bytes:
    """The sample image's first layer: a static busybox with /bin/sh, /bin/true... (2 MB, uncompressed)."""
    with tarfile.open(SAMPLE_TAR) as t:
        return t.extractfile(BUSYBOX_LAYER).read()  # type: ignore[union-attr]


@dataclass
class Blob:
    """A layer blob: in memory (``data``) or a file already written (``path``)."""

    media_type: str
    diff_id: str
    data: bytes | None = None
    path: Path | None = None
    digest: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        if self.data is not None:
            self.digest = self.digest or sha(self.data)
            self.size = self.size or len(self.data)


def plain(t: bytes) -> Blob:
    return Blob(OCI_TAR, sha(t), t)


def gz(t: bytes, diff_id: str | None = None) -> Blob:
    return Blob(OCI_GZIP, diff_id or sha(t), gzip.compress(t, 6, mtime=0))


def zst(t: bytes, diff_id: str | None = None) -> Blob:
    return Blob(OCI_ZSTD, diff_id or sha(t), zstandard.ZstdCompressor().compress(t))


def config_doc(diff_ids: list[str], config: dict | None = None, **extra) -> dict:
    doc = {"architecture": "amd64", "os": "linux", "config": config if config is not None else
           {"Entrypoint": ["/bin/true"], "Env": ["PATH=/bin:/usr/bin"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created_by": f"hostile layer {i}"} for i in range(len(diff_ids))]}
    doc.update(extra)
    return doc


@dataclass
class OCI:
    """An OCI layout to write; any document may be replaced by raw bytes."""

    blobs: list[Blob]
    config: dict | None = None
    raw_config: bytes | None = None
    raw_manifest: bytes | None = None
    raw_index: bytes | None = None
    manifest_extra: dict = field(default_factory=dict)
    index_extra: dict = field(default_factory=dict)
    desc_extra: dict = field(default_factory=dict)  # merged into the index's manifest descriptor

    def write(self, path: Path) -> str:
        b = path / "blobs" / "sha256"
        b.mkdir(parents=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

        def put(data: bytes) -> str:
            d = sha(data)
            (b / d[7:]).write_bytes(data)
            return d

        for bl in self.blobs:
            if bl.data is not None:
                put(bl.data)
            elif bl.path is not None:
                os.replace(bl.path, b / bl.digest[7:])
        cfg = self.raw_config if self.raw_config is not None else json.dumps(
            self.config if self.config is not None else config_doc([bl.diff_id for bl in self.blobs])).encode()
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": put(cfg), "size": len(cfg)},
               "layers": [{"mediaType": bl.media_type, "digest": bl.digest, "size": bl.size} for bl in self.blobs]}
        man.update(self.manifest_extra)
        raw = self.raw_manifest if self.raw_manifest is not None else json.dumps(man).encode()
        desc = {"mediaType": OCI_MANIFEST, "digest": put(raw), "size": len(raw),
                "annotations": {"org.opencontainers.image.ref.name": "v1"}}
        desc.update(self.desc_extra)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}
        index.update(self.index_extra)
        (path / "index.json").write_bytes(self.raw_index if self.raw_index is not None else json.dumps(index).encode())
        return f"oci:{path}"


def docker_archive(path: Path, layers: list[bytes | Path], config: dict | None = None, *,
                   raw_config: bytes | None = None, raw_manifest: bytes | None = None,
                   diff_ids: list[str] | None = None, extra: list[tuple[tarfile.TarInfo, bytes | None]] = (),
                   layer_names: list[str] | None = None) -> str:
    """A classic ``docker save`` archive (<n>/layer.tar).  Layers: bytes, or files (streamed in)."""
    ids = list(diff_ids) if diff_ids is not None else []
    if diff_ids is None:
        for l in layers:
            if isinstance(l, Path):
                with open(l, "rb") as f:
                    ids.append(hash_stream(iter(lambda: f.read(1 << 20), b""))[0])
            else:
                ids.append(sha(l))
    cfg = raw_config if raw_config is not None else json.dumps(config if config is not None else config_doc(ids)).encode()
    names = layer_names or [f"l{i}/layer.tar" for i in range(len(layers))]
    man = raw_manifest if raw_manifest is not None else json.dumps(
        [{"Config": "config.json", "RepoTags": ["hostile:latest"], "Layers": names}]).encode()
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), EPOCH
            tf.addfile(ti, io.BytesIO(data))

        add("config.json", cfg)
        for name, l in zip(names, layers):
            if isinstance(l, Path):
                tf.add(str(l), arcname=name)
            else:
                add(name, l)
        for ti, data in extra:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        add("manifest.json", man)
    return f"docker-archive:{path}"
