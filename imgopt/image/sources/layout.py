"""Sources backed by files: ``docker save`` archives and OCI image layouts.

Both read through :class:`imgopt.image.fs.FS`, so an OCI layout is read the
same way from a directory (``oci:``), from a tar (``oci-archive:``) and from
the OCI half of a Docker 25+ ``docker save`` archive.
"""

from __future__ import annotations

import posixpath
from typing import BinaryIO

from imgopt.errors import BadInput, NotFound
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import Compression
from imgopt.image.digest import HashingWriter, parse_digest, sha256_bytes
from imgopt.image.fs import FS, peek_codec
from imgopt.image.jsonfields import Fields
from imgopt.image.limits import MAX_ARCHIVE_JSON, MAX_CONFIG, MAX_INDEX_DEPTH, MAX_MANIFEST, load_json
from imgopt.image.model import (
    Descriptor, Image, ImageConfig, Index, Manifest, Platform, build_image, canonical_json,
)

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def blob_path(digest: str) -> str:
    alg, hexd = parse_digest(digest)
    return f"blobs/{alg}/{hexd}"


def _json(fs: FS, rel: str) -> object:
    """A JSON file of the layout or archive itself (oci-layout, index.json, manifest.json)."""
    return load_json(fs.read(rel, MAX_ARCHIVE_JSON), fs.name, MAX_ARCHIVE_JSON, rel)


# ------------------------------------------------------------------ OCI layout


def _open_blob(fs: FS, d: Descriptor) -> BinaryIO:
    rel = blob_path(d.digest)
    if not fs.exists(rel):
        raise NotFound(fs.name, f"blob {d.digest} named by the manifest is missing")
    return fs.open(rel)


def _read_blob(fs: FS, d: Descriptor, limit: int = MAX_MANIFEST) -> bytes:
    if d.size > limit:
        raise BadInput(fs.name, f"blob {d.digest} is implausibly large for a manifest or config ({d.size} bytes)")
    with _open_blob(fs, d) as f:
        data = f.read(d.size + 1)
    if len(data) != d.size or sha256_bytes(data) != d.digest:
        raise BadInput(fs.name, f"blob {d.digest} does not match its digest or size")
    return data


def read_oci_layout(fs: FS, tag: str, platform: Platform | None, name: str) -> Image:
    if not fs.exists("oci-layout"):
        raise BadInput(name, "not an OCI image layout (no oci-layout file)")
    layout = Fields(_json(fs, "oci-layout"), name, what="oci-layout")
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
        inner = Index.parse(_read_blob(fs, desc), f"{name} index {desc.short}", desc.media_type)
        return _image_from_descriptor(fs, inner.select(platform, name), platform, name, inner, depth + 1)
    if desc.media_type and desc.media_type not in mt.MANIFESTS:
        raise BadInput(name, f"unknown media type {desc.media_type!r} for {desc.digest}")
    raw = _read_blob(fs, desc)
    man = Manifest.parse(raw, f"{name} manifest", desc.media_type or None)
    config = _read_blob(fs, man.config, MAX_CONFIG)
    img = build_image(name, raw, config, lambda d: _open_blob(fs, d), desc.media_type or None, index=index)
    _check_blobs_present(fs, img)
    _locate(fs, img, {l.digest: blob_path(l.digest) for l in img.layers if not l.descriptor.urls})
    return img


def _locate(fs: FS, img: Image, paths: dict[str, str]) -> None:
    """Tell each layer where its bytes lie on disk (fast, out-of-process verification)."""
    for l in img.layers:
        rel = paths.get(l.digest)
        if rel is not None:
            l.local = fs.locate(rel)


def _check_blobs_present(fs: FS, img: Image) -> None:
    for l in img.layers:
        if l.descriptor.urls:  # foreign layer: lives elsewhere
            continue
        if not fs.exists(blob_path(l.digest)):
            raise NotFound(img.name, f"layer blob {l.digest} named by the manifest is missing")


# ------------------------------------------------------------- docker archive


def read_docker_archive(fs: FS, ref: str, index: int | None, platform: Platform | None, name: str) -> Image:
    """A ``docker save`` tar: classic (<id>/layer.tar) or Docker 25+ (OCI blobs)."""
    if not fs.exists("manifest.json"):
        raise BadInput(name, "not a docker save archive (no manifest.json)")
    doc = _json(fs, "manifest.json")
    if not isinstance(doc, list) or not doc:
        raise BadInput(name, "manifest.json is not a list of images")
    entries = [Fields(e, f"{name} manifest.json", f"[{i}]") for i, e in enumerate(doc)]
    entry = _select_entry(entries, ref, index, name)
    config_path = entry.str("Config")
    layer_paths = entry.str_list("Layers")
    if not config_path or entry.list("Layers") is None:
        raise BadInput(name, "manifest.json entry lacks Config or Layers")
    if not fs.exists(config_path):
        raise NotFound(name, f"config {config_path} named by manifest.json is missing")
    config_raw = fs.read(config_path, MAX_CONFIG)
    cfg = ImageConfig.parse(config_raw, f"{name} config")
    if len(cfg.diff_ids) != len(layer_paths):
        raise BadInput(name, f"manifest.json lists {len(layer_paths)} layers but config has {len(cfg.diff_ids)} diff_ids")
    for p in layer_paths:
        if not fs.exists(p):
            raise NotFound(name, f"layer {p} named by manifest.json is missing")
    tags = entry.str_list("RepoTags")

    # Docker 25+: the archive is also an OCI layout holding the original
    # manifest; use it so the manifest digest survives a round trip.
    if fs.exists("index.json") and fs.exists("oci-layout"):
        img = _original_manifest(fs, config_raw, layer_paths, platform, name, tags)
        if img is not None:
            return img

    descs = []
    codecs = []
    for i, p in enumerate(layer_paths):
        codec = peek_codec(fs.open(p))
        codecs.append(codec)
        size = fs.size(p)
        stem = posixpath.basename(p)
        if p.startswith("blobs/sha256/") and len(stem) == 64:
            digest = "sha256:" + stem
        elif codec is Compression.NONE:
            digest = cfg.diff_ids[i]  # verified when read
        else:
            with fs.open(p) as f:
                h = HashingWriter()
                while chunk := f.read(1 << 20):
                    h.write(chunk)
            digest = h.digest
        descs.append((digest, size, p))
    fmt = "oci" if Compression.ZSTD in codecs else "docker"
    config_desc = Descriptor(mt.config_media_type(fmt), sha256_bytes(config_raw), len(config_raw))
    layer_descs = [Descriptor(mt.layer_media_type(fmt, c), d, s) for (d, s, _), c in zip(descs, codecs)]
    man = Manifest(mt.manifest_media_type(fmt), config_desc, layer_descs)
    paths = {d.digest: p for d, (_, _, p) in zip(layer_descs, descs)}
    raw = canonical_json(man.to_json())

    def opener(d: Descriptor) -> BinaryIO:
        return fs.open(paths[d.digest])

    img = build_image(name, raw, config_raw, opener, repo_tags=tags)
    for l, c, p in zip(img.layers, codecs, layer_paths):
        l._compression = c
        # `docker save` stores a layer identical to an earlier one as a symlink
        # to it; dive then reads an empty layer (reproduced by dive_compat)
        l.archive_link = bool(getattr(fs, "is_link", lambda _: False)(p))
    _locate(fs, img, paths)
    return img


def _select_entry(entries: list[Fields], ref: str, index: int | None, name: str) -> Fields:
    if index is not None:
        if not 0 <= index < len(entries):
            raise NotFound(name, f"no image @{index}: the archive holds {len(entries)}")
        return entries[index]
    if ref:
        want = {ref, f"{ref}:latest"} if ":" not in ref.rsplit("/", 1)[-1] else {ref}
        for e in entries:
            tags = e.str_list("RepoTags")
            norm = set(tags) | {t.split("/", 1)[1] for t in tags if t.startswith("docker.io/")}
            if want & norm:
                return e
        raise NotFound(name, f"no image tagged {ref!r} in the archive")
    if len(entries) > 1:
        listing = ", ".join(",".join(e.str_list("RepoTags") or ["<untagged>"]) for e in entries)
        raise BadInput(name, f"the archive holds {len(entries)} images ({listing}); add :TAG or :@N")
    return entries[0]


def _original_manifest(fs: FS, config_raw: bytes, layer_paths: list[str], platform: Platform | None,
                       name: str, tags: list[str]) -> Image | None:
    config_digest = sha256_bytes(config_raw)
    try:
        index = Index.parse(fs.read("index.json", MAX_ARCHIVE_JSON), f"{name} index.json", mt.OCI_INDEX,
                            MAX_ARCHIVE_JSON)
    except BadInput:
        return None
    stack = list(index.manifests)
    seen = 0
    while stack and seen < 64:
        d = stack.pop(0)
        seen += 1
        if not fs.exists(blob_path(d.digest)):
            continue
        try:
            raw = _read_blob(fs, d)
            if d.media_type in mt.INDEXES:
                stack.extend(Index.parse(raw, name, d.media_type).manifests)
                continue
            man = Manifest.parse(raw, name, d.media_type or None)
        except BadInput:
            continue
        if man.config.digest != config_digest:
            continue
        if [blob_path(l.digest) for l in man.layers] != [posixpath.normpath(p) for p in layer_paths]:
            continue
        img = build_image(name, raw, config_raw, lambda dd: _open_blob(fs, dd), d.media_type or None,
                          repo_tags=tags, index=index)
        _locate(fs, img, {l.digest: blob_path(l.digest) for l in img.layers})
        return img
    return None
