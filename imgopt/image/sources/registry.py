"""``docker://HOST/REPO[:TAG|@DIGEST]`` source: an image in a registry.

The manifest (after platform selection in an index) and the config are read
and verified up front; layers stay in the registry until a stream is opened.
Each layer carries the codec its media type names, so nothing is downloaded
to learn it; the first bytes actually read correct it if the media type lied.
"""

from __future__ import annotations

from typing import BinaryIO, Callable

from imgopt.errors import BadInput, DigestMismatch
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import sniff
from imgopt.image.digest import new_hasher, parse_digest
from imgopt.image.limits import MAX_CONFIG, MAX_INDEX_DEPTH, load_json
from imgopt.image.model import Descriptor, Image, Index, Layer, Platform, build_image
from imgopt.image.reference import ImageRef
from imgopt.image.registry_client import BlobStream, Progress, RegistryClient


# Set on layers (and the image, for its config) read from a registry: the
# "api-host/repository" they came from, so that a registry sink on the same
# host can mount the blobs instead of uploading them.
ORIGIN_ATTR = "registry_origin"


def read_registry(ref: ImageRef, platform: Platform | None, insecure: bool, progress: Progress | None = None) -> Image:
    """Open ``ref`` for reading; the returned image owns the HTTP session (close it)."""
    client = RegistryClient(ref.host, ref.name, insecure=insecure, subject=str(ref))
    try:
        img = _read(client, ref, platform, progress)
    except BaseException:
        client.close()
        raise
    img._closers.append(client.close)
    return img


def _read(client: RegistryClient, ref: ImageRef, platform: Platform | None, progress: Progress | None) -> Image:
    name = client.subject
    raw, media_type, index = _resolve(client, ref, platform)
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


def _resolve(client: RegistryClient, ref: ImageRef, platform: Platform | None) -> tuple[bytes, str, Index | None]:
    """The image manifest for ``ref``: (bytes, media type, the index it was selected from)."""
    raw, media_type = fetch_manifest(client, ref.digest or ref.tag, ref.digest or None)
    index: Index | None = None
    for _ in range(MAX_INDEX_DEPTH + 1):
        if media_type not in mt.INDEXES:
            return raw, media_type, index
        index = Index.parse(raw, f"{client.subject} index", media_type)
        desc = index.select(platform, client.subject)
        raw, media_type = fetch_manifest(client, desc.digest, desc.digest)
        _check_size(raw, desc, client.subject)
        media_type = media_type or desc.media_type
    raise BadInput(client.subject, "image indexes nested too deeply")


def fetch_manifest(client: RegistryClient, reference: str, digest: str | None) -> tuple[bytes, str]:
    """A manifest or index and its media type, verified against ``digest`` or Docker-Content-Digest."""
    raw, content_type, header_digest = client.get_manifest(reference)
    if digest:
        _verify(raw, digest, client.subject, "manifest")
    elif header_digest:
        _verify(raw, header_digest, client.subject, "manifest (Docker-Content-Digest)")
    return raw, _media_type(raw, content_type)


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
    from imgopt.image.model import Manifest

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
