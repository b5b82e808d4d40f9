"""``oci:DIR[:TAG]``: an OCI image layout directory (read, and written or added to).

:func:`read_oci_layout` reads a layout through an :class:`~imgopt.image.fs.FS`,
so the same code reads a directory (here), a tar of one (``oci-archive:``)
and the OCI half of a Docker 25+ ``docker save`` archive.  Writing is atomic:
a new layout is staged beside the destination and renamed into place; an
existing one gets its blobs (content-addressed, each written to a temporary
name first) and then its index.
"""

from __future__ import annotations

import os

from imgopt.errors import BadInput, NotFound
from imgopt.image import mediatypes as mt
from imgopt.image.fs import FS, DirFS
from imgopt.image.jsonfields import Fields
from imgopt.image.limits import MAX_ARCHIVE_JSON, MAX_CONFIG, MAX_INDEX_DEPTH, load_json
from imgopt.image.model import Descriptor, Image, Index, Manifest, Platform, build_image, canonical_json
from imgopt.image.mutate import convert
from imgopt.image.reference import ImageRef, split_path
from imgopt.image.transports.base import Progress, SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.partial import (OCI_LAYOUT, REF_NAME, CONTAINERD_NAME, BytesReader, blob_path,
                                             checked_blobs,
                                             image_total, locate_blobs, manifest_entry, open_blob, put_blob_file,
                                             read_blob, read_json, write_small)
from imgopt.scratch import clean_stale, make_scratch, remove_tree


class OCILayout:
    name = "oci"
    prefix = "oci:"

    def parse(self, rest: str, text: str) -> ImageRef:
        return parse_local(self.name, rest, text)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        if not os.path.isdir(ref.path):
            raise NotFound(ref.path, "no such OCI layout directory")
        return read_oci_layout(DirFS(ref.path), ref.name, opts.platform, str(ref))

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        img = convert(recompress_for(image, opts, "auto-gzip", ref.path), "oci")
        write_oci_dir(img, ref.path, ref.name, opts.progress)
        return img


def parse_local(transport: str, rest: str, text: str, *, index: bool = False) -> ImageRef:
    """``PATH[:REF]`` (and ``PATH:@N`` when ``index``) for the file-based transports."""
    if not rest:
        raise BadInput(text, f"{transport}: needs a path")
    path, name = split_path(rest)
    n = None
    if name.startswith("@"):
        if not index or not name[1:].isdigit():
            raise BadInput(text, f"invalid image selector {name!r}")
        n, name = int(name[1:]), ""
    return ImageRef(transport, path=path, name=name, index=n, text=text)


# ------------------------------------------------------------------ reading


def read_oci_layout(fs: FS, tag: str, platform: Platform | None, name: str) -> Image:
    if not fs.exists("oci-layout"):
        raise BadInput(name, "not an OCI image layout (no oci-layout file)")
    layout = Fields(read_json(fs, "oci-layout"), name, what="oci-layout")
    if not layout.str("imageLayoutVersion"):
        raise BadInput(name, "oci-layout has no imageLayoutVersion")
    if not fs.exists("index.json"):
        raise BadInput(name, "OCI layout has no index.json")
    index = Index.parse(fs.read("index.json", MAX_ARCHIVE_JSON), f"{name} index.json", mt.OCI_INDEX,
                        MAX_ARCHIVE_JSON)
    desc = _pick(index, tag, platform, name)
    return _image_from_descriptor(fs, desc, platform, name, index)


def _pick(index: Index, tag: str, platform: Platform | None, name: str) -> Descriptor:
    ms = index.manifests
    if tag:
        hits = [m for m in ms if m.annotations.get(REF_NAME) == tag
                or m.annotations.get(CONTAINERD_NAME, "").endswith(f":{tag}")
                or m.annotations.get(CONTAINERD_NAME) == tag]
        if not hits:
            tags = sorted({m.annotations.get(REF_NAME, "") for m in ms} - {""})
            raise NotFound(name, f"no image tagged {tag!r} (tags: {', '.join(tags) or 'none'})")
        ms = hits
    if not ms:
        raise NotFound(name, "the layout holds no image")
    if len(ms) == 1:
        return ms[0]
    if not all(m.platform for m in ms):
        tags = sorted({m.annotations.get(REF_NAME, "") for m in ms} - {""})
        raise BadInput(name, f"the layout holds {len(ms)} images (tags: {', '.join(tags) or 'none'}); add :TAG")
    # several platforms of one image: choose the way an index does
    return Index(mt.OCI_INDEX, ms).select(platform, name)


def _image_from_descriptor(fs: FS, desc: Descriptor, platform: Platform | None, name: str,
                           index: Index | None, depth: int = 0) -> Image:
    if desc.media_type in mt.INDEXES:
        if depth >= MAX_INDEX_DEPTH:
            raise BadInput(name, f"image indexes nested more than {MAX_INDEX_DEPTH} deep")
        inner = Index.parse(read_blob(fs, desc), f"{name} index {desc.short}", desc.media_type)
        return _image_from_descriptor(fs, inner.select(platform, name), platform, name, inner, depth + 1)
    if desc.media_type and desc.media_type not in mt.MANIFESTS:
        raise BadInput(name, f"unknown media type {desc.media_type!r} for {desc.digest}")
    raw = read_blob(fs, desc)
    man = Manifest.parse(raw, f"{name} manifest", desc.media_type or None)
    config = read_blob(fs, man.config, MAX_CONFIG)
    img = build_image(name, raw, config, lambda d: open_blob(fs, d), desc.media_type or None, index=index)
    _check_blobs_present(fs, img)
    locate_blobs(fs, img, {l.digest: blob_path(l.digest) for l in img.layers if not l.descriptor.urls})
    return img


def _check_blobs_present(fs: FS, img: Image) -> None:
    for l in img.layers:
        if l.descriptor.urls:  # foreign layer: lives elsewhere
            continue
        if not fs.exists(blob_path(l.digest)):
            raise NotFound(img.name, f"layer blob {l.digest} named by the manifest is missing")


# ------------------------------------------------------------------ writing


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
        total = image_total(image)
        checked = list(checked_blobs(image))
        # blobs are independent files: copy (and check) several at once, one core each
        jobs = min(len(checked), os.cpu_count() or 1, 4)
        if jobs > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="blob") as pool:
                futures = [pool.submit(put_blob_file, target, d, o, progress, total) for d, o in checked]
                try:
                    for fut in futures:
                        fut.result()
                finally:
                    for fut in futures:
                        fut.cancel()
        else:
            for desc, opener in checked:
                put_blob_file(target, desc, opener, progress, total)
        raw = image.manifest.serialize()
        put_blob_file(target, Descriptor(image.manifest.media_type, image.manifest.digest, len(raw)),
                       lambda: BytesReader(raw), None, 0)
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
        ms.append(manifest_entry(image, tag))
        index["manifests"] = ms
        write_small(os.path.join(target, "oci-layout"), OCI_LAYOUT)
        write_small(index_path, canonical_json(index))
        if staging:
            os.replace(staging, path)
            staging = None
    finally:
        if staging:
            remove_tree(staging)


def _existing_index(index_path: str, name: str) -> dict:
    """An existing layout's index.json (checked: its entries are written back)."""
    with open(index_path, "rb") as f:
        raw = f.read(MAX_ARCHIVE_JSON + 1)
    Index.parse(raw, f"{name} index.json", mt.OCI_INDEX, MAX_ARCHIVE_JSON)  # raises on a bad one
    return load_json(raw, f"{name} index.json", MAX_ARCHIVE_JSON)


__all__ = ["OCILayout", "read_oci_layout", "write_oci_dir", "parse_local"]
