"""Where images are kept: open one (:func:`open_image`), write one (:func:`write_image`).

References use skopeo's transport syntax; each transport is one module of
this package implementing the :class:`~imgopt.image.transports.base.Transport`
protocol (parse, open = Source, write = Sink with its own compression
policy), registered in :data:`TRANSPORTS`:

=====================================  ==============================  =====================================
``docker-archive:FILE[:REF|:@N]``      :mod:`.docker_archive`           a ``docker save`` tar (classic or 25+)
``oci:DIR[:TAG]``                      :mod:`.oci_layout`               an OCI image layout directory
``oci-archive:FILE[:TAG]``             :mod:`.oci_archive`              a tar of an OCI image layout
``docker-daemon:NAME[:TAG|@DIGEST]``   :mod:`.daemon`                   an image in the local Docker engine
``docker://HOST/REPO[:TAG|@DIGEST]``   :mod:`.registry`                 a registry (OCI Distribution API v2)
``PATH``                               :func:`imgopt.image.reference.detect`  a layout dir, docker or OCI tar
=====================================  ==============================  =====================================

Shared pieces: :mod:`.partial` (blob paths, verified blob reads, the
deterministic tar writer), :mod:`.base` (options, results, the policy
helper).  To add a transport: a module with a class like the others, one line
in :data:`TRANSPORTS`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from imgopt.errors import BadInput
from imgopt.image.model import Image
from imgopt.image.reference import ImageRef, detect
from imgopt.image.transports.base import SinkOptions, SourceOptions, Transport, WriteResult
from imgopt.plugins import instance

# ImageRef.transport -> "module:Class" (imported when first used)
TRANSPORTS: dict[str, str] = {
    "docker-archive": "imgopt.image.transports.docker_archive:DockerArchive",
    "oci": "imgopt.image.transports.oci_layout:OCILayout",
    "oci-archive": "imgopt.image.transports.oci_archive:OCIArchive",
    "docker-daemon": "imgopt.image.transports.daemon:Daemon",
    "docker": "imgopt.image.transports.registry:Registry",
}


# each transport's reference prefix, so parsing a reference imports only the transport it names (a warm
# `imgopt analyze FILE` should not import the registry client); tests/test_transports.py checks them
PREFIXES: dict[str, str] = {
    "docker-archive": "docker-archive:",
    "oci": "oci:",
    "oci-archive": "oci-archive:",
    "docker-daemon": "docker-daemon:",
    "docker": "docker://",
}


def transport(name: str) -> Transport:
    """The transport registered as ``name``."""
    return instance(TRANSPORTS[name])


def parse(text: str, *, for_writing: bool = False) -> ImageRef:
    """Parse a reference: a transport's prefix, else a plain path detected by its content (or, to write, name)."""
    if not text:
        raise BadInput("image", "empty image reference")
    for name in TRANSPORTS:
        prefix = PREFIXES.get(name) or transport(name).prefix
        if text.startswith(prefix):
            return transport(name).parse(text[len(prefix):], text)
    return detect(text, for_writing)


def _ref(ref: str | ImageRef, for_writing: bool = False) -> ImageRef:
    return ref if isinstance(ref, ImageRef) else parse(ref, for_writing=for_writing)


def open_image(ref: str | ImageRef, opts: SourceOptions | None = None) -> Image:
    """Open an image for reading.  Use it as a context manager to clean up.

    Raises :class:`imgopt.errors.ImgoptError` subclasses with one-line
    messages for every expected failure.
    """
    r = _ref(ref)
    return transport(r.transport).open(r, opts or SourceOptions())


@contextlib.contextmanager
def opened(image: str | ImageRef | Image, opts: SourceOptions | None = None) -> Iterator[Image]:
    """``image`` open for the duration: a reference is opened (and closed after); an Image is used as it is."""
    if isinstance(image, Image):
        yield image
        return
    with open_image(image, opts) as img:
        yield img


def write_image(image: Image, dest: str | ImageRef, opts: SinkOptions | None = None) -> WriteResult:
    """Write ``image`` to ``dest`` (atomically: a failure leaves nothing half written)."""
    from imgopt.scratch import clean_stale

    r = _ref(dest, for_writing=True)
    clean_stale()  # $TMPDIR scratch of killed runs (the destination's directory is cleaned where written)
    written = transport(r.transport).write(image, r, opts or SinkOptions())
    return WriteResult(str(r), written.manifest.digest, written)


__all__ = ["open_image", "opened", "write_image", "parse", "transport", "TRANSPORTS", "SourceOptions", "SinkOptions",
           "WriteResult", "ImageRef", "Transport"]
