"""Streaming layer entries, with OCI whiteouts and opaque directories decoded.

A layer is read once, front to back, through :func:`iter_entries`; nothing
is extracted to disk.  Paths are normalized to ``a/b/c`` (no leading slash,
no ``.``); hostile names (``..`` components, absolute paths, NUL) are
reported through ``problems`` and made safe rather than trusted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from imgopt.image.fasttar import Member, TarReader

# OCI whiteouts (image-spec layer.md), the one home of these names
WHITEOUT_PREFIX = ".wh."  # .wh.NAME deletes NAME
WHITEOUT_META_PREFIX = ".wh..wh."  # AUFS metadata (.wh..wh..opq, .wh..wh.plnk, ...): never a file of the image
OPAQUE_MARKER = ".wh..wh..opq"  # DIR/.wh..wh..opq hides DIR's lower-layer children


class Kind(str, enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    WHITEOUT = "whiteout"  # .wh.NAME: hides NAME of lower layers
    OPAQUE = "opaque"  # .wh..wh..opq: hides all lower-layer children of the dir


@dataclass(slots=True)
class Entry:
    path: str  # normalized, relative to the image root; "" is the root itself
    kind: Kind
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    linkname: str = ""  # symlink target as stored; hardlink target normalized
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)
    target: str = ""  # for WHITEOUT: the hidden path; for OPAQUE: the directory

    @property
    def is_marker(self) -> bool:
        return self.kind in (Kind.WHITEOUT, Kind.OPAQUE)


def normalize(name: str) -> tuple[str, str | None]:
    """Normalize a tar member name; returns (path, problem or None).

    ``..`` components that would climb above the root are clamped at the root
    (as Docker's extraction does), absolute paths are made relative.
    """
    if not name.startswith(("/", "./", "../")) and "//" not in name and "/." not in name and "\x00" not in name \
            and name not in (".", ".."):
        return name.rstrip("/"), None  # the common, already clean case
    problem = None
    if "\x00" in name:
        problem = "name contains NUL"
        name = name.replace("\x00", "")
    if name.startswith("/"):
        problem = problem or "absolute path"
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            problem = problem or "path contains '..'"
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/".join(parts), problem


_TYPE_KIND = {
    b"0": Kind.FILE, b"7": Kind.FILE, b"5": Kind.DIR, b"2": Kind.SYMLINK, b"1": Kind.HARDLINK,
    b"3": Kind.CHAR, b"4": Kind.BLOCK, b"6": Kind.FIFO,
}


def entry_from_member(m: Member, problems: Callable[[str, str], None] | None = None) -> Entry:
    """An :class:`Entry` from a raw tar member: names normalized, whiteouts decoded."""
    path, problem = normalize(m.name)
    if problem and problems:
        problems(m.name, problem)
    if m.issues and problems:
        for issue in m.issues:
            problems(m.name, issue)
    kind = _TYPE_KIND.get(m.type)
    if kind is None:
        if problems:
            problems(m.name, f"unsupported tar entry type {m.type!r}; treated as a regular file")
        kind = Kind.FILE
    base = path.rsplit("/", 1)[-1]
    target = ""
    if base.startswith(WHITEOUT_PREFIX):
        parent = path[: len(path) - len(base) - 1] if "/" in path else ""
        if base == OPAQUE_MARKER:
            kind, target = Kind.OPAQUE, parent
        else:
            hidden = base[len(WHITEOUT_PREFIX):]
            kind, target = Kind.WHITEOUT, (f"{parent}/{hidden}" if parent else hidden)
            if hidden in ("", ".", ".."):
                if problems:
                    problems(m.name, "whiteout of an invalid name")
                target = ""
    linkname = m.linkname
    if kind is Kind.HARDLINK:
        linkname, lproblem = normalize(m.linkname)
        if lproblem and problems:
            problems(m.name, f"hardlink target: {lproblem}")
    xattrs = {k[13:]: v for k, v in m.pax.items() if k.startswith("SCHILY.xattr.")} if m.pax else {}
    return Entry(
        path=path, kind=kind, size=m.size if kind is Kind.FILE else 0, mode=m.mode & 0o7777, uid=m.uid,
        gid=m.gid, mtime=m.mtime, linkname=linkname, uname=m.uname, gname=m.gname,
        devmajor=m.devmajor, devminor=m.devminor, xattrs=xattrs, target=target,
    )


def iter_entries(stream: BinaryIO, subject: str, problems: Callable[[str, str], None] | None = None,
                 seekable: bool | None = False) -> Iterator[tuple[Entry, Member, TarReader]]:
    """Yield (Entry, raw Member, reader) for each member of a layer tar.

    ``reader.read_member()`` returns the current member's content; content
    not read is skipped.  Damage raises :class:`BadInput` naming ``subject``.
    """
    reader = TarReader(stream, subject, seekable)
    for m in reader:
        yield entry_from_member(m, problems), m, reader


def iter_tar(stream: BinaryIO, subject: str) -> Iterator[Member]:
    """Raw members of a tar stream (content skipped)."""
    yield from TarReader(stream, subject, False)
