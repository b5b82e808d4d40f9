"""``docker-daemon:NAME[:TAG]``: an image in the local Docker engine.

The engine's ``docker save`` stream (docker SDK, ``GET /images/NAME/get``) is
spooled chunk by chunk to a private temporary file and then read as a
``docker-archive``; it is never held in memory.  The spool is removed when
the image is closed.
"""

from __future__ import annotations

import os

from imgopt.errors import DaemonError, NotFound
from imgopt.image.fs import TarFS
from imgopt.image.model import Image, Platform
from imgopt.image.reference import ImageRef
from imgopt.image.sources.layout import read_docker_archive
from imgopt.scratch import make_scratch, remove_tree


def docker_client(subject: str = "docker-daemon"):
    """A docker SDK client, or a one-line error when no engine answers."""
    try:
        import docker  # imported lazily: the SDK is slow to import
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover
        raise DaemonError(subject, "the docker Python SDK is not installed") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as e:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DaemonError(subject, f"cannot connect to the Docker daemon at {host}: {_short(e)}") from None
    return client


def _short(e: Exception) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:200]


def daemon_name(ref: ImageRef) -> str:
    return f"{ref.name}@{ref.digest}" if ref.digest else f"{ref.name}:{ref.tag}"


def read_daemon(ref: ImageRef, platform: Platform | None, progress=None) -> Image:
    from docker.errors import APIError, ImageNotFound

    name = str(ref)
    client = docker_client(name)
    want = daemon_name(ref)
    try:
        info = client.api.inspect_image(want)
    except ImageNotFound:
        raise NotFound(name, f"no such image {want} in the Docker engine") from None
    except APIError as e:
        raise DaemonError(name, _short(e)) from None
    tmpdir = make_scratch("imgopt-daemon-")
    try:
        spool = os.path.join(tmpdir, "image.tar")
        total = int(info.get("Size") or 0)
        with open(spool, "wb") as f:
            try:
                resp = client.api.get_image(want)
                for chunk in resp:
                    f.write(chunk)
                    if progress:
                        progress(len(chunk), total)
            except APIError as e:
                raise DaemonError(name, f"docker save failed: {_short(e)}") from None
        fs = TarFS(spool)
        tag = want if not ref.digest else ""
        try:
            img = read_docker_archive(fs, tag, None if tag else 0, platform, name)
        except NotFound:
            # saved by ID or digest: the archive's RepoTags may not name it
            img = read_docker_archive(fs, "", 0, platform, name)
    except BaseException:
        remove_tree(tmpdir)
        raise
    img._closers.append(lambda: remove_tree(tmpdir))
    return img
