"""Path lookups inside an unpacked image, the way the kernel would do them.

:class:`RootFS` resolves an absolute in-image path against a rootfs
directory component by component, following symlinks *inside* the rootfs
(absolute targets restart at its root, ``..`` stops at it), and reports every
symlink it went through.  That is how the trace records symlink chains link
by link and decides whether a path existed in the image.  Nothing on the host
outside the rootfs is ever looked at, whatever the image's symlinks say.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

MAX_LINKS = 40  # the kernel's limit (ELOOP)


@dataclass
class Lookup:
    path: str  # the resolved absolute path (symlinks followed as asked)
    exists: bool
    type: str | None = None  # file | dir | symlink | other; None when missing
    size: int | None = None  # regular files
    link_target: str | None = None  # when ``type`` is symlink (last component not followed)
    links: list[tuple[str, str]] = field(default_factory=list)  # (symlink path, its target) in order
    parent: str | None = None  # missing path: the existing directory where the lookup stopped


class RootFS:
    """Read-only view of an unpacked image directory."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._lstat: dict[str, os.stat_result | None] = {}
        self._cache: dict[tuple[str, bool], Lookup] = {}

    def _st(self, path: str) -> os.stat_result | None:
        """lstat of a symlink-free absolute in-image path (cached)."""
        if path in self._lstat:
            return self._lstat[path]
        try:
            st: os.stat_result | None = os.lstat(self.root + path)
        except (FileNotFoundError, NotADirectoryError, PermissionError, OSError):
            st = None
        self._lstat[path] = st
        return st

    def lookup(self, path: str, follow: bool = True) -> Lookup:
        """Resolve ``path`` (absolute, in-image); ``follow`` the last component if a symlink."""
        key = (path, follow)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(path, follow)
            self._cache[key] = hit
        return hit

    def _resolve(self, path: str, follow: bool) -> Lookup:
        links: list[tuple[str, str]] = []
        todo = [p for p in path.split("/") if p][::-1]  # components left, as a stack
        cur = ""  # resolved prefix, symlink-free
        budget = MAX_LINKS
        while todo:
            name = todo.pop()
            if name == ".":
                continue
            if name == "..":
                cur = cur.rpartition("/")[0]
                continue
            nxt = f"{cur}/{name}"
            st = self._st(nxt)
            if st is None:
                rest = "/".join(reversed(todo))
                return Lookup(nxt + (f"/{rest}" if rest else ""), False, links=links, parent=cur or "/")
            if stat.S_ISLNK(st.st_mode) and (todo or follow):
                budget -= 1
                target = self._readlink(nxt)
                links.append((nxt, target))
                if budget < 0 or target is None:
                    return Lookup(nxt, False, links=links)
                if target.startswith("/"):
                    cur = ""
                todo.extend([p for p in target.split("/") if p][::-1])
                continue
            if todo and not stat.S_ISDIR(st.st_mode):  # a file used as a directory (ENOTDIR)
                rest = "/".join(reversed(todo))
                return Lookup(f"{nxt}/{rest}", False, links=links)
            cur = nxt
        return self._found(cur or "/", links)

    def _found(self, path: str, links: list[tuple[str, str]]) -> Lookup:
        st = self._st(path) if path != "/" else os.lstat(self.root)
        assert st is not None
        if stat.S_ISREG(st.st_mode):
            return Lookup(path, True, "file", st.st_size, links=links)
        if stat.S_ISDIR(st.st_mode):
            return Lookup(path, True, "dir", links=links)
        if stat.S_ISLNK(st.st_mode):
            return Lookup(path, True, "symlink", link_target=self._readlink(path), links=links)
        return Lookup(path, True, "other", links=links)

    def _readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self.root + path)
        except OSError:
            return None

    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        """Up to ``limit`` bytes of the regular file at ``path`` (symlinks followed in the rootfs)."""
        lk = self.lookup(path)
        if not lk.exists or lk.type != "file":
            return None
        try:
            fd = os.open(self.root + lk.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            return os.read(fd, limit)
        finally:
            os.close(fd)

    def text(self, path: str) -> str:
        data = self.read(path)
        return data.decode("utf-8", "replace") if data else ""


def interpreter_of(head: bytes) -> list[str] | None:
    """What the kernel runs for an executable starting with ``head``.

    ``#!`` scripts: the interpreter path (and its argument); ELF: PT_INTERP.
    None for a static ELF or anything else.
    """
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].strip()
        if not line:
            return None
        return [p.decode("utf-8", "surrogateescape") for p in line.split(None, 1)][:1]
    if head.startswith(b"\x7fELF"):
        interp = elf_interp(head)
        return [interp] if interp else None
    return None


def elf_interp(data: bytes) -> str | None:
    """PT_INTERP of an ELF file from its first bytes (program headers must be inside)."""
    import struct

    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    is64, little = data[4] == 2, data[5] == 1
    end = "<" if little else ">"
    try:
        if is64:
            phoff, = struct.unpack_from(end + "Q", data, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
        else:
            phoff, = struct.unpack_from(end + "I", data, 0x1C)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
        for i in range(min(phnum, 64)):
            off = phoff + i * phentsize
            if is64:
                p_type, = struct.unpack_from(end + "I", data, off)
                p_offset, = struct.unpack_from(end + "Q", data, off + 8)
                p_filesz, = struct.unpack_from(end + "Q", data, off + 32)
            else:
                p_type, p_offset = struct.unpack_from(end + "II", data, off)
                p_filesz, = struct.unpack_from(end + "I", data, off + 16)
            if p_type == 3:  # PT_INTERP
                raw = data[p_offset: p_offset + p_filesz]
                return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") or None
    except struct.error:
        return None
    return None
