"""Scratch directories and temporary files that a killed run cannot leak.

Every scratch directory and half-written output imgopt creates carries its
owner in its name: ``pid<PID>-<START>-<BOOT>`` (process id, the process's start
time in clock ticks since boot, and the first 8 characters of the kernel's
boot id).  A run killed with ``kill -9`` leaves them behind; the next run that
makes scratch or writes output in the same directory removes those whose
owner is gone (:func:`clean_stale`).  A live owner's are never touched (pid
reuse is told apart by the start time, a reboot by the boot id).

* :func:`make_scratch` — a new private directory (``mkdtemp``), stale ones beside
  it removed first;
* :func:`temp_path` — a temporary file name beside an output, for atomic writes;
* :func:`remove_tree` — remove a directory tree without recursion (10,000 levels
  deep is fine), fixing permissions on the way, never crossing a mount point.

Standard library only (``imgopt.atomic`` uses it, which the lint command imports).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile

from imgopt import fdwalk

_TAG_RE = re.compile(r"imgopt[\w.-]*?pid(\d+)-(\d+)-([0-9a-f]{8})-")
_DIR_FLAGS = fdwalk.DIR_FLAGS
_tag: str | None = None


# ------------------------------------------------------------------- owners


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")[:8]
    except OSError:
        return "00000000"


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot); None if no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        return int(data.rsplit(b")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def owner_tag() -> str:
    """``pid<PID>-<START>-<BOOT>`` for this process (computed again after a fork)."""
    global _tag
    pid = os.getpid()
    if _tag is None or not _tag.startswith(f"pid{pid}-"):
        _tag = f"pid{pid}-{_start_time(pid) or 0}-{_boot_id()}"
    return _tag


def owner_alive(name: str) -> bool:
    """Is the process that made ``name`` (a path or a base name) still running?

    Names without an owner tag count as alive: they are not ours to remove.
    """
    m = _TAG_RE.search(os.path.basename(name.rstrip("/")))
    if not m:
        return True
    pid, start, boot = int(m.group(1)), int(m.group(2)), m.group(3)
    if boot != _boot_id():
        return False  # made before the last reboot
    now = _start_time(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not os.path.isdir("/proc/self")  # no /proc: trust kill(0); with /proc, the pid is gone
    return start == 0 or now == start


# ------------------------------------------------------------------ making


def make_scratch(prefix: str, dir: str | None = None) -> str:
    """A new private directory ``<dir>/<prefix>pid...-XXXX`` (default dir: ``$TMPDIR``).

    Stale scratch left in ``dir`` by killed runs is removed first.
    """
    base = dir or tempfile.gettempdir()
    clean_stale(base)
    return tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-", dir=base)


def temp_path(dest: str, suffix: str = ".part", *, clean: bool = True) -> str:
    """Create and return an empty temporary file beside ``dest`` (same filesystem: rename is atomic).

    ``clean``: first remove stale ones in that directory (callers writing many
    files into one directory clean it once themselves).
    """
    parent = os.path.dirname(os.path.abspath(dest))
    if clean:
        clean_stale(parent)
    fd, path = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.imgopt-{owner_tag()}-", suffix=suffix,
                                dir=parent)
    os.close(fd)
    return path


def clean_stale(directory: str | None = None) -> list[str]:
    """Remove the scratch directories and temporary files in ``directory`` whose owner is dead.

    Returns the paths removed.  Anything without an imgopt owner tag, or
    whose owner lives, is left alone.  Never raises.
    """
    base = directory or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if "imgopt" not in name or not _TAG_RE.search(name) or owner_alive(name):
            continue
        path = os.path.join(base, name)
        if remove_tree(path):
            removed.append(path)
    return removed


# ---------------------------------------------------------------- removing


def _mounts_below(path: str) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    out = []
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 5:
                    continue
                mp = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), parts[4])
                p = os.fsdecode(mp)
                if p == real or p.startswith(real.rstrip("/") + "/"):
                    out.append(p)
    except OSError:
        pass
    return out


def _open_dir(parent_fd: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:  # a 0000 / 0111 directory of ours: make it ours to read
        os.chmod(name, stat.S_IRWXU, dir_fd=parent_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def remove_tree(path: str) -> bool:
    """Remove ``path`` (a file, a symlink or a directory tree); True when it is gone.

    Iterative (depth is no limit), one directory descriptor open at a time,
    symlinks never followed, directories chmod'ed when they block removal,
    and nothing is removed when a mount point lies inside (a stale sandbox's
    mounts must be unmounted by its own cleanup first).  Never raises.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    parent, name = os.path.split(os.path.abspath(path))
    try:
        pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISDIR(st.st_mode):
            _unlink(name, pfd)
            return True
        if _mounts_below(path):
            return False
        _remove_dir(pfd, name)
        return True
    except OSError:
        return False
    finally:
        os.close(pfd)


def _open_to_remove(parent_fd: int, name: str) -> int:
    """A directory opened to be emptied: readable and writable by us (chmod'ed when it was not)."""
    fd = _open_dir(parent_fd, name)
    if not os.fstat(fd).st_mode & stat.S_IWUSR:
        os.fchmod(fd, stat.S_IRWXU)
    return fd


def _remove_dir(top_parent_fd: int, top: str) -> None:
    """Empty and remove ``top``: files as they are met, each directory once its contents are gone
    (:func:`imgopt.fdwalk.events`: iterative, one descriptor down, never across a mount)."""
    fd = _open_to_remove(top_parent_fd, top)
    try:
        for kind, dir_fd, name, st in fdwalk.events(fd, open_dir=_open_to_remove, other_device="raise",
                                                    what="removed"):
            if kind is fdwalk.LEAVE:
                os.rmdir(name, dir_fd=dir_fd)
            elif not stat.S_ISDIR(st.st_mode):  # type: ignore[union-attr]
                _unlink(name, dir_fd)
    finally:
        os.close(fd)
    os.rmdir(top, dir_fd=top_parent_fd)


__all__ = ["make_scratch", "temp_path", "clean_stale", "remove_tree", "owner_tag", "owner_alive"]
