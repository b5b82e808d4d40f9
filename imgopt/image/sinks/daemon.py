"""``docker-daemon:NAME[:TAG]`` sink: load through the docker SDK.

The image is written as a docker archive to a private temporary file and
streamed to ``POST /images/load``; the engine inflates any layer codec it
supports itself.
"""

from __future__ import annotations

import json
import os

from imgopt.errors import BadInput, DaemonError
from imgopt.image.model import Image
from imgopt.image.reference import ImageRef
from imgopt.image.sources.daemon import _short, docker_client
from imgopt.scratch import make_scratch, remove_tree


def write_daemon(image: Image, ref: ImageRef, progress=None) -> None:
    from docker.errors import APIError

    from imgopt.image.sinks import write_docker_archive

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
                raise DaemonError(str(ref), f"docker load failed: {_short(e)}") from None
        for chunk in resp or []:
            msg = chunk if isinstance(chunk, dict) else _as_json(chunk)
            if msg and msg.get("error"):
                raise DaemonError(str(ref), f"docker load failed: {msg['error']}")
        # make sure the tag points at what we loaded
        try:
            got = client.api.inspect_image(tag)["Id"]
        except APIError as e:
            raise DaemonError(str(ref), f"image not present after load: {_short(e)}") from None
        if got != image.config_digest:
            raise DaemonError(str(ref), f"engine reports image {got}, expected {image.config_digest}")
    finally:
        remove_tree(tmpdir)


def _as_json(chunk) -> dict | None:
    try:
        return json.loads(chunk)
    except (ValueError, TypeError):
        return None


def engine_reads_zstd(subject: str) -> bool:
    """Does the engine decode zstd layers reliably?  Docker 23.0 and later do."""
    client = docker_client(subject)
    try:
        version = str(client.version().get("Version", ""))
        major = int(version.split(".", 1)[0])
    except (ValueError, TypeError, AttributeError):
        return True
    return major >= 23
