"""Image transformations: recompress layers, convert manifest format, edit the config.

A transformation takes an :class:`Image` and returns a new one; it never
cares where the image came from.  Re-encoded layers are written to files in
a private work directory that is removed when the returned image closes.
"""

from __future__ import annotations

import copy
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from imgopt.atomic import scratch_dir
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK, Compression, CompressingWriter
from imgopt.image.digest import HashingWriter
from imgopt.image.model import (Descriptor, HistoryEntry, Image, ImageConfig, Layer, Manifest, canonical_json,
                                descriptor_for, file_opener)
from imgopt.image.verify_write import TarCheck, is_verified, remember
from imgopt.scratch import remove_tree

Progress = Callable[[int, int], None]


def workdir_for(image: Image, near: str | None = None) -> str:
    """A private scratch directory (on the destination's filesystem if given), removed when ``image`` closes."""
    d = scratch_dir(near, ".imgopt-work-")
    image._closers.append(lambda: remove_tree(d))
    return d


def recode_layer(layer: Layer, codec: Compression, level: int | None, workdir: str,
                 progress: Progress | None = None) -> Layer:
    """Decompress ``layer`` and compress it again with ``codec``; diffID kept."""
    fd, path = tempfile.mkstemp(prefix="layer-", dir=workdir)
    with os.fdopen(fd, "wb") as out:
        h = HashingWriter(out)
        w = CompressingWriter(h, codec, level)
        src = layer.open_tar()
        # the tar headers are walked in a thread beside the re-encoding (what inspect --deep checks)
        check = None if is_verified(layer) else TarCheck(layer.subject)
        try:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                if check is not None:
                    check.feed(chunk)
                w.write(chunk)
                if progress:
                    progress(len(chunk), 0)
            src.verify()  # blob digest and diffID
            if check is not None:
                check.finish()
                check = None
                remember(layer)
        finally:
            if check is not None:
                check.abort()
            src.close()
        w.close()
    desc = Descriptor(mt.layer_media_type("oci", codec), h.digest, h.size)
    out_layer = Layer(desc, layer.diff_id, file_opener(path), f"{layer.subject} as {codec.value}",
                      compression=codec, uncompressed_size=w.uncompressed_size)
    out_layer.verified = True  # written here from a stream checked end to end
    return out_layer


def recompress(image: Image, want: str, level: int | None, workdir: str, *,
               jobs: int | None = None, progress: Progress | None = None) -> Image:
    """Re-encode layers.  ``want``: keep | gzip | zstd | none | auto-gzip | zstd-to-gzip.

    ``keep`` returns the image unchanged (layers keep their digests);
    ``auto-gzip`` gzips only layers that are stored uncompressed;
    a codec name re-encodes every layer not already in it (or every layer
    when ``level`` is given, since the level changes the bytes).
    """
    if want == "keep":
        return image
    if want == "auto-gzip":
        targets = [(Compression.GZIP if l.compression is Compression.NONE else None) for l in image.layers]
    elif want == "zstd-to-gzip":
        targets = [(Compression.GZIP if l.compression is Compression.ZSTD else None) for l in image.layers]
    else:
        codec = Compression(want)
        targets = [codec if (l.compression is not codec or (level is not None and codec is not Compression.NONE))
                   else None for l in image.layers]
    if not any(targets):
        return image
    jobs = jobs or min(len(image.layers), os.cpu_count() or 1)

    def one(i: int) -> Layer:
        t = targets[i]
        layer = image.layers[i]
        return layer if t is None else recode_layer(layer, t, level if want not in ("auto-gzip", "zstd-to-gzip")
                                                    else None, workdir, progress)

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # codecs release the GIL
        layers = list(pool.map(one, range(len(image.layers))))
    fmt = image.manifest.format
    if fmt == "docker" and any(l.compression is Compression.ZSTD for l in layers):
        fmt = "oci"  # schema 2 cannot describe zstd layers
    return convert(image, fmt, layers=layers)


def convert(image: Image, fmt: str, *, layers: list[Layer] | None = None) -> Image:
    """Rewrite the manifest in ``fmt`` (oci | docker), optionally with other
    layers of the same diffIDs; config bytes are kept.

    Media types follow each layer's sniffed codec, not the old media type.
    """
    if image.manifest.format == fmt and layers is None:
        return image
    src_layers = layers if layers is not None else image.layers
    assert [l.diff_id for l in src_layers] == image.config.diff_ids
    layers = []
    for l in src_layers:
        mtype = mt.layer_media_type(fmt, l.compression)
        if l.descriptor.urls:  # foreign layers stay foreign
            mtype = l.descriptor.media_type
        d = Descriptor(mtype, l.digest, l.size, dict(l.descriptor.annotations), None, l.descriptor.urls)
        nl = Layer(d, l.diff_id, l._opener, l.subject, l._compression, l.uncompressed_size)
        nl.verified = l.verified
        layers.append(nl)
    man = Manifest(
        media_type=mt.manifest_media_type(fmt),
        config=descriptor_for(image.config_blob, mt.config_media_type(fmt)),
        layers=[l.descriptor for l in layers],
        annotations=dict(image.manifest.annotations),
    )
    man.raw = canonical_json(man.to_json())
    return Image(man, image.config, image.config_blob, layers, image.name, list(image.repo_tags), None,
                 image._closers)


def with_config(image: Image, raw: dict) -> Image:
    """``image`` with the config ``raw`` (same layers): config blob, descriptor and manifest rebuilt."""
    cfg = ImageConfig(raw)
    blob = cfg.serialize()
    man = Manifest(image.manifest.media_type, descriptor_for(blob, image.manifest.config.media_type),
                   list(image.manifest.layers), dict(image.manifest.annotations), extra=dict(image.manifest.extra))
    man.raw = canonical_json(man.to_json())
    return Image(man, cfg, blob, image.layers, image.name, list(image.repo_tags), None, image._closers)


def with_history(image: Image, entry: HistoryEntry) -> Image:
    """``image`` with ``entry`` appended to its config's history (an ``empty_layer`` entry, or one per new layer)."""
    raw = copy.deepcopy(image.config.raw)
    raw["history"] = list(raw.get("history") or []) + [entry.to_json()]
    return with_config(image, raw)


def tar_of(files: list[tuple[str, bytes | None]], *, mtime: int = 0, mode: int = 0o644) -> bytes:
    """A deterministic layer tar, in the given order: ``(path, content)`` a regular file, ``(path, None)`` a
    whiteout of ``path``; each parent directory (0755) added once, before its first entry."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs: set[str] = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                    t.addfile(ti)
            if data is None:
                head, _, name = path.rpartition("/")
                path, data = (f"{head}/.wh.{name}" if head else f".wh.{name}"), b""
            ti = tarfile.TarInfo(path)
            ti.mode, ti.mtime, ti.size = mode, mtime, len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def layer_from_tar(tar: bytes, codec: Compression, workdir: str, level: int | None = None,
                   subject: str = "new layer") -> Layer:
    """A new layer holding the tar archive ``tar``, compressed with ``codec`` into a file in ``workdir``."""
    import hashlib

    fd, path = tempfile.mkstemp(prefix="layer-", dir=workdir)
    with os.fdopen(fd, "wb") as out:
        h = HashingWriter(out)
        w = CompressingWriter(h, codec, level)
        w.write(tar)
        w.close()
    desc = Descriptor(mt.layer_media_type("oci", codec), h.digest, h.size)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    return Layer(desc, diff_id, file_opener(path), subject, compression=codec, uncompressed_size=len(tar))


def with_layer(image: Image, layer: Layer, created_by: str, created: str | None = None) -> Image:
    """``image`` with ``layer`` on top: its diffID and a history entry added to the config, the manifest
    rebuilt (in OCI form when the layer's codec needs it)."""
    raw = copy.deepcopy(image.config.raw)
    raw["rootfs"] = {**raw["rootfs"], "diff_ids": [*raw["rootfs"]["diff_ids"], layer.diff_id]}
    raw["history"] = list(raw.get("history") or []) + [HistoryEntry(created, created_by).to_json()]
    if created:
        raw["created"] = created
    cfg = ImageConfig(raw)
    blob = cfg.serialize()
    fmt = image.manifest.format
    if fmt == "docker" and layer.compression is Compression.ZSTD:
        fmt = "oci"
    layers = [*image.layers, layer]
    descs = [Descriptor(l.descriptor.media_type if l is not layer else mt.layer_media_type(fmt, l.compression),
                        l.digest, l.size, dict(l.descriptor.annotations), None, l.descriptor.urls) for l in layers]
    man = Manifest(mt.manifest_media_type(fmt), descriptor_for(blob, mt.config_media_type(fmt)), descs,
                   dict(image.manifest.annotations))
    man.raw = canonical_json(man.to_json())
    return Image(man, cfg, blob, layers, image.name, list(image.repo_tags), None, image._closers)


def with_labels(image: Image, labels: dict[str, str]) -> Image:
    """``image`` with ``labels`` set in its config (others kept)."""
    raw = copy.deepcopy(image.config.raw)
    cfg = raw.get("config") or {}
    raw["config"] = {**cfg, "Labels": {**(cfg.get("Labels") or {}), **labels}}
    return with_config(image, raw)
