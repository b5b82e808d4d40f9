"""``docker://HOST/REPO[:TAG|@DIGEST]``: an image in a registry (OCI Distribution API v2).

Reading: the manifest (after platform selection in an index) and the config
are read and verified up front; layers stay in the registry until a stream is
opened.  Each layer carries the codec its media type names, so nothing is
downloaded to learn it; the first bytes actually read correct it if the media
type lied.

Writing: blobs first (config and layers), each skipped when the registry has
it, mounted from the source repository when the image was read from the same
registry, else uploaded with one streamed PUT whose bytes are verified as they
are read.  The manifest goes last, so the tag never points at an image with
missing blobs.  Uncompressed layers are gzipped first (``--compress auto``).

Both go through the one :class:`~imgopt.image.registry_client.RegistryClient`,
with the credentials of the options' keychain.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

from imgopt.errors import BadInput, DigestMismatch, RegistryError
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK, sniff
from imgopt.image.digest import new_hasher, parse_digest
from imgopt.image.model import Descriptor, Image, Index, Layer, Manifest, Platform, build_image
from imgopt.image.mutate import convert
from imgopt.image.reference import DEFAULT_REGISTRY, ImageRef, split_name
from imgopt.image.registry_client import BlobStream, Progress, RegistryClient
from imgopt.image.transports.base import SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.partial import checked_blobs, image_total
from imgopt.image.limits import MAX_CONFIG, MAX_INDEX_DEPTH, load_json

if TYPE_CHECKING:
    from imgopt.cache.manifests import ManifestMemo


# Set on layers (and the image, for its config) read from a registry: the
# "api-host/repository" they came from, so that a registry sink on the same
# host can mount the blobs instead of uploading them.
ORIGIN_ATTR = "registry_origin"


class Registry:
    name = "docker"
    prefix = "docker://"

    def parse(self, rest: str, text: str) -> ImageRef:
        if "/" not in rest.split("@")[0]:
            rest = f"{DEFAULT_REGISTRY}/library/{rest}"
        first, _, remainder = rest.partition("/")
        if "." in first or ":" in first or first == "localhost":
            host, repo_ref = first, remainder
        else:
            host, repo_ref = DEFAULT_REGISTRY, rest
        name, tag, digest = split_name(repo_ref, text)
        if host == DEFAULT_REGISTRY and "/" not in name:
            name = f"library/{name}"
        return ImageRef(self.name, host=host, name=name, tag=tag, digest=digest, text=text)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        return read_registry(ref, opts.platform, opts.insecure, opts.progress, opts.keychain)

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        img = recompress_for(image, opts, "auto-gzip")
        if img.manifest.format == "docker" and any(l.compression.value == "zstd" for l in img.layers):
            img = convert(img, "oci")  # schema 2 cannot describe zstd layers
        write_registry(img, ref, opts.insecure, opts.progress, opts.keychain)
        return img


# ------------------------------------------------------------------ reading


def read_registry(ref: ImageRef, platform: Platform | None, insecure: bool, progress: Progress | None = None,
                  keychain=None) -> Image:
    """Open ``ref`` for reading; the returned image owns the HTTP session (close it)."""
    client = RegistryClient(ref.host, ref.name, insecure=insecure, subject=str(ref), keychain=keychain)
    try:
        img = _read(client, ref, platform, progress)
    except BaseException:
        client.close()
        raise
    img._closers.append(client.close)
    return img


def _read(client: RegistryClient, ref: ImageRef, platform: Platform | None, progress: Progress | None) -> Image:
    raw, media_type, index = resolve_manifest(client, ref, platform)
    return image_from_manifest(client, raw, media_type, index, progress)


def image_from_manifest(client: RegistryClient, raw: bytes, media_type: str, index: Index | None,
                        progress: Progress | None = None) -> Image:
    """The image of a manifest already fetched (:func:`resolve_manifest`): its config read, layers lazy."""
    name = client.subject
    config = _read_config(client, raw, media_type, name)
    total = 0  # known once the layers are: set below, read by opener when called

    def opener(d: Descriptor) -> BinaryIO:
        return client.open_blob(d.digest, progress, total)

    img = build_image(name, raw, config, opener, media_type or None, index=index)
    total = sum(l.size for l in img.layers)
    origin = f"{client.api_host}/{client.repo}"
    setattr(img, ORIGIN_ATTR, origin)  # for the config blob
    for layer in img.layers:
        _prepare_layer(layer, origin)
    return img


def resolve_manifest(client: RegistryClient, ref: ImageRef, platform: Platform | None,
                     memo: ManifestMemo | None = None) -> tuple[bytes, str, Index | None]:
    """The image manifest for ``ref``: (bytes, media type, the index it was selected from), verified.
    With a ``memo`` (:mod:`imgopt.cache.manifests`) a tag asks only whether it moved, a digest nothing."""
    raw, media_type = fetch_manifest(client, ref.digest or ref.tag, ref.digest or None, memo)
    index: Index | None = None
    for _ in range(MAX_INDEX_DEPTH + 1):
        if media_type not in mt.INDEXES:
            return raw, media_type, index
        index = Index.parse(raw, f"{client.subject} index", media_type)
        desc = index.select(platform, client.subject)
        raw, media_type = fetch_manifest(client, desc.digest, desc.digest, memo)
        _check_size(raw, desc, client.subject)
        media_type = media_type or desc.media_type
    raise BadInput(client.subject, "image indexes nested too deeply")


def fetch_manifest(client: RegistryClient, reference: str, digest: str | None,
                   memo: ManifestMemo | None = None) -> tuple[bytes, str]:
    """A manifest or index and its media type, verified against ``digest`` or Docker-Content-Digest.

    With a ``memo``: a manifest named by digest that the memo holds (and that still hashes to it) is not
    requested; a tag is requested with ``If-None-Match`` of the digest it named last time, and a
    ``304 Not Modified`` is answered from the memo.  What the registry sends is remembered.
    """
    known: tuple[str, bytes, str] | None = None  # digest, bytes, media type
    if memo is not None:
        if digest:
            m = memo.manifest(digest)
            if m is not None and _hashes_to(m[0], digest):
                return m
        else:
            t = memo.tag(client.host, client.repo, reference)
            known = t if t is not None and _hashes_to(t[1], t[0]) else None
    got = client.get_manifest(reference, if_none_match=known[0] if known else None)
    if got is None:  # 304: the tag still names the manifest the memo holds
        assert known is not None
        return known[1], known[2]
    raw, content_type, header_digest = got
    if digest:
        _verify(raw, digest, client.subject, "manifest")
    elif header_digest:
        _verify(raw, header_digest, client.subject, "manifest (Docker-Content-Digest)")
    media_type = _media_type(raw, content_type)
    if memo is not None:
        if digest:
            memo.remember_manifest(digest, raw, media_type)
        else:
            d = header_digest or "sha256:" + hashlib.sha256(raw).hexdigest()
            memo.remember_tag(client.host, client.repo, reference, d, raw, media_type)
    return raw, media_type


def _hashes_to(raw: bytes, digest: str) -> bool:
    try:
        _verify(raw, digest, "", "manifest")
    except (BadInput, DigestMismatch):
        return False
    return True


def _verify(raw: bytes, digest: str, subject: str, what: str) -> None:
    parse_digest(digest, subject)
    h = new_hasher(digest)
    h.update(raw)
    got = f"{h.name}:{h.hexdigest()}"
    if got != digest:
        raise DigestMismatch(subject, f"{what} digest mismatch: content hashes to {got}, expected {digest}")


def _media_type(raw: bytes, content_type: str) -> str:
    """The document's own mediaType, else a specific Content-Type, else guessed from its shape."""
    try:
        doc = load_json(raw, None)
    except BadInput:
        return content_type  # Manifest.parse reports the bad JSON
    if not isinstance(doc, dict):
        return content_type
    if isinstance(doc.get("mediaType"), str) and doc["mediaType"]:
        return doc["mediaType"]
    if content_type in mt.MANIFESTS | mt.INDEXES or content_type in (mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED):
        return content_type
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_MANIFEST_V1
    if "manifests" in doc:
        return mt.OCI_INDEX
    return mt.OCI_MANIFEST if "layers" in doc else content_type


def _check_size(raw: bytes, desc: Descriptor, name: str) -> None:
    if len(raw) != desc.size:
        raise DigestMismatch(name, f"manifest {desc.digest} is {len(raw)} bytes, the index says {desc.size}")


def _read_config(client: RegistryClient, raw: bytes, media_type: str, name: str) -> bytes:
    man = Manifest.parse(raw, f"{name} manifest", media_type or None)  # rejects schema 1 and indexes
    return client.read_blob(man.config.digest, man.config.size, MAX_CONFIG)


def _prepare_layer(layer: Layer, origin: str) -> None:
    """Codec from the media type (no request needed); corrected by the first bytes read."""
    layer._compression = mt.LAYER_CODEC.get(layer.descriptor.media_type)
    setattr(layer, ORIGIN_ATTR, origin)
    layer._opener = _sniffing_opener(layer, layer._opener)


def _sniffing_opener(layer: Layer, inner: Callable[[], BinaryIO]) -> Callable[[], BinaryIO]:
    """Wrap an opener so that the first stream opened checks the codec against the blob's magic."""
    state = {"checked": False}

    def opener() -> BinaryIO:
        f = inner()
        if not state["checked"] and isinstance(f, BlobStream):
            layer._compression = sniff(f.peek(4))
            state["checked"] = True
        return f

    return opener


# ------------------------------------------------------------------ writing


def write_registry(image: Image, ref: ImageRef, insecure: bool, progress: Progress | None = None,
                   keychain=None) -> None:
    """Push ``image`` to ``ref``; verify the registry stored the manifest under the same digest."""
    name = str(ref)
    digest = image.manifest.digest
    if ref.digest and ref.digest != digest:
        raise BadInput(name, f"the image's manifest is {digest}, not the digest in the reference")
    client = RegistryClient(ref.host, ref.name, insecure=insecure, subject=name, push=True, keychain=keychain)
    try:
        origins = _origins(image)
        total = image_total(image)
        layers = {l.digest for l in image.layers}
        for desc, opener in checked_blobs(image):
            counted = desc.digest in layers  # layers count towards progress, the config does not
            push_blob(client, desc, opener, origins.get(desc.digest), progress if counted else None, total)
        got = client.put_manifest(ref.digest or ref.tag, image.manifest.serialize(), image.manifest.media_type)
        if got and got != digest:
            raise RegistryError(name, f"registry stored the manifest as {got}, expected {digest}")
    finally:
        client.close()


def _origins(image: Image) -> dict[str, str | None]:
    """Blob digest -> "host/repo" it was read from (None when not from a registry)."""
    found = {l.digest: getattr(l, ORIGIN_ATTR, None) for l in image.layers}
    found.setdefault(image.manifest.config.digest, getattr(image, ORIGIN_ATTR, None))
    return found


def push_blob(client: RegistryClient, desc: Descriptor, opener: Callable[[], object], origin: str | None,
              progress: Progress | None, total: int) -> str:
    """Make ``desc`` present in the repository; returns "exists", "mounted" or "uploaded"."""
    if client.blob_exists(desc.digest):
        _report(progress, desc.size, total)
        return "exists"
    upload_url = None
    host, _, repo = (origin or "").partition("/")
    if origin and host == client.api_host and repo != client.repo:
        upload_url = client.mount_blob(desc.digest, repo)
        if upload_url is None:
            _report(progress, desc.size, total)
            return "mounted"
    upload_url = upload_url or client.start_upload()
    with opener() as src:  # type: ignore[attr-defined]
        client.put_blob(upload_url, desc.digest, desc.size, _chunks(src, progress, total))
    return "uploaded"


def _chunks(src, progress: Progress | None, total: int) -> Iterator[bytes]:
    """The stream in CHUNK-sized pieces; reading to EOF makes the verifying reader check the digest."""
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return
        _report(progress, len(chunk), total)
        yield chunk


def _report(progress: Progress | None, n: int, total: int) -> None:
    if progress and n:
        progress(n, total)


__all__ = ["Registry", "read_registry", "write_registry", "push_blob", "fetch_manifest", "resolve_manifest",
           "image_from_manifest", "ORIGIN_ATTR"]
