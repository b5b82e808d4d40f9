"""A fluid discrete-event simulation of a task graph with shared resources.

Tasks are nodes of a :class:`networkx.DiGraph`; an edge ``a -> b`` means b
starts only after a ends.  Each task is one of

* ``delay``: a fixed time (round trips, server time, container start, app
  compute between file accesses);
* ``net``: bytes through a network link shared max-min fairly by every
  active transfer, each capped at its own per-connection rate;
* ``cpu``: core-seconds of work on a host with ``cores`` cores shared by
  processor sharing, each task using at most ``cap`` cores;
* ``host``: seconds of the host's pull pipeline (the client's receive, hash
  and write of downloaded bytes, and layer extraction: the CPU and disk they
  both use), a pool of capacity 1 shared max-min fairly, each task using at
  most ``cap`` of it;
* ``mark``: zero-time milestones (image pulled, app ready).

A task may ``acquire`` a slot of a named semaphore when it starts and a later
task ``release`` it when it ends (e.g. Docker's 3 download slots held from the
blob request until its last byte).  Between events every active task runs at
a constant rate; the next event is the earliest completion.

Each finished task records the task that made it start when it did
(``blocked_by``: its last predecessor, or the task that freed the slot it
waited for), so the critical path is a walk back from the final task.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import networkx as nx

EPS = 1e-12


@dataclass
class Task:
    id: str
    kind: str  # delay | net | cpu | host | mark
    amount: float = 0.0  # seconds | bytes | core-seconds | pipeline-seconds
    category: str = "network"  # network | cpu | start | app (for the breakdown)
    label: str = ""
    layer: int | None = None
    cap: float = math.inf  # net: bytes/s of this connection; cpu: cores (parallelism); host: share of the pipeline
    link: str = "net"
    acquire: str | None = None
    release: str | None = None
    priority: float = 0.0  # lower starts first when several wait for a slot
    # results
    ready: float | None = None
    start: float | None = None
    end: float | None = None
    blocked_by: str | None = None
    wait: str = ""  # why it started after it was ready: "slot" or ""
    remaining: float = 0.0
    rate: float = 0.0

    @property
    def duration(self) -> float:
        return (self.end or 0.0) - (self.start or 0.0)


@dataclass
class Resources:
    links: dict[str, float] = field(default_factory=lambda: {"net": math.inf})  # bytes/s per link
    cores: float = 1.0
    pipeline: float = 1.0  # capacity of the host's pull pipeline (``host`` tasks)
    slots: dict[str, int] = field(default_factory=dict)


def add(g: nx.DiGraph, task: Task, after: list[str] | tuple[str, ...] = ()) -> str:
    if task.id in g:
        raise ValueError(f"duplicate task {task.id}")
    g.add_node(task.id, task=task)
    for a in after:
        if a is not None:
            g.add_edge(a, task.id)
    return task.id


def _water_fill(capacity: float, caps: list[float]) -> list[float]:
    """Max-min fair shares of ``capacity`` among demands capped at ``caps``."""
    n = len(caps)
    out = [0.0] * n
    if n == 0:
        return out
    order = sorted(range(n), key=lambda i: caps[i])
    left, k = capacity, n
    for i in order:
        share = left / k if k else 0.0
        give = min(caps[i], share)
        out[i] = give
        left -= give
        k -= 1
    return out


def run(g: nx.DiGraph, res: Resources) -> dict[str, Task]:
    """Simulate ``g`` in place; returns the tasks by id (with start/end set)."""
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("task graph has a cycle")
    tasks: dict[str, Task] = {n: g.nodes[n]["task"] for n in g.nodes}
    npred = {n: g.in_degree(n) for n in g.nodes}
    last_pred: dict[str, tuple[float, str | None]] = {n: (0.0, None) for n in g.nodes}
    slots_free = dict(res.slots)
    slot_last_release: dict[str, str | None] = {s: None for s in res.slots}
    waiting: dict[str, list] = {s: [] for s in res.slots}  # heaps of (priority, seq, id)
    active: dict[str, Task] = {}
    ready_now: list[str] = [n for n in g.nodes if npred[n] == 0]
    t = 0.0
    seq = 0
    done = 0
    total = len(tasks)

    def start(task: Task, now: float, blocked_by: str | None, why: str = "") -> None:
        task.start = now
        task.blocked_by = blocked_by
        task.wait = why
        task.remaining = task.amount
        if task.kind == "mark" or task.amount <= EPS:
            finish(task, now)
        else:
            active[task.id] = task

    def finish(task: Task, now: float) -> None:
        nonlocal done
        task.end = now
        task.remaining = 0.0
        done += 1
        active.pop(task.id, None)
        if task.release:
            slots_free[task.release] += 1
            slot_last_release[task.release] = task.id
        for s in g.successors(task.id):
            npred[s] -= 1
            if now >= last_pred[s][0]:
                last_pred[s] = (now, task.id)
            if npred[s] == 0:
                ready_now.append(s)

    while done < total:
        # start everything that can start now (marks cascade)
        progressed = True
        while progressed:
            progressed = False
            while ready_now:
                nid = ready_now.pop()
                task = tasks[nid]
                task.ready = t
                if task.acquire:
                    if task.acquire not in slots_free:
                        raise ValueError(f"task {nid} acquires unknown slot {task.acquire}")
                    heapq.heappush(waiting[task.acquire], (task.priority, seq, nid))
                    seq += 1
                else:
                    start(task, t, last_pred[nid][1])
                progressed = True
            for s, heap in waiting.items():
                while heap and slots_free[s] > 0:
                    _, _, nid = heapq.heappop(heap)
                    slots_free[s] -= 1
                    task = tasks[nid]
                    if t > (task.ready or 0.0) + EPS and slot_last_release[s]:
                        start(task, t, slot_last_release[s], "slot")
                    else:
                        start(task, t, last_pred[nid][1])
                    progressed = True
        if done >= total:
            break
        if not active:
            stuck = [n for n, k in npred.items() if k > 0 or tasks[n].end is None][:3]
            raise RuntimeError(f"simulation deadlocked at t={t:.3f}s (waiting: {stuck})")
        _rates(active, res)
        dt = math.inf
        for task in active.values():
            if task.rate > 0:
                dt = min(dt, task.remaining / task.rate)
        if not math.isfinite(dt):
            raise RuntimeError("simulation stalled: active tasks have no rate (zero bandwidth or cores?)")
        t += dt
        finished = []
        for task in active.values():
            task.remaining -= task.rate * dt
            if task.remaining <= max(EPS, task.amount * 1e-12):
                finished.append(task)
        for task in finished:
            finish(task, t)
    return tasks


def _rates(active: dict[str, Task], res: Resources) -> None:
    by_link: dict[str, list[Task]] = {}
    cpu: list[Task] = []
    pipe: list[Task] = []
    for task in active.values():
        if task.kind == "delay":
            task.rate = 1.0
        elif task.kind == "net":
            by_link.setdefault(task.link, []).append(task)
        elif task.kind == "cpu":
            cpu.append(task)
        elif task.kind == "host":
            pipe.append(task)
        else:  # pragma: no cover
            raise ValueError(task.kind)
    for link, flows in by_link.items():
        shares = _water_fill(res.links.get(link, math.inf), [f.cap for f in flows])
        for f, s in zip(flows, shares):
            f.rate = s
    if cpu:
        shares = _water_fill(res.cores, [min(c.cap, res.cores) for c in cpu])
        for c, s in zip(cpu, shares):
            c.rate = s
    if pipe:
        shares = _water_fill(res.pipeline, [min(p.cap, res.pipeline) for p in pipe])
        for p, s in zip(pipe, shares):
            p.rate = s


def critical_path(tasks: dict[str, Task], last: str) -> list[Task]:
    path = []
    cur: str | None = last
    seen = set()
    while cur is not None and cur not in seen:
        seen.add(cur)
        path.append(tasks[cur])
        cur = tasks[cur].blocked_by
    return list(reversed(path))


__all__ = ["Task", "Resources", "add", "run", "critical_path"]
