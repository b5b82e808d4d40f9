"""Helpers the file-based transports share (go-containerregistry's ``partial``, in spirit).

Blob paths and annotation names of the OCI image layout, reading blobs
through an :class:`~imgopt.image.fs.FS` (verified), and the deterministic
tar writer the archive sinks use (sorted, mtime from ``SOURCE_DATE_EPOCH``
or 0, uid/gid 0).
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import BinaryIO, Callable, Iterator

from imgopt.errors import BadInput, NotFound
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK
from imgopt.image.digest import parse_digest, sha256_bytes
from imgopt.image.fs import FS
from imgopt.image.limits import MAX_ARCHIVE_JSON, MAX_MANIFEST, load_json
from imgopt.image.model import Descriptor, Image, canonical_json
from imgopt.image.transports.base import Progress
from imgopt.scratch import temp_path

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
OCI_LAYOUT = canonical_json({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION})


def blob_path(digest: str) -> str:
    alg, hexd = parse_digest(digest)
    return f"blobs/{alg}/{hexd}"


def read_json(fs: FS, rel: str) -> object:
    """A JSON file of the layout or archive itself (oci-layout, index.json, manifest.json), bounded."""
    return load_json(fs.read(rel, MAX_ARCHIVE_JSON), fs.name, MAX_ARCHIVE_JSON, rel)


# ------------------------------------------------------------------ reading


def open_blob(fs: FS, d: Descriptor) -> BinaryIO:
    rel = blob_path(d.digest)
    if not fs.exists(rel):
        raise NotFound(fs.name, f"blob {d.digest} named by the manifest is missing")
    return fs.open(rel)


def read_blob(fs: FS, d: Descriptor, limit: int = MAX_MANIFEST) -> bytes:
    if d.size > limit:
        raise BadInput(fs.name, f"blob {d.digest} is implausibly large for a manifest or config ({d.size} bytes)")
    with open_blob(fs, d) as f:
        data = f.read(d.size + 1)
    if len(data) != d.size or sha256_bytes(data) != d.digest:
        raise BadInput(fs.name, f"blob {d.digest} does not match its digest or size")
    return data


def read_tar(path: str, read: Callable[[FS], Image]) -> Image:
    """``read`` the image in the tar archive ``path`` (in place: :class:`~imgopt.image.fs.TarFS`); it owns the archive."""
    from imgopt.image.fs import TarFS

    fs = TarFS(path)
    try:
        img = read(fs)
    except BaseException:
        fs.close()
        raise
    img._closers.append(fs.close)
    return img


def locate_blobs(fs: FS, img: Image, paths: dict[str, str]) -> None:
    """Tell each layer where its bytes lie on disk (fast, out-of-process verification)."""
    for l in img.layers:
        rel = paths.get(l.digest)
        if rel is not None:
            l.local = fs.locate(rel)


# ------------------------------------------------------------------ writing


def source_date_epoch() -> int:
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        return 0


def copy_stream(src, dst, progress: Progress | None, total: int) -> None:
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        dst.write(chunk)
        if progress:
            progress(len(chunk), total)


def blobs(image: Image) -> Iterator[tuple[Descriptor, Callable[[], object]]]:
    """Every blob of the image once: layers, config (manifest written by callers).

    Sinks write :func:`imgopt.image.verify_write.checked_blobs` instead: these, checked as they stream."""
    seen = set()
    for l in image.layers:
        if l.descriptor.urls or l.digest in seen:
            continue
        seen.add(l.digest)
        yield l.descriptor, l.open_blob
    if image.manifest.config.digest not in seen:
        blob = image.config_blob
        yield image.manifest.config, (lambda: BytesReader(blob))


def checked_blobs(image: Image) -> Iterator[tuple[Descriptor, Callable[[], object]]]:
    """Every blob of the image once (layers, then the config), layers checked as they are read
    (:func:`imgopt.image.verify_write.checked_opener`: digest, diffID, tar structure).

    What sinks iterate instead of :func:`blobs`; the manifest is written by the sinks themselves, last.
    """
    from imgopt.image.verify_write import checked_opener

    layers = {l.digest: l for l in image.layers}
    for desc, opener in blobs(image):
        layer = layers.get(desc.digest)
        yield desc, (checked_opener(layer) if layer is not None else opener)


class BytesReader:
    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._b.read(n)

    def drain(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


def image_total(image: Image) -> int:
    return sum(l.size for l in image.layers)


def manifest_entry(image: Image, tag: str) -> dict:
    raw = image.manifest.serialize()
    d = Descriptor(image.manifest.media_type, image.manifest.digest, len(raw)).to_json()
    if tag:
        d["annotations"] = {REF_NAME: tag}
    return d


def write_small(path: str, data: bytes) -> None:
    tmp = temp_path(path, clean=False)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def put_blob_file(root: str, desc: Descriptor, opener, progress, total) -> None:
    dest = os.path.join(root, blob_path(desc.digest))
    if os.path.exists(dest) and os.path.getsize(dest) == desc.size:
        return  # content-addressed: already there
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = temp_path(dest, clean=False)
    try:
        with opener() as src, open(tmp, "wb") as out:
            copy_stream(src, out, progress, total)
            src.drain()
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class TarOut:
    def __init__(self, path: str):
        self.tf = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.mtime = source_date_epoch()
        self.dirs: set[str] = set()

    def _dir(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, self.mtime
                self.tf.addfile(ti)

    def add(self, name: str, size: int, stream, progress=None, total=0) -> None:
        self._dir(name)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, 0o644, self.mtime
        self.tf.addfile(ti, CountingStream(stream, progress, total) if progress else stream)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add(name, len(data), io.BytesIO(data))

    def add_blob(self, desc: Descriptor, opener, progress=None, total=0) -> None:
        with opener() as src:
            # tarfile treats a short read as the end of the data: buffer raw streams
            stream = io.BufferedReader(src, CHUNK) if isinstance(src, io.RawIOBase) else src
            self.add(blob_path(desc.digest), desc.size, stream, progress, total)
            src.drain()

    def add_image(self, image: Image, progress: Progress | None = None) -> None:
        """The OCI layout part of an archive: ``oci-layout``, every blob of ``image`` and its manifest."""
        self.add_bytes("oci-layout", OCI_LAYOUT)
        total = image_total(image)
        for desc, opener in checked_blobs(image):
            self.add_blob(desc, opener, progress, total)
        self.add_bytes(blob_path(image.manifest.digest), image.manifest.serialize())

    def close(self) -> None:
        self.tf.close()


class CountingStream:
    def __init__(self, inner, progress, total):
        self._i, self._p, self._t = inner, progress, total

    def read(self, n: int = -1) -> bytes:
        b = self._i.read(n)
        if b:
            self._p(len(b), self._t)
        return b


def full_name(tag: str) -> str:
    name = tag
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name
