"""Write an image wherever users keep them: :func:`write_image`.

Every sink is atomic: output goes to a temporary path next to the
destination and is renamed into place only when complete, so a failure
leaves nothing half written.  Tar members are written deterministically
(sorted, mtime from ``SOURCE_DATE_EPOCH`` or 0, uid/gid 0).
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from typing import Callable, Iterator

from imgopt.atomic import atomic_file  # noqa: F401  (re-exported: sinks write through it)
from imgopt.errors import BadInput, ImgoptError
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK
from imgopt.image.model import Descriptor, Image, canonical_json
from imgopt.image.mutate import convert, recompress, workdir_for
from imgopt.image.reference import ImageRef, parse, split_name
from imgopt.image.limits import MAX_ARCHIVE_JSON, load_json
from imgopt.image.sources.layout import CONTAINERD_NAME, REF_NAME, blob_path
from imgopt.image.verify_write import checked_blobs
from imgopt.scratch import clean_stale, make_scratch, remove_tree, temp_path

Progress = Callable[[int, int], None]


@dataclass
class SinkOptions:
    compress: str = "auto"  # auto | keep | gzip | zstd | none
    level: int | None = None
    insecure: bool = False
    progress: Progress | None = None
    jobs: int | None = None


@dataclass
class WriteResult:
    ref: str
    manifest_digest: str
    image: Image


def _epoch() -> int:
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        return 0


def prepare(image: Image, sink: str, opts: SinkOptions, near: str | None = None) -> Image:
    """Apply the compression policy for a sink transport."""
    want = opts.compress
    if want == "auto":
        # registries and OCI layouts expect compressed layers (as skopeo does);
        # docker load and the engine take any codec, so keep bytes there.
        want = "auto-gzip" if sink in ("docker", "oci", "oci-archive") else "keep"
    if want == "keep" and opts.level is not None:
        raise BadInput("--level", "a level needs --compress gzip or zstd")
    if want == "auto-gzip" and not any(l.compression.value == "none" for l in image.layers):
        return image
    if want == "keep":
        return image
    work = workdir_for(image, near)
    return recompress(image, want, opts.level, work, jobs=opts.jobs, progress=opts.progress)


def write_image(image: Image, dest: str | ImageRef, opts: SinkOptions | None = None) -> WriteResult:
    opts = opts or SinkOptions()
    r = dest if isinstance(dest, ImageRef) else parse(dest, for_writing=True)
    clean_stale()  # $TMPDIR scratch of killed runs (the destination's directory is cleaned where written)
    if r.transport == "oci":
        img = convert(prepare(image, "oci", opts, r.path), "oci")
        write_oci_dir(img, r.path, r.name, opts.progress)
    elif r.transport == "oci-archive":
        img = convert(prepare(image, "oci-archive", opts, r.path), "oci")
        with atomic_file(r.path) as tmp:
            write_oci_tar(img, tmp, r.name, opts.progress)
    elif r.transport == "docker-archive":
        img = prepare(image, "docker-archive", opts, r.path)
        tags = _repo_tags(r.name, img)
        with atomic_file(r.path) as tmp:
            write_docker_archive(img, tmp, tags, opts.progress)
    elif r.transport == "docker-daemon":
        from imgopt.image.sinks.daemon import engine_reads_zstd, write_daemon

        img = prepare(image, "docker-daemon", opts)
        if opts.compress == "auto" and any(l.compression.value == "zstd" for l in img.layers) \
                and not engine_reads_zstd(str(r)):
            # Docker < 23 decodes zstd layers unreliably (seen here: "archive/tar:
            # invalid tar header" under load); hand it gzip instead
            img = recompress(img, "zstd-to-gzip", None, workdir_for(img), jobs=opts.jobs, progress=opts.progress)
        write_daemon(img, r, opts.progress)
    elif r.transport == "docker":
        from imgopt.image.sinks.registry import write_registry

        img = prepare(image, "docker", opts)
        if img.manifest.format == "docker" and any(l.compression.value == "zstd" for l in img.layers):
            img = convert(img, "oci")
        write_registry(img, r, opts.insecure, opts.progress)
    else:  # pragma: no cover
        raise AssertionError(r.transport)
    return WriteResult(str(r), img.manifest.digest, img)


def _repo_tags(ref: str, image: Image) -> list[str]:
    if not ref:
        return list(image.repo_tags)
    name, tag, digest = split_name(ref, ref)
    if digest:
        raise BadInput(ref, "a docker archive is tagged by name:tag, not by digest")
    return [f"{name}:{tag}"]


# ------------------------------------------------------------------ helpers


def _copy(src, dst, progress: Progress | None, total: int) -> None:
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        dst.write(chunk)
        if progress:
            progress(len(chunk), total)


def _blobs(image: Image) -> Iterator[tuple[Descriptor, Callable[[], object]]]:
    """Every blob of the image once: layers, config (manifest written by callers)."""
    seen = set()
    for l in image.layers:
        if l.descriptor.urls or l.digest in seen:
            continue
        seen.add(l.digest)
        yield l.descriptor, l.open_blob
    if image.manifest.config.digest not in seen:
        blob = image.config_blob
        yield image.manifest.config, (lambda: _BytesReader(blob))


class _BytesReader:
    def __init__(self, data: bytes):
        import io

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


def _image_total(image: Image) -> int:
    return sum(l.size for l in image.layers)


# --------------------------------------------------------------- OCI layout

OCI_LAYOUT = canonical_json({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION})


def _manifest_entry(image: Image, tag: str) -> dict:
    raw = image.manifest.serialize()
    d = Descriptor(image.manifest.media_type, image.manifest.digest, len(raw)).to_json()
    if tag:
        d["annotations"] = {REF_NAME: tag}
    return d


def write_oci_dir(image: Image, path: str, tag: str, progress: Progress | None = None) -> None:
    """Add the image to an OCI layout directory (created if missing)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadInput(path, "exists and is not a directory")
    fresh = not os.path.exists(path) or not os.listdir(path)
    if not fresh and not os.path.exists(os.path.join(path, "oci-layout")):
        raise BadInput(path, "is a non-empty directory that is not an OCI layout; refusing to write into it")
    target = path
    staging = None
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise BadInput(path, f"directory {parent} does not exist")
        # the whole layout is built beside its destination and renamed into place;
        # the name carries the owner, so one left by a killed run is removed later
        staging = make_scratch(f".{os.path.basename(os.path.abspath(path))}.imgopt-", parent)
        target = staging
    else:
        for sub in ("", "blobs/sha256", "blobs/sha512"):
            clean_stale(os.path.join(path, sub))  # half-written blobs of a killed run
    try:
        total = _image_total(image)
        blobs = list(checked_blobs(image))
        # blobs are independent files: copy (and check) several at once, one core each
        jobs = min(len(blobs), os.cpu_count() or 1, 4)
        if jobs > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="blob") as pool:
                futures = [pool.submit(_put_blob_file, target, d, o, progress, total) for d, o in blobs]
                try:
                    for fut in futures:
                        fut.result()
                finally:
                    for fut in futures:
                        fut.cancel()
        else:
            for desc, opener in blobs:
                _put_blob_file(target, desc, opener, progress, total)
        raw = image.manifest.serialize()
        _put_blob_file(target, Descriptor(image.manifest.media_type, image.manifest.digest, len(raw)),
                       lambda: _BytesReader(raw), None, 0)
        index_path = os.path.join(target, "index.json")
        if os.path.exists(index_path):
            index = _existing_index(index_path, path)
        else:
            index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        ms = list(index.get("manifests") or [])
        if tag:
            ms = [m for m in ms if (m.get("annotations") or {}).get(REF_NAME) != tag]
        else:
            ms = [m for m in ms if m.get("digest") != image.manifest.digest]
        ms.append(_manifest_entry(image, tag))
        index["manifests"] = ms
        _write_small(os.path.join(target, "oci-layout"), OCI_LAYOUT)
        _write_small(index_path, canonical_json(index))
        if staging:
            os.replace(staging, path)
            staging = None
    finally:
        if staging:
            remove_tree(staging)


def _existing_index(index_path: str, name: str) -> dict:
    """An existing layout's index.json (checked: its entries are written back)."""
    from imgopt.image.model import Index

    with open(index_path, "rb") as f:
        raw = f.read(MAX_ARCHIVE_JSON + 1)
    Index.parse(raw, f"{name} index.json", mt.OCI_INDEX, MAX_ARCHIVE_JSON)  # raises on a bad one
    return load_json(raw, f"{name} index.json", MAX_ARCHIVE_JSON)


def _write_small(path: str, data: bytes) -> None:
    tmp = temp_path(path, clean=False)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _put_blob_file(root: str, desc: Descriptor, opener, progress, total) -> None:
    dest = os.path.join(root, blob_path(desc.digest))
    if os.path.exists(dest) and os.path.getsize(dest) == desc.size:
        return  # content-addressed: already there
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = temp_path(dest, clean=False)
    try:
        with opener() as src, open(tmp, "wb") as out:
            _copy(src, out, progress, total)
            src.drain()
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------- tar writers


class _TarOut:
    def __init__(self, path: str):
        self.tf = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.mtime = _epoch()
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
        self.tf.addfile(ti, _CountingStream(stream, progress, total) if progress else stream)

    def add_bytes(self, name: str, data: bytes) -> None:
        import io

        self.add(name, len(data), io.BytesIO(data))

    def add_blob(self, desc: Descriptor, opener, progress=None, total=0) -> None:
        import io

        with opener() as src:
            # tarfile treats a short read as the end of the data: buffer raw streams
            stream = io.BufferedReader(src, CHUNK) if isinstance(src, io.RawIOBase) else src
            self.add(blob_path(desc.digest), desc.size, stream, progress, total)
            src.drain()

    def close(self) -> None:
        self.tf.close()


class _CountingStream:
    def __init__(self, inner, progress, total):
        self._i, self._p, self._t = inner, progress, total

    def read(self, n: int = -1) -> bytes:
        b = self._i.read(n)
        if b:
            self._p(len(b), self._t)
        return b


def write_oci_tar(image: Image, path: str, tag: str, progress: Progress | None = None) -> None:
    out = _TarOut(path)
    try:
        out.add_bytes("oci-layout", OCI_LAYOUT)
        total = _image_total(image)
        for desc, opener in checked_blobs(image):
            out.add_blob(desc, opener, progress, total)
        out.add_bytes(blob_path(image.manifest.digest), image.manifest.serialize())
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [_manifest_entry(image, tag)]}
        out.add_bytes("index.json", canonical_json(index))
    finally:
        out.close()


def write_docker_archive(image: Image, path: str, repo_tags: list[str], progress: Progress | None = None) -> None:
    """A ``docker load``-able archive in the Docker 25+ layout (also an OCI layout).

    manifest.json points at the blobs, so layers keep their bytes and digests;
    ``docker load`` (any version) inflates compressed layers itself.
    """
    for l in image.layers:
        if l.descriptor.urls:
            raise BadInput(path, "image has foreign layers, which cannot be stored in a docker archive")
    out = _TarOut(path)
    try:
        out.add_bytes("oci-layout", OCI_LAYOUT)
        total = _image_total(image)
        for desc, opener in checked_blobs(image):
            out.add_blob(desc, opener, progress, total)
        raw = image.manifest.serialize()
        out.add_bytes(blob_path(image.manifest.digest), raw)
        entries = []
        for t in repo_tags or [""]:
            e = _manifest_entry(image, "")
            if t:
                e["annotations"] = {CONTAINERD_NAME: _full_name(t), REF_NAME: t.rsplit(":", 1)[-1]}
            entries.append(e)
        out.add_bytes("index.json", canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                                    "manifests": entries}))
        manifest_json = [{
            "Config": blob_path(image.manifest.config.digest),
            "RepoTags": list(repo_tags) or None,
            "Layers": [blob_path(l.digest) for l in image.layers],
        }]
        out.add_bytes("manifest.json", canonical_json(manifest_json))
    finally:
        out.close()


def _full_name(tag: str) -> str:
    name = tag
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


__all__ = ["write_image", "SinkOptions", "WriteResult", "ImgoptError"]
