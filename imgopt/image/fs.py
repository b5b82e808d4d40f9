"""Read-only views of a directory or of a tar archive, member by path.

Archive members are read in place (seek + bounded read), so a 2 GB
``docker save`` file is never extracted or loaded into memory.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO

from imgopt.errors import BadInput, NotFound
from imgopt.image.codecs import Compression, PeekReader, open_decompressed, sniff
from imgopt.image.tarstream import normalize


class BoundedFile(io.RawIOBase):
    """``size`` bytes of ``path`` starting at ``offset``, with its own handle."""

    def __init__(self, path: str, offset: int, size: int):
        super().__init__()
        self._f = open(path, "rb")
        self._start = offset
        self._size = size
        self._pos = 0
        self._f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        elif whence == 2:
            pos += self._size
        self._pos = max(0, min(pos, self._size))
        self._f.seek(self._start + self._pos)
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[override]
        left = self._size - self._pos
        if left <= 0:
            return 0
        mv = memoryview(b)[: min(len(b), left)]
        n = self._f.readinto(mv) or 0
        self._pos += n
        return n

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            super().close()


class FS:
    """Minimal read-only filesystem interface used by the layout readers."""

    name: str

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def open(self, rel: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, rel: str) -> int:
        raise NotImplementedError

    def locate(self, rel: str) -> tuple[str, int, int] | None:
        """(file, offset, size) of a member on local disk, for out-of-process hashing."""
        return None

    def read(self, rel: str, limit: int = 64 << 20) -> bytes:
        if self.size(rel) > limit:
            raise BadInput(self.name, f"{rel} is implausibly large ({self.size(rel)} bytes)")
        with self.open(rel) as f:
            return f.read()

    def close(self) -> None:
        pass


class DirFS(FS):
    """A layout directory.  Symlinks inside it are followed only while they stay
    inside it, and only regular files are read (never a FIFO or a device)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.name = root

    def _p(self, rel: str) -> str:
        rel = posixpath.normpath(rel.lstrip("/"))
        if rel.startswith(".."):
            raise BadInput(self.name, f"path {rel!r} escapes the layout")
        real = os.path.realpath(os.path.join(self.real_root, rel))
        if real != self.real_root and not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            raise BadInput(self.name, f"{rel} is a symlink that leads out of the layout (to {real})")
        return real

    def exists(self, rel: str) -> bool:
        p = self._p(rel)  # a FIFO or device "exists": open() then says it is not a regular file
        return os.path.lexists(p) and not os.path.isdir(p)

    def open(self, rel: str) -> BinaryIO:
        p = self._p(rel)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the open
        except FileNotFoundError:
            raise NotFound(self.name, f"{rel} is missing") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BadInput(self.name, f"{rel} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def locate(self, rel: str) -> tuple[str, int, int] | None:
        p = self._p(rel)
        return (p, 0, os.path.getsize(p)) if os.path.isfile(p) else None

    def size(self, rel: str) -> int:
        try:
            return os.path.getsize(self._p(rel))
        except FileNotFoundError:
            raise NotFound(self.name, f"{rel} is missing") from None


class TarFS(FS):
    """Members of an uncompressed tar file, addressed by normalized path.

    A compressed archive (``docker save | gzip``) is inflated once into a
    temporary file first, since layers must be read by seeking.
    """

    def __init__(self, path: str):
        self.name = path
        self._tmpdir: str | None = None
        if not os.path.exists(path):
            raise NotFound(path, "no such file")
        if os.path.isdir(path):
            raise BadInput(path, "is a directory, not an archive")
        with open(path, "rb") as f:
            codec = sniff(f.read(4))
        if codec is not Compression.NONE:
            from imgopt.scratch import make_scratch

            self._tmpdir = make_scratch("imgopt-archive-")
            plain = os.path.join(self._tmpdir, "archive.tar")
            try:
                with open(path, "rb") as src, open(plain, "wb") as dst:
                    _, stream = open_decompressed(src, path)
                    shutil.copyfileobj(stream, dst, 1 << 20)  # type: ignore[misc]
            except BaseException:
                self.close()
                raise
            self.path = plain
        else:
            self.path = path
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            with tarfile.open(self.path, "r:") as tf:
                for ti in tf:
                    self.members[normalize(ti.name)[0] or "."] = ti
        except (tarfile.ReadError, EOFError) as e:
            self.close()
            raise BadInput(path, f"not a readable tar archive ({e})") from None
        except Exception:
            self.close()
            raise

    def _resolve(self, rel: str, depth: int = 0) -> tarfile.TarInfo:
        rel = normalize(rel)[0]
        ti = self.members.get(rel)
        if ti is None:
            raise NotFound(self.name, f"{rel} is missing from the archive")
        if (ti.issym() or ti.islnk()) and depth < 16:
            target = ti.linkname if ti.islnk() else posixpath.join(posixpath.dirname(rel), ti.linkname)
            return self._resolve(target, depth + 1)
        if not ti.isfile():
            raise BadInput(self.name, f"{rel} is not a regular file in the archive")
        return ti

    def exists(self, rel: str) -> bool:
        try:
            self._resolve(rel)
            return True
        except (NotFound, BadInput):
            return False

    def open(self, rel: str) -> BinaryIO:
        ti = self._resolve(rel)
        end = ti.offset_data + ti.size
        if end > os.path.getsize(self.path):
            raise BadInput(self.name, f"archive is truncated inside {rel}")
        return BoundedFile(self.path, ti.offset_data, ti.size)  # type: ignore[return-value]

    def size(self, rel: str) -> int:
        return self._resolve(rel).size

    def is_link(self, rel: str) -> bool:
        """Is the member itself a symlink/hardlink (docker save dedups identical layers so)?"""
        ti = self.members.get(normalize(rel)[0])
        return ti is not None and (ti.issym() or ti.islnk())

    def locate(self, rel: str) -> tuple[str, int, int] | None:
        ti = self._resolve(rel)
        return (self.path, ti.offset_data, ti.size)

    def close(self) -> None:
        if self._tmpdir:
            from imgopt.scratch import remove_tree

            remove_tree(self._tmpdir)
            self._tmpdir = None


def peek_codec(f: BinaryIO) -> Compression:
    with f:
        return sniff(PeekReader(f).peek(4))
