"""``docker-archive:FILE[:REF|:@N]``: a ``docker save`` tar (classic, or Docker 25+ which is also an OCI layout).

Read in place through :class:`~imgopt.image.fs.TarFS` (never extracted).
Written in the Docker 25+ layout: ``manifest.json`` points at OCI blobs, so
layers keep their bytes and digests and ``docker load`` (any version) reads it.
"""

from __future__ import annotations

import posixpath
from typing import BinaryIO

from imgopt.atomic import atomic_file
from imgopt.errors import BadInput, NotFound
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import Compression
from imgopt.image.digest import HashingWriter, sha256_bytes
from imgopt.image.fs import FS, peek_codec
from imgopt.image.model import Descriptor, Image, ImageConfig, Index, Manifest, Platform, build_image, canonical_json
from imgopt.image.reference import ImageRef, split_name
from imgopt.image.transports.base import Progress, SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.oci_layout import parse_local
from imgopt.image.transports.partial import (CONTAINERD_NAME, REF_NAME, TarOut, blob_path, full_name,
                                             locate_blobs, manifest_entry, open_blob, read_blob, read_json,
                                             read_tar)
from imgopt.image.jsonfields import Fields
from imgopt.image.limits import MAX_ARCHIVE_JSON, MAX_CONFIG


class DockerArchive:
    name = "docker-archive"
    prefix = "docker-archive:"

    def parse(self, rest: str, text: str) -> ImageRef:
        return parse_local(self.name, rest, text, index=True)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        return read_tar(ref.path, lambda fs: read_docker_archive(fs, ref.name, ref.index, opts.platform, str(ref)))

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        # docker load takes any codec: keep the layers' bytes
        img = recompress_for(image, opts, "keep", ref.path)
        tags = repo_tags(ref.name, img)
        with atomic_file(ref.path) as tmp:
            write_docker_archive(img, tmp, tags, opts.progress)
        return img


def repo_tags(ref: str, image: Image) -> list[str]:
    """The RepoTags to write: ``ref`` (name:tag) if given, else the image's own."""
    if not ref:
        return list(image.repo_tags)
    name, tag, digest = split_name(ref, ref)
    if digest:
        raise BadInput(ref, "a docker archive is tagged by name:tag, not by digest")
    return [f"{name}:{tag}"]


# ------------------------------------------------------------------ reading


def read_docker_archive(fs: FS, ref: str, index: int | None, platform: Platform | None, name: str) -> Image:
    """A ``docker save`` tar: classic (<id>/layer.tar) or Docker 25+ (OCI blobs)."""
    if not fs.exists("manifest.json"):
        raise BadInput(name, "not a docker save archive (no manifest.json)")
    doc = read_json(fs, "manifest.json")
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
    locate_blobs(fs, img, paths)
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
            raw = read_blob(fs, d)
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
        img = build_image(name, raw, config_raw, lambda dd: open_blob(fs, dd), d.media_type or None,
                          repo_tags=tags, index=index)
        locate_blobs(fs, img, {l.digest: blob_path(l.digest) for l in img.layers})
        return img
    return None


# ------------------------------------------------------------------ writing


def write_docker_archive(image: Image, path: str, repo_tags: list[str], progress: Progress | None = None) -> None:
    """A ``docker load``-able archive in the Docker 25+ layout (also an OCI layout).

    manifest.json points at the blobs, so layers keep their bytes and digests;
    ``docker load`` (any version) inflates compressed layers itself.
    """
    for l in image.layers:
        if l.descriptor.urls:
            raise BadInput(path, "image has foreign layers, which cannot be stored in a docker archive")
    out = TarOut(path)
    try:
        out.add_image(image, progress)
        entries = []
        for t in repo_tags or [""]:
            e = manifest_entry(image, "")
            if t:
                e["annotations"] = {CONTAINERD_NAME: full_name(t), REF_NAME: t.rsplit(":", 1)[-1]}
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


__all__ = ["DockerArchive", "read_docker_archive", "write_docker_archive", "repo_tags"]
