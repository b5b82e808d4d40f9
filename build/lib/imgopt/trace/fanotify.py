"""The fanotify tracer (root only), kept to measure it against ptrace.

The sandbox init marks the sandbox's root mount with ``FAN_OPEN |
FAN_OPEN_EXEC | FAN_ACCESS | FAN_ONDIR`` and hands the group's fd over; a
thread here reads the events (each carries an open fd of the file, whose
``/proc/self/fd`` link gives its path) while the app runs.  It is cheap (the
app never stops), but it only sees files that were opened: no ``stat``,
``access``, ``readlink``, no failed lookup, no symlink on the way, no byte
counts.  See docs/trace.md for the measurements that made strace the default.
"""

from __future__ import annotations

import os
import select
import struct
import threading
import time

FAN_ACCESS, FAN_OPEN, FAN_OPEN_EXEC, FAN_ONDIR = 0x1, 0x20, 0x1000, 0x40000000
MASK = FAN_OPEN | FAN_OPEN_EXEC | FAN_ACCESS | FAN_ONDIR
_META = struct.Struct("IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid


class FanotifyReader:
    """Collect (time, pid, mask, path) from a fanotify fd until :meth:`stop`."""

    def __init__(self, fd: int):
        self.fd = fd
        self.events: list[tuple[float, int, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fanotify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                self._drain()
            elif self._stop.is_set():
                return

    def _drain(self) -> None:
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            now = time.time()
            pos = 0
            while pos + _META.size <= len(buf):
                length, _v, _r, _ml, mask, efd, pid = _META.unpack_from(buf, pos)
                if length < _META.size:
                    return
                pos += length
                if efd < 0:
                    continue
                try:
                    path = os.readlink(f"/proc/self/fd/{efd}")
                except OSError:
                    path = ""
                finally:
                    os.close(efd)
                self.events.append((now, pid, mask, path))

    def stop(self) -> list[tuple[float, int, int, str]]:
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self.fd)
        return self.events


def kind_of(mask: int) -> str:
    if mask & FAN_OPEN_EXEC:
        return "exec"
    if mask & FAN_ACCESS:
        return "read"
    return "listdir" if mask & FAN_ONDIR else "open"
