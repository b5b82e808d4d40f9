"""What a transport is: the small Source/Sink protocol every ``imgopt/image/transports/*.py`` implements.

A transport names where images are kept (``oci:DIR``, ``docker://HOST/REPO``...)
and knows three things, as go-containerregistry's ``remote``, ``layout``,
``tarball`` and ``daemon`` packages do:

* :meth:`Transport.parse` -- its reference syntax, after the prefix;
* :meth:`Transport.open` -- the Source: an :class:`~imgopt.image.model.Image` to read;
* :meth:`Transport.write` -- the Sink: store an Image, re-encoding layers first
  as its compression policy (:meth:`Transport.prepare`) wants.

Nothing outside the transport module switches on transport names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Protocol

from imgopt.errors import BadInput
from imgopt.image.auth import Keychain
from imgopt.image.model import Image, Platform
from imgopt.image.reference import ImageRef

Progress = Callable[[int, int], None]


@dataclass
class SourceOptions:
    platform: Platform | None = None
    insecure: bool = False  # allow plain HTTP / unverified TLS for non-loopback registries
    progress: Progress | None = None  # callable(n_bytes, total) for long transfers
    keychain: Keychain | None = None  # registry credentials (default: the Docker CLI's config)


@dataclass
class SinkOptions:
    compress: str = "auto"  # auto (the sink's policy) | keep | gzip | zstd | none
    level: int | None = None
    insecure: bool = False
    progress: Progress | None = None
    jobs: int | None = None  # layers re-encoded in parallel
    keychain: Keychain | None = None  # registry credentials (default: the Docker CLI's config)


@dataclass
class WriteResult:
    ref: str
    manifest_digest: str
    image: Image  # as written (after the sink's compression policy)


class Transport(Protocol):
    name: ClassVar[str]  # the ImageRef.transport value, e.g. "oci"
    prefix: ClassVar[str]  # what a reference starts with, e.g. "oci:" or "docker://"

    def parse(self, rest: str, text: str) -> ImageRef:
        """The reference ``text`` (``rest``: what follows the prefix)."""
        ...

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        """Source: the image at ``ref``, for reading (close it)."""
        ...

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        """Sink: store ``image`` at ``ref`` atomically; returns the image as written."""
        ...


def recompress_for(image: Image, opts: SinkOptions, auto: str, near: str | None = None) -> Image:
    """Apply ``opts.compress`` to ``image``; ``auto`` is what the sink wants for ``--compress auto``.

    ``auto`` is ``auto-gzip`` (gzip layers stored uncompressed: registries and
    OCI layouts expect compressed layers, as skopeo does) or ``keep``.
    Re-encoded layers go to a work directory near ``near`` (the destination).
    """
    from imgopt.image.mutate import recompress, workdir_for

    want = auto if opts.compress == "auto" else opts.compress
    if want == "keep" and opts.level is not None:
        raise BadInput("--level", "a level needs --compress gzip or zstd")
    if want == "auto-gzip" and not any(l.compression.value == "none" for l in image.layers):
        return image
    if want == "keep":
        return image
    return recompress(image, want, opts.level, workdir_for(image, near), jobs=opts.jobs, progress=opts.progress)


__all__ = ["Transport", "SourceOptions", "SinkOptions", "WriteResult", "recompress_for", "Progress"]
