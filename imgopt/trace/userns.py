"""The native sandbox's user namespace as root: the app's 0-65535 are host uids HOST_BASE and up.

As root, the sandbox's init (PID 1) stays in the host's user namespace (it
mounts, and writes the maps); every process it starts for the app or a probe
first enters a user namespace of its own whose uid and gid maps are
``0 HOST_BASE 65536`` (written by the init, which has CAP_SETUID there), then
drops its capabilities, switches to the image's user and loads the seccomp
filter.  Root in the sandbox is then uid ``HOST_BASE`` on the host, with no
capability over anything the host owns: not the init (which it cannot signal,
trace or read), not ``/proc/sys`` (owned by the host's root), not the network
namespace (owned by the host's user namespace: binding ports below 1024 is
allowed through the namespace's own ``ip_unprivileged_port_start``).

The image's files must be owned by the mapped range, or root inside could not
write them (they would appear as ``nobody``): :func:`shift_ownership` adds
HOST_BASE to the owner of every file of the run's own unpacked rootfs
(``lchown``; set-id bits, which the kernel clears on chown, are put back).  A
rootfs imgopt did not unpack itself (``trace_rootfs`` on a caller's directory)
is not changed: that run goes without a user namespace, and its profile says so.

HOST_BASE = 0x70000000 (1879048192): above the ranges systemd hands to
nspawn containers and dynamic users, below the ones it reserves, and far from
the 100000+ subordinate ranges of /etc/subuid.
"""

from __future__ import annotations

import os
import stat

from imgopt import fdwalk

HOST_BASE = 0x70000000
SIZE = 65536


def id_map() -> dict:
    """The spec's ``userns_map``: [inside, outside, count] for uids and gids."""
    return {"uid": [0, HOST_BASE, SIZE], "gid": [0, HOST_BASE, SIZE]}


def shift_ownership(root: str, offset: int = HOST_BASE) -> int:
    """Add ``offset`` to the uid and gid of every entry below ``root`` (and ``root``); returns the count.

    Owners already at or above ``offset`` are left (a second call is a no-op).
    """
    n = 0

    def shift(path: str, st: os.stat_result, dir_fd: int | None = None) -> None:
        nonlocal n
        if st.st_uid >= offset and st.st_gid >= offset:
            return
        uid = st.st_uid + offset if st.st_uid < offset else st.st_uid
        gid = st.st_gid + offset if st.st_gid < offset else st.st_gid
        if uid > 0xFFFFFFFE or gid > 0xFFFFFFFE:
            return
        os.chown(path, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)  # chown cleared them
        n += 1

    shift(root, os.lstat(root))
    # fd-relative and iterative (imgopt.fdwalk): a hostile image nests directories
    # deeper than Python's recursion limit and PATH_MAX (tests/hostile: bomb-deep-2000).
    for dir_fd, name, st in fdwalk.walk(root):
        try:
            shift(name, st, dir_fd)
        except FileNotFoundError:
            continue
    return n
