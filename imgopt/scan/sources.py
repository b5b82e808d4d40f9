"""What a scan covers: the images behind each SOURCE, filtered.

=================================  ===============================================================
``docker://HOST``                  every repository of the registry (``/v2/_catalog``), every tag
``docker://HOST/REPO``             every tag of the repository (``/v2/REPO/tags/list``)
``docker://HOST/REPO:TAG|@DIGEST``  that image
``docker-daemon:``                 every image in the local Docker engine (untagged ones by ID)
``docker-daemon:NAME``             every tag of NAME in the engine
any other image reference          that image (``docker-archive:``, ``oci:``, a path...)
``--from-file LIST``               more sources, one per line (``#`` comments)
=================================  ===============================================================

Both registry lists are paginated through ``Link`` headers (``page_size``
asks for pages of that many).  A repository whose tags cannot be listed is
an error of the scan, not its end.  Filters: repository and tag globs
(:mod:`imgopt.image.globs` syntax; ``*`` stays within a path component, ``**``
crosses them) and the newest N tags of each repository (by the config's
``created`` time, which needs each tag's manifest and config: see
:func:`newest`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterable

from imgopt.errors import BadInput, ImgoptError
from imgopt.image.globs import compile_globs
from imgopt.scan.result import ScanError


@dataclass(frozen=True)
class Candidate:
    """An image the scan should cover (before its manifest is read)."""

    reference: str  # what imgopt analyze takes
    repository: str
    tag: str
    source: str  # the SOURCE it came from
    registry: tuple[str, str] | None = None  # (host, repository) for docker:// images
    image_id: str | None = None  # docker-daemon: the engine's image ID (its config digest)
    diff_ids: tuple[str, ...] = ()  # docker-daemon: the layers, known without a save


@dataclass
class SourceOptions:
    insecure: bool = False
    keychain: object = None
    page_size: int | None = None  # ask registries for pages of this many names


def _host_like(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost"


def expand(sources: Iterable[str], from_file: str | None = None) -> list[str]:
    """The SOURCE arguments plus the lines of ``--from-file``."""
    out = [s for s in sources if s.strip()]
    if from_file:
        try:
            with open(from_file, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise BadInput(from_file, "no such file") from None
        except (IsADirectoryError, UnicodeDecodeError) as e:
            raise BadInput(from_file, f"not a text file of sources ({e.__class__.__name__})") from None
        out += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not out:
        raise BadInput("imgopt scan", "no SOURCE given (a registry docker://HOST, a repository, docker-daemon:, "
                                      "an image, or --from-file LIST)")
    return list(dict.fromkeys(out))


def list_candidates(sources: list[str], opts: SourceOptions,
                    warn: Callable[[str], None] | None = None) -> tuple[list[Candidate], list[ScanError]]:
    """Every image the sources name (duplicates removed, in listing order) and what could not be listed."""
    cands: list[Candidate] = []
    errors: list[ScanError] = []
    for src in sources:
        try:
            if src.startswith("docker://"):
                _registry(src, opts, cands, errors)
            elif src.startswith("docker-daemon:"):
                _daemon(src, cands)
            else:
                from imgopt.image.transports import parse

                parse(src)  # a bad reference is an error of this source only
                cands.append(Candidate(src, src, "", src))
        except ImgoptError as e:
            errors.append(ScanError(src, None, None, str(e)))
    seen: set[str] = set()
    out = []
    for c in cands:
        if c.reference not in seen:
            seen.add(c.reference)
            out.append(c)
    return out, errors


def _registry(src: str, opts: SourceOptions, cands: list[Candidate], errors: list[ScanError]) -> None:
    from imgopt.image.registry_client import RegistryClient
    from imgopt.image.transports import parse

    rest = src[len("docker://"):].rstrip("/")
    first, _, path = rest.partition("/")
    if _host_like(first) and not path:  # the whole registry
        client = RegistryClient(first, "", insecure=opts.insecure, subject=src, keychain=opts.keychain,
                                scope="registry:catalog:*")
        try:
            repos = list(client.list_repositories(opts.page_size))
        finally:
            client.close()
        for repo in repos:
            try:
                _tags(first, repo, src, opts, cands)
            except ImgoptError as e:
                errors.append(ScanError(src, repo, None, str(e)))
        return
    ref = parse(src)
    last = rest.rsplit("/", 1)[-1]
    if "@" in rest or ":" in last:  # one image
        tag = ref.tag or ref.digest
        cands.append(Candidate(src, ref.name, tag, src, (ref.host, ref.name)))
        return
    _tags(ref.host, ref.name, src, opts, cands)


def _tags(host: str, repo: str, src: str, opts: SourceOptions, cands: list[Candidate]) -> None:
    from imgopt.image.registry_client import RegistryClient

    client = RegistryClient(host, repo, insecure=opts.insecure, subject=f"docker://{host}/{repo}",
                            keychain=opts.keychain)
    try:
        tags = list(client.list_tags(opts.page_size))
    finally:
        client.close()
    for tag in sorted(tags):
        cands.append(Candidate(f"docker://{host}/{repo}:{tag}", repo, tag, src, (host, repo)))


def _daemon(src: str, cands: list[Candidate]) -> None:
    from docker.errors import APIError, DockerException

    from imgopt.errors import DaemonError
    from imgopt.image.docker_engine import docker_client, short_error

    want = src[len("docker-daemon:"):]
    if want and (":" in want.rsplit("/", 1)[-1] or "@" in want):  # one image
        from imgopt.image.transports import parse

        ref = parse(src)
        cands.append(Candidate(src, ref.name, ref.tag or ref.digest, src))
        return
    try:
        client = docker_client(src)
        images = client.api.images(name=want or None)
        infos = {}
        for im in images:
            infos[im["Id"]] = client.api.inspect_image(im["Id"])
    except (APIError, DockerException) as e:
        raise DaemonError(src, short_error(e) if isinstance(e, APIError) else str(e)) from None
    for im in sorted(images, key=lambda im: im["Id"]):
        info = infos[im["Id"]]
        diff_ids = tuple((info.get("RootFS") or {}).get("Layers") or ())
        tags = [t for t in (im.get("RepoTags") or []) if t and t != "<none>:<none>"]
        if not tags:
            cands.append(Candidate(f"docker-daemon:{im['Id']}", "<none>", im["Id"][7:19], src, None, im["Id"],
                                   diff_ids))
        for t in sorted(tags):
            name, _, tag = t.rpartition(":")
            cands.append(Candidate(f"docker-daemon:{t}", name, tag, src, None, im["Id"], diff_ids))


# ------------------------------------------------------------------ filters


def filter_globs(cands: list[Candidate], repos: list[str], tags: list[str]) -> list[Candidate]:
    """Candidates whose repository matches one of ``repos`` and tag one of ``tags`` (empty: all)."""
    rx_r, rx_t = compile_globs(repos), compile_globs(tags)
    return [c for c in cands if (rx_r is None or rx_r.match(c.repository)) and (rx_t is None or rx_t.match(c.tag))]


def newest(cands: list[Candidate], n: int, created: Callable[[Candidate], str | None]) -> list[Candidate]:
    """The ``n`` most recently created tags of each repository (``created``: the config's time, or None)."""
    by_repo: dict[str, list[Candidate]] = {}
    for c in cands:
        by_repo.setdefault(c.repository, []).append(c)
    keep: set[str] = set()
    for group in by_repo.values():
        ranked = sorted(group, key=lambda c: (created(c) or "", c.tag), reverse=True)
        keep |= {c.reference for c in ranked[:n]}
    return [c for c in cands if c.reference in keep]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``I/N`` (1 <= I <= N) -> (I, N)."""
    if text is None:
        return None
    i, sep, n = text.partition("/")
    try:
        a, b = int(i), int(n)
    except ValueError:
        a = b = 0
    if not sep or b < 1 or not 1 <= a <= b:
        raise BadInput("--shard", f"{text!r} is not I/N with 1 <= I <= N (e.g. 2/8)")
    return a, b


def in_shard(c: Candidate, shard: tuple[int, int] | None) -> bool:
    """Deterministic, balanced and stable as tags come and go: by a hash of the image reference."""
    if shard is None:
        return True
    i, n = shard
    h = int.from_bytes(hashlib.sha256(c.reference.encode()).digest()[:8], "big")
    return h % n == i - 1


__all__ = ["Candidate", "SourceOptions", "expand", "list_candidates", "filter_globs", "newest", "parse_shard",
           "in_shard"]
