"""``docker-daemon:NAME[:TAG|@DIGEST]``: an image in the local Docker engine.

Reading: the engine's ``docker save`` stream (``GET /images/NAME/get``) is
spooled chunk by chunk to a private temporary file and read as a
``docker-archive``; it is never held in memory, and the spool is removed when
the image is closed.  Writing: the image is written as a docker archive to a
private temporary file and streamed to ``POST /images/load``; the engine
inflates any layer codec it supports itself (but Docker < 23 gets gzip for
zstd layers).  The client comes from :mod:`imgopt.image.docker_engine`.
"""

from __future__ import annotations

import json
import os

from imgopt.errors import BadInput, DaemonError, NotFound
from imgopt.image.docker_engine import docker_client, engine_reads_zstd, short_error
from imgopt.image.fs import TarFS
from imgopt.image.model import Image, Platform
from imgopt.image.mutate import recompress, workdir_for
from imgopt.image.reference import ImageRef, split_name
from imgopt.image.transports.base import SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.docker_archive import read_docker_archive, write_docker_archive
from imgopt.scratch import make_scratch, remove_tree


class Daemon:
    name = "docker-daemon"
    prefix = "docker-daemon:"

    def parse(self, rest: str, text: str) -> ImageRef:
        if not rest:
            raise BadInput(text, f"{self.name}: needs a name")
        name, tag, digest = split_name(rest, text)
        return ImageRef(self.name, name=name, tag=tag, digest=digest, text=text)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        return read_daemon(ref, opts.platform, opts.progress)

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        img = recompress_for(image, opts, "keep")
        if opts.compress == "auto" and any(l.compression.value == "zstd" for l in img.layers) \
                and not engine_reads_zstd(str(ref)):
            # Docker < 23 decodes zstd layers unreliably (seen here: "archive/tar:
            # invalid tar header" under load); hand it gzip instead
            img = recompress(img, "zstd-to-gzip", None, workdir_for(img), jobs=opts.jobs, progress=opts.progress)
        write_daemon(img, ref, opts.progress)
        return img


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
        raise DaemonError(name, short_error(e)) from None
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
                raise DaemonError(name, f"docker save failed: {short_error(e)}") from None
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


def write_daemon(image: Image, ref: ImageRef, progress=None) -> None:
    from docker.errors import APIError

    if ref.digest:
        raise BadInput(str(ref), "the engine tags images by name:tag, not by digest")
    client = docker_client(str(ref))
    tag = f"{ref.name}:{ref.tag}"
    tmpdir = make_scratch("imgopt-load-")
    try:
        path = os.path.join(tmpdir, "image.tar")
        write_docker_archive(image, path, [tag], progress)
        with open(path, "rb") as f:
            try:
                resp = client.api.load_image(f)
            except APIError as e:
                raise DaemonError(str(ref), f"docker load failed: {short_error(e)}") from None
        for chunk in resp or []:
            msg = chunk if isinstance(chunk, dict) else _as_json(chunk)
            if msg and msg.get("error"):
                raise DaemonError(str(ref), f"docker load failed: {msg['error']}")
        # make sure the tag points at what we loaded
        try:
            got = client.api.inspect_image(tag)["Id"]
        except APIError as e:
            raise DaemonError(str(ref), f"image not present after load: {short_error(e)}") from None
        if got != image.config_digest:
            raise DaemonError(str(ref), f"engine reports image {got}, expected {image.config_digest}")
    finally:
        remove_tree(tmpdir)


def _as_json(chunk) -> dict | None:
    try:
        return json.loads(chunk)
    except (ValueError, TypeError):
        return None


__all__ = ["Daemon", "read_daemon", "write_daemon", "daemon_name"]
