"""What a slim image is called: never the source's own tags.

``docker load`` of an archive moves every tag the archive names to the
loaded image, so a slim archive written with the source's ``RepoTags``
would take the original's tag away from it.  A slim image is named
``<repo>:<tag>-slim`` after the source (its first tag, or the reference it
was opened by); a destination that names the image (``docker-archive:F:NAME``,
``docker-daemon:NAME``, ``oci:DIR:TAG``) wins over that.
"""

from __future__ import annotations

from imgopt.image.model import Image

SUFFIX = "-slim"
_MAX_TAG = 128


def source_name(image: Image) -> tuple[str, str] | None:
    """(repository, tag) the source image is known by; None when it has no name (tag "" for a digest)."""
    from imgopt.errors import ImgoptError
    from imgopt.image.reference import split_name
    from imgopt.image.transports import parse

    for t in image.repo_tags:
        try:
            repo, tag, _digest = split_name(t, t)
            return repo, tag
        except ImgoptError:
            continue
    try:
        ref = parse(image.name.removesuffix(" (slim)")) if image.name else None
    except ImgoptError:
        return None
    if ref is None:
        return None
    if ref.transport == "docker":
        repo = ref.name.removeprefix("library/") if ref.host == "docker.io" else f"{ref.host}/{ref.name}"
        return repo, ref.tag
    if ref.transport == "docker-daemon":
        return ref.name, ref.tag
    if ref.transport == "docker-archive" and ref.name:
        try:
            repo, tag, _digest = split_name(ref.name, ref.name)
            return repo, tag
        except ImgoptError:
            return None
    return None


def slim_tags(image: Image) -> list[str]:
    """The tags a slim image of ``image`` carries by default: ``[<repo>:<tag>-slim]``, or [] when the
    source has no name (the image is then written untagged unless the destination names it)."""
    named = source_name(image)
    if named is None:
        return []
    repo, tag = named
    tag = (tag[: _MAX_TAG - len(SUFFIX)] + SUFFIX) if tag else SUFFIX.lstrip("-")
    return [f"{repo}:{tag}"]



def written_names(dest: str, image: Image) -> list[str]:
    """The names the slim image gets at ``dest``: the destination's own, else :func:`slim_tags`."""
    from imgopt.errors import ImgoptError
    from imgopt.image.reference import split_name
    from imgopt.image.transports import parse

    try:
        r = parse(dest, for_writing=True)
    except ImgoptError:
        return list(image.repo_tags)
    if r.transport == "docker":
        return [f"{r.host}/{r.name}:{r.tag}" if r.tag else f"{r.host}/{r.name}@{r.digest}"]
    if r.transport == "docker-daemon":
        return [f"{r.name}:{r.tag}"]
    if r.transport == "docker-archive":
        if not r.name:
            return list(image.repo_tags)
        try:
            name, tag, _ = split_name(r.name, r.name)
            return [f"{name}:{tag}"]
        except ImgoptError:
            return [r.name]
    return [r.name] if r.name else []


__all__ = ["slim_tags", "source_name", "written_names", "SUFFIX"]
