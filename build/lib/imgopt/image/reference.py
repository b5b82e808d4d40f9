"""Image references in skopeo's transport syntax, plus plain-path detection.

=====================================  =========================================
``docker-archive:FILE[:REF|:@N]``      a ``docker save`` tar (classic or 25+)
``oci:DIR[:TAG]``                      an OCI image layout directory
``oci-archive:FILE[:TAG]``             a tar of an OCI image layout
``docker-daemon:NAME[:TAG|@DIGEST]``   an image in the local Docker engine
``docker://HOST/REPO[:TAG|@DIGEST]``   a registry (OCI Distribution API v2)
``PATH``                               detected: layout dir, docker or OCI tar
=====================================  =========================================
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from dataclasses import dataclass

from imgopt.errors import BadInput, NotFound

TRANSPORTS = ("docker-archive", "oci", "oci-archive", "docker-daemon", "docker")

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
    text: str = ""  # as the user wrote it

    def __str__(self) -> str:
        return self.text or self.canonical

    @property
    def canonical(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.host}/{self.name}" + (f"@{self.digest}" if self.digest else f":{self.tag}")
        if self.transport == "docker-daemon":
            return f"docker-daemon:{self.name}" + (f"@{self.digest}" if self.digest else f":{self.tag}")
        suffix = f":@{self.index}" if self.index is not None else (f":{self.name}" if self.name else "")
        return f"{self.transport}:{self.path}{suffix}"

    @property
    def is_local_registry(self) -> bool:
        h = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host.split("]")[0] + "]"
        return h in ("localhost", "127.0.0.1", "[::1]") or h.startswith("127.")


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


def _split_path(rest: str) -> tuple[str, str]:
    """``PATH[:REF]``: the path wins if it exists as written."""
    if os.path.exists(rest) or ":" not in rest:
        return rest, ""
    positions = [i for i, c in enumerate(rest) if c == ":"]
    for i in positions:
        if os.path.exists(rest[:i]):
            return rest[:i], rest[i + 1:]
    return rest[: positions[0]], rest[positions[0] + 1:]


def parse(text: str, *, for_writing: bool = False) -> ImageRef:
    """Parse a reference; plain paths are detected by content when reading."""
    if not text:
        raise BadInput("image", "empty image reference")
    if text.startswith("docker://"):
        rest = text[len("docker://"):]
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
        return ImageRef("docker", host=host, name=name, tag=tag, digest=digest, text=text)
    transport, sep, rest = text.partition(":")
    if sep and transport in TRANSPORTS and transport != "docker":
        if not rest:
            raise BadInput(text, f"{transport}: needs a {'name' if transport == 'docker-daemon' else 'path'}")
        if transport == "docker-daemon":
            name, tag, digest = split_name(rest, text)
            return ImageRef(transport, name=name, tag=tag, digest=digest, text=text)
        path, ref = _split_path(rest)
        index = None
        if ref.startswith("@"):
            if transport != "docker-archive" or not ref[1:].isdigit():
                raise BadInput(text, f"invalid image selector {ref!r}")
            index, ref = int(ref[1:]), ""
        return ImageRef(transport, path=path, name=ref, index=index, text=text)
    return _detect(text, for_writing)


def _detect(path: str, for_writing: bool) -> ImageRef:
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


def load_json(data: bytes, subject: str) -> object:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(subject, f"not valid JSON: {e}") from None
