"""Walk a directory tree of any depth, one directory descriptor open at a time.

``os.walk`` in Python 3.11 recurses (a hostile image nests directories 2,000 deep)
and joins full paths (beyond PATH_MAX at that depth).  :func:`walk` instead moves a
single descriptor down into each directory and back up through ``..``, checking
device and inode on the way back so a directory moved mid-walk stops the walk
rather than escaping it.  Symlinks are never followed.  Standard library only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk(root: str) -> Iterator[tuple[int, str, os.stat_result]]:
    """Yield ``(dir_fd, name, lstat)`` for every entry below ``root`` (not ``root`` itself).

    ``dir_fd`` is the open directory that holds ``name``; it is valid until the
    next item is requested, so use it with the ``dir_fd=`` forms (``os.chown``,
    ``os.chmod``, ``os.open``).  Directories are yielded before their contents.
    Raises OSError if a directory is moved while it is being walked.
    """
    fd = os.open(root, _DIR_FLAGS)
    try:
        st0 = os.fstat(fd)
        # frames: [dev, ino, names left]
        stack: list[list] = [[st0.st_dev, st0.st_ino, sorted(os.listdir(fd), reverse=True)]]
        while stack:
            frame = stack[-1]
            if frame[2]:
                name = frame[2].pop()
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield fd, name, st
                if not stat.S_ISDIR(st.st_mode) or st.st_dev != st0.st_dev:
                    continue
                try:
                    cfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError, PermissionError):
                    continue
                cst = os.fstat(cfd)
                if (cst.st_dev, cst.st_ino) != (st.st_dev, st.st_ino):
                    os.close(cfd)
                    raise OSError(f"{name} changed while being walked")
                try:
                    names = sorted(os.listdir(cfd), reverse=True)
                except OSError:
                    os.close(cfd)
                    continue
                os.close(fd)
                fd = cfd
                stack.append([cst.st_dev, cst.st_ino, names])
                continue
            stack.pop()
            if not stack:
                break
            pfd = os.open("..", _DIR_FLAGS, dir_fd=fd)
            pst = os.fstat(pfd)
            if (pst.st_dev, pst.st_ino) != (stack[-1][0], stack[-1][1]):
                os.close(pfd)
                raise OSError("a directory moved while being walked")
            os.close(fd)
            fd = pfd
    finally:
        os.close(fd)


__all__ = ["walk"]
