"""Which files the sandbox's processes have mapped, read from /proc at the end of a run.

Tracing every ``mmap`` stops the app on each anonymous allocation too (a
quarter of all stops for a numpy app); reading ``/proc/PID/maps`` of every
process of the sandbox's PID namespace once, just before it is stopped, gives
the mapped files (shared libraries, mapped data) for free.  Seen from the
host, a path in another mount namespace is printed relative to that
namespace's root, i.e. as the in-image path.  Files mapped and unmapped
earlier, or by processes that already exited, are only seen by ``--reads``
(which traces ``mmap``).
"""

from __future__ import annotations

import os


def _ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def pidns_members(pid: int) -> list[int]:
    """Host pids of every process in ``pid``'s PID namespace (``pid`` included)."""
    ns = _ns(pid)
    if ns is None:
        return []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _ns(int(name)) == ns:
            out.append(int(name))
    return out


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def mapped_paths(pids: list[int]) -> set[str]:
    """Absolute paths of files mapped by ``pids`` (" (deleted)" stripped)."""
    paths: set[str] = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps", errors="surrogateescape") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith("/"):
                        paths.add(parts[5].rstrip("\n").removesuffix(" (deleted)"))
        except OSError:
            continue
    return paths
