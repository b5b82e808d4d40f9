"""Progress on long transfers: one self-rewriting stderr line.

Silent when stderr is not a terminal or with ``--quiet``.
"""

from __future__ import annotations

import sys
import threading
import time


def human(n: float, unit: str = "B") -> str:
    for u in ("", "k", "M", "G", "T"):
        if abs(n) < 1000 or u == "T":
            return f"{n:.0f} {u}{unit}" if u == "" else f"{n:.1f} {u}{unit}"
        n /= 1000
    return f"{n} {unit}"  # pragma: no cover


class Progress:
    def __init__(self, label: str, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.done = 0
        self.total = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, n: int, total: int = 0) -> None:
        with self._lock:
            self.done += n
            if total:
                self.total = total
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._last < 0.2:
                return
            self._last = now
            rate = self.done / max(now - self.start, 1e-6)
            tot = f" / {human(self.total)}" if self.total else ""
            self.stream.write(f"\r{self.label}: {human(self.done)}{tot}  {human(rate)}/s   ")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
