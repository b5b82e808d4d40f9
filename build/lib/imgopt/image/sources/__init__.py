"""Open an image wherever it is kept: :func:`open_image`."""

from __future__ import annotations

from dataclasses import dataclass

from imgopt.image.fs import DirFS, TarFS
from imgopt.image.model import Image, Platform
from imgopt.image.reference import ImageRef, parse
from imgopt.image.sources.layout import read_docker_archive, read_oci_layout


@dataclass
class SourceOptions:
    platform: Platform | None = None
    insecure: bool = False  # allow plain HTTP / unverified TLS for non-loopback registries
    progress: object | None = None  # callable(n_bytes, total) for long transfers


def open_image(ref: str | ImageRef, opts: SourceOptions | None = None) -> Image:
    """Open an image for reading.  Use it as a context manager to clean up.

    Raises :class:`imgopt.errors.ImgoptError` subclasses with one-line
    messages for every expected failure.
    """
    opts = opts or SourceOptions()
    r = ref if isinstance(ref, ImageRef) else parse(ref)
    name = str(r)
    if r.transport == "docker-archive":
        fs = TarFS(r.path)
        try:
            img = read_docker_archive(fs, r.name, r.index, opts.platform, name)
        except BaseException:
            fs.close()
            raise
        img._closers.append(fs.close)
        return img
    if r.transport == "oci":
        import os

        from imgopt.errors import NotFound

        if not os.path.isdir(r.path):
            raise NotFound(r.path, "no such OCI layout directory")
        return read_oci_layout(DirFS(r.path), r.name, opts.platform, name)
    if r.transport == "oci-archive":
        fs = TarFS(r.path)
        try:
            img = read_oci_layout(fs, r.name, opts.platform, name)
        except BaseException:
            fs.close()
            raise
        img._closers.append(fs.close)
        return img
    if r.transport == "docker-daemon":
        from imgopt.image.sources.daemon import read_daemon

        return read_daemon(r, opts.platform, opts.progress)
    if r.transport == "docker":
        from imgopt.image.sources.registry import read_registry

        return read_registry(r, opts.platform, opts.insecure, opts.progress)
    raise AssertionError(r.transport)  # pragma: no cover


__all__ = ["open_image", "SourceOptions", "ImageRef", "parse"]
