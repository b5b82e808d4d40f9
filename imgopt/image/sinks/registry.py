"""``docker://HOST/REPO[:TAG|@DIGEST]`` sink: push an image to a registry.

Blobs first (config and layers), each skipped when the registry has it,
mounted from the source repository when the image was read from the same
registry, else uploaded with one streamed PUT whose bytes are verified as
they are read.  The manifest goes last, so the tag never points at an image
with missing blobs.
"""

from __future__ import annotations

from typing import Callable, Iterator

from imgopt.errors import BadInput, RegistryError
from imgopt.image.codecs import CHUNK
from imgopt.image.model import Descriptor, Image
from imgopt.image.reference import ImageRef
from imgopt.image.registry_client import Progress, RegistryClient
from imgopt.image.sources.registry import ORIGIN_ATTR


def write_registry(image: Image, ref: ImageRef, insecure: bool, progress: Progress | None = None) -> None:
    """Push ``image`` to ``ref``; verify the registry stored the manifest under the same digest."""
    from imgopt.image.sinks import _image_total
    from imgopt.image.verify_write import checked_blobs

    name = str(ref)
    digest = image.manifest.digest
    if ref.digest and ref.digest != digest:
        raise BadInput(name, f"the image's manifest is {digest}, not the digest in the reference")
    client = RegistryClient(ref.host, ref.name, insecure=insecure, subject=name, push=True)
    try:
        origins = _origins(image)
        total = _image_total(image)
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
