"""CPU steal: the share of time a virtual machine's CPUs wanted to run but the hypervisor ran others.

On a shared cloud VM steal comes and goes with the neighbours' load (measured on the
development machine: 2-52 % within one minute).  A pull timed while it is high measures the
neighbours, not the host, so ``imgopt calibrate`` and the lab scripts time each pull with a
:class:`StealMeter` and measure again when too much was stolen.

Read from the first line of ``/proc/stat`` (``cpu user nice system idle iowait irq softirq
steal ...``); where it cannot be read (not Linux, no steal field) the meter reads 0.
"""

from __future__ import annotations

# a measured pull is taken again when more than this share of the CPU time was stolen: CPU-bound
# work then runs up to 1 / (1 - 0.10) = 1.11x slower, about the error the simulator aims for
QUIET = 0.10
# how often a pull is taken again at most before the least-stolen attempt is kept
ATTEMPTS = 4


def cpu_times(path: str = "/proc/stat") -> tuple[int, int]:
    """(stolen, total) clock ticks of all CPUs since boot; (0, 0) where unknown."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return 0, 0
    if len(fields) < 9 or fields[0] != "cpu":
        return 0, 0
    try:
        ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except ValueError:
        return 0, 0
    return ticks[7], sum(ticks)


class StealMeter:
    """``with StealMeter() as m: ...``; then ``m.fraction``: the share of CPU time stolen meanwhile."""

    def __init__(self, path: str = "/proc/stat"):
        self.path = path
        self.fraction = 0.0

    def __enter__(self) -> "StealMeter":
        self._start = cpu_times(self.path)
        return self

    def __exit__(self, *exc) -> None:
        stolen, total = cpu_times(self.path)
        d_total = total - self._start[1]
        self.fraction = (stolen - self._start[0]) / d_total if d_total > 0 else 0.0


def quiet(fraction: float) -> bool:
    return fraction <= QUIET


__all__ = ["cpu_times", "StealMeter", "quiet", "QUIET", "ATTEMPTS"]
