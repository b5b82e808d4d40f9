"""Who owns a trace run's leftovers: scratch directories, cgroups and containers carry an owner tag.

A run that is killed (SIGKILL, OOM, a crashed CI job) cannot clean up after
itself; the next run does.  Everything a run creates outside its own
namespaces is tagged with ``<pid>-<start>`` of the imgopt process that made it
(the start time from /proc/PID/stat, so a reused pid does not pass for the
owner): scratch directories carry :mod:`imgopt.scratch`'s owner tag in their name, cgroups
this tag in their name, containers in the ``imgopt.trace.owner`` label.  When the owner is
gone, the leftover is removed: :func:`make_scratch` cleans the scratch
directories of dead runs next to the new one (and untags the image a dead
docker-backend run loaded, named in its scratch), :func:`imgopt.trace.cgroup.clean_stale`
the cgroups, the docker backend its containers.

(The native sandbox's mounts and namespaces need nothing of this: they live in
namespaces that die with the sandbox's processes, which get SIGKILL when
imgopt dies.)
"""

from __future__ import annotations

import os
import tempfile

LOADED_TAG = ".imgopt-loaded-tag"  # the docker backend's temporary image tag, removed with a dead run's scratch
SCRATCH_PREFIX = "imgopt-trace-"


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, /proc/PID/stat field 22), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def owner_tag() -> str:
    """``<pid>-<start>`` of this process."""
    return f"{os.getpid()}-{process_start(os.getpid())}"


def owner_alive(tag: str) -> bool:
    """Is the process ``tag`` (``<pid>-<start>``) still running?"""
    pid, _, start = tag.strip().partition("-")
    return pid.isdigit() and process_start(int(pid)) == start


def make_scratch(base: str | None = None) -> str:
    """A new scratch directory, its name tagged with its owner (:mod:`imgopt.scratch`); stale ones of dead runs
    beside it are removed first (and the images dead docker-backend runs loaded are untagged)."""
    from imgopt import scratch

    base = base or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    clean_stale_scratch(base)
    return scratch.make_scratch(SCRATCH_PREFIX, base)


def _remove_loaded_tag(marker: str) -> None:
    """Untag the image a dead docker-backend run loaded (not forced: an image in use stays)."""
    try:
        with open(marker) as f:
            tag = f.read().strip()
    except OSError:
        return
    if not tag.startswith("imgopt-trace/"):
        return
    try:
        import docker

        docker.from_env(timeout=30).images.remove(tag, noprune=False)
    except Exception:  # noqa: BLE001 - gone already, in use, or no engine
        pass


def clean_stale_scratch(base: str) -> list[str]:
    """Remove the trace scratch directories in ``base`` whose owner is dead; returns them."""
    from imgopt import scratch

    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(SCRATCH_PREFIX) or scratch.owner_alive(name):
            continue  # not ours, untagged, or its owner lives: left alone
        d = os.path.join(base, name)
        _remove_loaded_tag(os.path.join(d, LOADED_TAG))
        if scratch.remove_tree(d):
            removed.append(d)
    return removed
