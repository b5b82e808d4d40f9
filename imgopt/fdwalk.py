"""Walk a directory tree of any depth, one directory descriptor open at a time.

``os.walk`` in Python 3.11 recurses (a hostile image nests directories 2,000 deep)
and joins full paths (beyond PATH_MAX at that depth).  :func:`events` instead moves a
single descriptor down into each directory and back up through ``..``, checking
device and inode on the way down and back so a directory moved mid-walk stops the
walk rather than escaping it.  Symlinks are never followed.  Standard library only.

Two users: :func:`walk` (every entry, directories before their contents: the
sandbox's uid shift) and :func:`imgopt.scratch.remove_tree` (directories after their
contents, to remove them), both on :func:`events`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

ENTRY, LEAVE = "entry", "leave"


def _open_or_skip(parent_fd: int, name: str) -> int | None:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def events(fd: int, *, open_dir: Callable[[int, str], int | None] = _open_or_skip, other_device: str = "skip",
           what: str = "walked") -> Iterator[tuple[str, int, str, os.stat_result | None]]:
    """Walk below the open directory ``fd`` (which the caller keeps and closes), iteratively.

    Yields ``(ENTRY, dir_fd, name, lstat)`` for every entry, a directory before its contents, and
    ``(LEAVE, dir_fd, name, None)`` after a directory's contents, ``dir_fd`` then being the directory
    that holds it again (so it can be removed).  ``dir_fd`` is valid until the next item is requested:
    use it with the ``dir_fd=`` forms.  ``open_dir(parent_fd, name)`` opens a child directory (None:
    do not descend).  A directory on another device is not descended into (``other_device="skip"``) or
    stops the walk with OSError (``"raise"``).  A directory moved mid-walk raises OSError.
    """
    st0 = os.fstat(fd)
    cur = fd  # the descriptor we are in; `fd` itself is the caller's
    try:
        # frames: [dev, ino, name, names left]
        stack: list[list] = [[st0.st_dev, st0.st_ino, "", sorted(os.listdir(fd), reverse=True)]]
        while stack:
            frame = stack[-1]
            if frame[3]:
                name = frame[3].pop()
                try:
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield ENTRY, cur, name, st
                if not stat.S_ISDIR(st.st_mode):
                    continue
                if st.st_dev != st0.st_dev:
                    if other_device == "raise":
                        raise OSError(f"{name}: another filesystem is mounted here")
                    continue
                cfd = open_dir(cur, name)
                if cfd is None:
                    continue
                cst = os.fstat(cfd)
                if (cst.st_dev, cst.st_ino) != (st.st_dev, st.st_ino):
                    os.close(cfd)
                    raise OSError(f"{name} changed while being {what}")
                try:
                    names = sorted(os.listdir(cfd), reverse=True)
                except OSError:
                    os.close(cfd)
                    if other_device == "raise":  # a remover must not leave it half done silently
                        raise
                    continue
                if cur != fd:
                    os.close(cur)
                cur = cfd
                stack.append([cst.st_dev, cst.st_ino, name, names])
                continue
            stack.pop()
            if not stack:
                break
            if len(stack) == 1:
                pfd = fd
            else:
                pfd = os.open("..", DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=cur)
                pst = os.fstat(pfd)
                if (pst.st_dev, pst.st_ino) != (stack[-1][0], stack[-1][1]):
                    os.close(pfd)
                    raise OSError(f"a directory moved while being {what}")
            os.close(cur)
            cur = pfd
            yield LEAVE, cur, frame[2], None
    finally:
        if cur != fd:
            os.close(cur)


def walk(root: str) -> Iterator[tuple[int, str, os.stat_result]]:
    """Yield ``(dir_fd, name, lstat)`` for every entry below ``root`` (not ``root`` itself).

    ``dir_fd`` is the open directory that holds ``name``; it is valid until the
    next item is requested, so use it with the ``dir_fd=`` forms (``os.chown``,
    ``os.chmod``, ``os.open``).  Directories are yielded before their contents.
    Raises OSError if a directory is moved while it is being walked.
    """
    fd = os.open(root, DIR_FLAGS)
    try:
        for kind, dir_fd, name, st in events(fd):
            if kind is ENTRY:
                yield dir_fd, name, st  # type: ignore[misc]
    finally:
        os.close(fd)


__all__ = ["walk", "events", "ENTRY", "LEAVE", "DIR_FLAGS"]
