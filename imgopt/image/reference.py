"""Image references: the parsed value (:class:`ImageRef`) and the pieces of their syntax.

Which transports exist and how each parses what follows its prefix is
:mod:`imgopt.image.transports` (``parse`` there); this module holds what
they share: repository names (``repo[:tag][@digest]``), ``PATH[:REF]``
splitting, and :func:`detect`, which tells what kind of image store a plain
path is.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass

from imgopt.errors import BadInput, NotFound

_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
DEFAULT_REGISTRY = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME_RE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


@dataclass(frozen=True)
class ImageRef:
    transport: str
    path: str = ""  # file or directory for the local transports
    name: str = ""  # archive/layout reference, daemon name, or registry repository
    host: str = ""  # registry host[:port]
    tag: str = ""
    digest: str = ""
    index: int | None = None  # docker-archive:@N
    text: str = ""  # as the user wrote it (what messages name)

    def __str__(self) -> str:
        return self.text


def split_name(ref: str, subject: str) -> tuple[str, str, str]:
    """``repo[:tag][@digest]`` -> (repo, tag, digest); tag defaults to latest."""
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise BadInput(subject, f"invalid digest {digest!r}")
    tag = ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise BadInput(subject, f"invalid tag {tag!r}")
    first, _, rest = ref.partition("/")
    has_domain = bool(rest) and ("." in first or ":" in first or first == "localhost")
    if not (_NAME_RE.match(ref) and (has_domain or _PATH_RE.match(ref))):
        raise BadInput(subject, f"invalid repository name {ref!r}")
    if not tag and not digest:
        tag = "latest"
    return ref, tag, digest


def split_path(rest: str) -> tuple[str, str]:
    """``PATH[:REF]``: the path wins if it exists as written."""
    if os.path.exists(rest) or ":" not in rest:
        return rest, ""
    positions = [i for i, c in enumerate(rest) if c == ":"]
    for i in positions:
        if os.path.exists(rest[:i]):
            return rest[:i], rest[i + 1:]
    return rest[: positions[0]], rest[positions[0] + 1:]


def detect(path: str, for_writing: bool = False) -> ImageRef:
    """A plain path: what kind of image store is it?"""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "oci-layout")) or for_writing:
            return ImageRef("oci", path=path, text=path)
        if os.path.exists(os.path.join(path, "manifest.json")):
            raise BadInput(path, "is an extracted docker save directory; pass the tar file instead")
        raise BadInput(path, "is a directory but not an OCI image layout (no oci-layout file)")
    if os.path.isfile(path):
        try:
            with tarfile.open(path, "r:*") as tf:
                names = set()
                for ti in tf:
                    n = ti.name[2:] if ti.name.startswith("./") else ti.name
                    names.add(n)
                    if n == "manifest.json":
                        return ImageRef("docker-archive", path=path, text=path)
        except (tarfile.TarError, EOFError, OSError):
            raise BadInput(path, "is not an image: not a tar archive or OCI layout") from None
        if "index.json" in names or "oci-layout" in names:
            return ImageRef("oci-archive", path=path, text=path)
        raise BadInput(path, "is a tar archive but not an image (no manifest.json or index.json)")
    if for_writing:
        low = path.lower()
        if low.endswith((".tar", ".tar.gz", ".tgz")):
            return ImageRef("docker-archive", path=path, text=path)
        return ImageRef("oci", path=path, text=path)
    if re.match(r"^[a-z0-9][a-z0-9._/-]*(:[\w.-]+)?$", path) and not path.startswith((".", "/")):
        raise NotFound(path, "no such file or directory (for an image in Docker, write docker-daemon:"
                             f"{path}; for a registry, docker://HOST/{path})")
    raise NotFound(path, "no such file or directory")
