"""Resource limits for one native trace run: a cgroup of its own (v2, or v1 hierarchies).

:class:`Limits` holds what ``--pids``, ``--memory`` and ``--cpu-limit`` ask for;
:meth:`RunCgroup.create` makes one cgroup per run, named
``imgopt-trace-<pid>-<start>-<random>`` after the imgopt process that owns it
(its pid and start time, so a reused pid is not mistaken for the owner), below
the cgroup imgopt itself runs in (so the host's own accounting still covers the
sandbox), sets the limits, and gives the files a forked child writes its pid
into before it execs the sandbox (so everything in the sandbox is in it from
its first instruction).  :meth:`RunCgroup.hit` says afterwards which limit
stopped the app (the OOM killer's count, the pids controller's "max" events),
:meth:`RunCgroup.remove` kills what is left and removes it, and
:func:`clean_stale` removes those a killed run left (owner dead).

Unified (v2) hierarchies are used when they have the controllers; else the v1
``pids``, ``memory`` and ``cpu`` hierarchies (Docker 20.10's cgroupfs driver
on this machine).  Not root, or no hierarchy that can be written: no cgroup,
and the reason goes into the profile's notes.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from dataclasses import dataclass

from imgopt.errors import BadInput
from imgopt.trace.owner import owner_alive, owner_tag

ROOT = "/sys/fs/cgroup"
PREFIX = "imgopt-trace-"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass
class Limits:
    pids: int | None = 4096  # processes + threads (a fork bomb stops here)
    memory: int | None = 4 << 30  # bytes, no swap on top (the OOM killer stops the app here)
    cpu: float | None = None  # CPUs of time per second (None: no quota)

    def describe(self) -> dict:
        return {"pids": self.pids, "memory": self.memory, "cpu": self.cpu}


def parse_memory(text: "str | int | None") -> int | None:
    """``512m``, ``2g``, ``1073741824``, ``0``/``none`` (unlimited) -> bytes or None."""
    if text is None or isinstance(text, int):
        return text or None
    t = str(text).strip().lower()
    if t in ("0", "none", "unlimited", "max"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?", t)
    if not m:
        raise BadInput(f"--memory {text}", "expected a size like 512m or 2g (or none)")
    n = int(float(m.group(1)) * _UNITS[m.group(2)])
    if n < 16 << 20:
        raise BadInput(f"--memory {text}", "at least 16m (the tracer and the init need some)")
    return n


def check(limits: Limits) -> None:
    if limits.pids is not None and limits.pids < 16:
        raise BadInput(f"--pids {limits.pids}", "at least 16 (the init, the tracer and the app count)")
    if limits.cpu is not None and not 0.01 <= limits.cpu <= 1024:
        raise BadInput(f"--cpu-limit {limits.cpu}", "expected a number of CPUs between 0.01 and 1024")


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0 or n >= 10 * size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


# ---------------------------------------------------------------- hierarchies


def _own_paths() -> dict[str, str]:
    """controller (or "" for the unified hierarchy) -> this process's cgroup path in it."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _id, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(",") if ctrls else [""]:
                    out[c] = path
    except OSError:
        pass
    return out


def _mountpoints() -> dict[str, str]:
    """controller (or "" for cgroup2) -> where its hierarchy is mounted."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _src, opts = (right.split() + ["", "", ""])[:3]
                mnt = left.split()[4]
                if fstype == "cgroup2":
                    out.setdefault("", mnt)
                elif fstype == "cgroup":
                    for o in opts.split(","):
                        if o in ("pids", "memory", "cpu"):
                            out.setdefault(o, mnt)
    except OSError:
        pass
    return out


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class RunCgroup:
    """The cgroup(s) of one run: v2 (one directory) or v1 (one per controller)."""

    def __init__(self, version: int, dirs: dict[str, str], limits: Limits):
        self.version = version
        self.dirs = dirs  # controller ("" for v2) -> directory
        self.limits = limits

    @classmethod
    def create(cls, limits: Limits) -> "tuple[RunCgroup | None, str]":
        """A new cgroup with ``limits`` set, or (None, why not)."""
        if os.geteuid() != 0:
            return None, "not root: no cgroup, so no pids/memory/CPU limits"
        clean_stale()
        name = f"{PREFIX}{owner_tag()}-{uuid.uuid4().hex[:8]}"
        mounts, own = _mountpoints(), _own_paths()
        v2 = mounts.get("")
        if v2:
            ctrls = _read(os.path.join(v2, "cgroup.controllers")).split()
            if {"pids", "memory", "cpu"} <= set(ctrls):
                cg, why = cls._create_v2(v2, own.get("", "/"), name, limits)
                if cg:
                    return cg, ""
                if not all(c in mounts for c in ("pids", "memory", "cpu")):
                    return None, why
        missing = [c for c in ("pids", "memory", "cpu") if c not in mounts]
        if missing:
            return None, f"no cgroup hierarchy with the {', '.join(missing)} controller: no resource limits"
        dirs: dict[str, str] = {}
        cg = cls(1, dirs, limits)
        try:
            for c in ("pids", "memory", "cpu"):
                d = os.path.join(mounts[c], own.get(c, "/").lstrip("/"), name)
                os.mkdir(d, 0o755)
                dirs[c] = d
            cg._set_v1()
        except OSError as e:
            cg.remove()
            return None, f"cgroup v1 not usable ({e.strerror}: {e.filename}): no resource limits"
        return cg, ""

    @classmethod
    def _create_v2(cls, mnt: str, own: str, name: str, limits: Limits) -> "tuple[RunCgroup | None, str]":
        # below our own cgroup when it delegates the controllers; else a shared parent at the root
        why = "cgroup v2 not usable"
        for parent in (os.path.join(mnt, own.lstrip("/")), os.path.join(mnt, "imgopt.trace")):
            try:
                os.makedirs(parent, exist_ok=True)
                if parent.endswith("imgopt.trace"):
                    _write(os.path.join(mnt, "cgroup.subtree_control"), "+pids +memory +cpu")
                if not {"pids", "memory", "cpu"} <= set(_read(os.path.join(parent, "cgroup.subtree_control")).split()):
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+pids +memory +cpu")
                d = os.path.join(parent, name)
                os.mkdir(d, 0o755)
            except OSError as e:
                why = f"cgroup v2 not usable ({e.strerror}): no resource limits"
                continue
            cg = cls(2, {"": d}, limits)
            try:
                cg._set_v2()
            except OSError as e:
                cg.remove()
                why = f"cgroup v2 limits not settable ({e.strerror}): no resource limits"
                continue
            return cg, ""
        return None, why

    def _set_v2(self) -> None:
        d, lim = self.dirs[""], self.limits
        _write(f"{d}/pids.max", str(lim.pids) if lim.pids else "max")
        _write(f"{d}/memory.max", str(lim.memory) if lim.memory else "max")
        if lim.memory and os.path.exists(f"{d}/memory.swap.max"):
            _write(f"{d}/memory.swap.max", "0")
        if os.path.exists(f"{d}/memory.oom.group"):
            _write(f"{d}/memory.oom.group", "1")  # the OOM killer takes the whole sandbox
        _write(f"{d}/cpu.max", f"{int(lim.cpu * 100000)} 100000" if lim.cpu else "max 100000")

    def _set_v1(self) -> None:
        lim = self.limits
        _write(f"{self.dirs['pids']}/pids.max", str(lim.pids) if lim.pids else "max")
        m = self.dirs["memory"]
        _write(f"{m}/memory.limit_in_bytes", str(lim.memory) if lim.memory else "-1")
        if lim.memory and os.path.exists(f"{m}/memory.memsw.limit_in_bytes"):
            _write(f"{m}/memory.memsw.limit_in_bytes", str(lim.memory))  # no swap on top
        c = self.dirs["cpu"]
        _write(f"{c}/cpu.cfs_period_us", "100000")
        _write(f"{c}/cpu.cfs_quota_us", str(int(lim.cpu * 100000)) if lim.cpu else "-1")

    # ------------------------------------------------------------ use

    @property
    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def join_self(self) -> None:
        """Move the calling process in (a forked child calls this before exec)."""
        pid = str(os.getpid())
        for p in self.procs_files:
            _write(p, pid)

    def _events(self) -> tuple[int, int]:
        """(OOM kills, times the pids limit refused a fork)."""
        if self.version == 2:
            d = self.dirs[""]
            mem, pids = _read(f"{d}/memory.events"), _read(f"{d}/pids.events")
        else:
            mem, pids = _read(f"{self.dirs['memory']}/memory.oom_control"), _read(f"{self.dirs['pids']}/pids.events")
        oom = re.search(r"^oom_kill (\d+)", mem, re.M)
        mx = re.search(r"^max (\d+)", pids, re.M)
        return int(oom.group(1)) if oom else 0, int(mx.group(1)) if mx else 0

    def hit(self) -> str:
        """Which limit stopped something ('' when none did), as the one line to show."""
        oom, forks = self._events()
        if oom and self.limits.memory:
            return f"the app was killed by the memory limit ({human_bytes(self.limits.memory)}); raise --memory"
        if forks and self.limits.pids:
            return f"the app hit the pids limit ({self.limits.pids} processes and threads); raise --pids"
        return ""

    def remove(self) -> None:
        """Kill whatever is still in it and remove it (idempotent)."""
        for d in list(self.dirs.values()):
            _remove_dir(d)
        self.dirs.clear()

    def describe(self) -> str:
        return f"cgroup v{self.version}"


def _remove_dir(d: str, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while True:
        for pid in _read(os.path.join(d, "cgroup.procs")).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        try:
            os.rmdir(d)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def clean_stale(max_depth: int = 6) -> list[str]:
    """Remove the run cgroups whose owner is dead (a killed imgopt); returns what was removed."""
    removed: list[str] = []
    seen: set[str] = set()
    for mnt in _mountpoints().values():
        if mnt in seen:
            continue
        seen.add(mnt)
        base_depth = mnt.rstrip("/").count("/")
        for root, dirs, _files in os.walk(mnt):
            if root.count("/") - base_depth >= max_depth:
                dirs[:] = []
            for name in list(dirs):
                if not name.startswith(PREFIX):
                    continue
                dirs.remove(name)
                m = re.match(rf"{PREFIX}(\d+-\d+)-", name)
                if m and not owner_alive(m.group(1)) and _remove_dir(os.path.join(root, name), wait=2.0):
                    removed.append(os.path.join(root, name))
    return removed
