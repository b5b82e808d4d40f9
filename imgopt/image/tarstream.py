"""Streaming layer entries, with OCI whiteouts and opaque directories decoded.

A layer is read once, front to back, through :func:`iter_entries`; nothing
is extracted to disk.  Paths are normalized to ``a/b/c`` (no leading slash,
no ``.``); hostile names (``..`` components, absolute paths, NUL) are
reported through ``problems`` and made safe rather than trusted.
"""

from __future__ import annotations

import enum
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from imgopt.errors import BadInput

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


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


_TAR_KIND = {
    tarfile.REGTYPE: Kind.FILE, tarfile.AREGTYPE: Kind.FILE, tarfile.CONTTYPE: Kind.FILE,
    tarfile.DIRTYPE: Kind.DIR, tarfile.SYMTYPE: Kind.SYMLINK, tarfile.LNKTYPE: Kind.HARDLINK,
    tarfile.CHRTYPE: Kind.CHAR, tarfile.BLKTYPE: Kind.BLOCK, tarfile.FIFOTYPE: Kind.FIFO,
}


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


def _xattrs(ti: tarfile.TarInfo) -> dict[str, str]:
    if not ti.pax_headers:
        return {}
    return {k[len("SCHILY.xattr."):]: v for k, v in ti.pax_headers.items() if k.startswith("SCHILY.xattr.")}


def entry_from_tarinfo(ti: tarfile.TarInfo, problems: Callable[[str, str], None] | None = None) -> Entry:
    path, problem = normalize(ti.name)
    if problem and problems:
        problems(ti.name, problem)
    kind = _TAR_KIND.get(ti.type)
    if kind is None:
        if problems:
            problems(ti.name, f"unsupported tar entry type {ti.type!r}; treated as a regular file")
        kind = Kind.FILE
    base = posixpath.basename(path)
    target = ""
    if base == OPAQUE_MARKER:
        kind, target = Kind.OPAQUE, posixpath.dirname(path)
    elif base.startswith(WHITEOUT_PREFIX):
        hidden = base[len(WHITEOUT_PREFIX):]
        kind, target = Kind.WHITEOUT, posixpath.join(posixpath.dirname(path), hidden)
        if hidden in ("", ".", ".."):
            if problems:
                problems(ti.name, "whiteout of an invalid name")
            target = ""
    linkname = ti.linkname
    if kind is Kind.HARDLINK:
        linkname, lproblem = normalize(ti.linkname)
        if lproblem and problems:
            problems(ti.name, f"hardlink target: {lproblem}")
    return Entry(
        path=path, kind=kind, size=ti.size if kind is Kind.FILE else 0, mode=ti.mode, uid=ti.uid, gid=ti.gid,
        mtime=int(ti.mtime), linkname=linkname, uname=ti.uname, gname=ti.gname,
        devmajor=ti.devmajor, devminor=ti.devminor, xattrs=_xattrs(ti), target=target,
    )


def iter_tar(stream: BinaryIO, subject: str) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Yield (TarInfo, TarFile) for each member; ``tf.extractfile(ti)`` reads it.

    A truncated or corrupt tar raises :class:`BadInput` naming ``subject``.
    """
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 20)
    except tarfile.ReadError as e:
        raise BadInput(subject, f"not a tar archive: {e}") from None
    try:
        while True:
            try:
                ti = tf.next()
            except tarfile.ReadError as e:
                raise BadInput(subject, f"corrupt tar: {e}") from None
            except EOFError:
                raise BadInput(subject, "tar archive is truncated") from None
            if ti is None:
                return
            yield ti, tf
    except (tarfile.ReadError, EOFError) as e:  # raised while the consumer read a member
        raise BadInput(subject, f"tar archive is truncated or corrupt: {e}") from None


def iter_entries(stream: BinaryIO, subject: str,
                 problems: Callable[[str, str], None] | None = None) -> Iterator[tuple[Entry, tarfile.TarInfo, tarfile.TarFile]]:
    """Yield (Entry, TarInfo, TarFile) for each member of a layer tar."""
    for ti, tf in iter_tar(stream, subject):
        yield entry_from_tarinfo(ti, problems), ti, tf
