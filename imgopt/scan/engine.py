"""Where the scan's tasks run: a pool of local processes (default) or a Dask distributed cluster.

A plan is a list of :class:`Task`: a function of picklable arguments, the
keys of the tasks whose results it takes (appended as one list argument), and
a priority (merges go before more layers, so images finish early and a
re-run after Ctrl-C finds them done).  Both engines take the same plan:

* :class:`LocalEngine` -- ``jobs`` worker processes, each its own
  ``concurrent.futures.ProcessPoolExecutor`` of one process (forked from a
  clean fork server, so a worker's memory does not grow with the catalog the
  parent holds).  A worker that dies (killed, out of memory) breaks only its
  own executor: that one task is run again in a new worker, up to
  ``attempts`` times, and the other workers carry on.  :meth:`LocalEngine.prestart`
  starts the workers before the plan exists (the scan calls it at its first
  uncached image), so their start-up overlaps the resolving.
* :class:`DaskEngine` -- ``distributed.Client(address)``; tasks are submitted
  with their dependencies as futures, so Dask moves layer summaries to the
  worker that merges them, and re-runs the tasks of a worker it lost.

``on_done(key, result, error)`` is called in the parent for every task, in
completion order; a task whose dependency failed fails with that error.
"""

from __future__ import annotations

import heapq
import multiprocessing
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

from imgopt.errors import ImgoptError

OnDone = Callable[[str, Any, "BaseException | None"], None]

# imported once in the fork server, so each worker starts warm
PRELOAD = ["imgopt.scan.tasks", "imgopt.scan.record", "imgopt.analyze", "imgopt.analyze.merge", "imgopt.api",
           "imgopt.simulate.model", "imgopt.analyze.treestats", "imgopt.analyze.entrypoint",
           "imgopt.analyze.summary", "imgopt.image.transports.registry", "imgopt.cache.store", "zstandard",
           "xxhash", "requests"]


@dataclass
class Task:
    key: str
    fn: Callable[..., Any]
    args: tuple
    deps: list[str] | None = None  # None: takes no results; a list (even empty): their results are its last argument
    priority: int = 0  # higher runs first

    @property
    def needs(self) -> list[str]:
        return self.deps or []


class WorkerLost(ImgoptError):
    """The worker process running a task died, every time it was tried."""


class DependencyFailed(ImgoptError):
    pass


class LocalEngine:
    def __init__(self, jobs: int, attempts: int = 3):
        self.jobs = max(1, jobs)
        self.attempts = attempts
        self.name = f"local:{self.jobs}"
        self.retries = 0
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._slots: list[ProcessPoolExecutor | None] = [None] * self.jobs
        self._lock = threading.Lock()
        self._started = False

    def _slot(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=self._ctx)

    def prestart(self) -> None:
        """Start the workers now (idempotent, thread-safe): the fork server's imports (~0.7 s) then overlap
        what the caller still has to do before :meth:`run` (resolving the catalog) instead of following it."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for i in range(self.jobs):
                ex = self._slots[i] = self._slot()
                ex.submit(_noop)  # forks the worker; a worker that dies idle is replaced when run() submits

    def close(self) -> None:
        """Stop workers started by :meth:`prestart` that :meth:`run` never used."""
        with self._lock:
            for i, ex in enumerate(self._slots):
                if ex is not None:
                    ex.shutdown(wait=False, cancel_futures=True)
                self._slots[i] = None

    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        by_key = {t.key: t for t in tasks}
        waiting = {t.key: sum(1 for d in t.needs if d in by_key) for t in tasks}
        dependents: dict[str, list[str]] = {}
        for t in tasks:
            for d in t.needs:
                dependents.setdefault(d, []).append(t.key)
        users = {k: len(v) for k, v in dependents.items()}
        results: dict[str, Any] = {}
        failed: dict[str, BaseException] = {}
        attempts: dict[str, int] = {}
        ready: list[tuple[int, int, str]] = []
        order = {t.key: n for n, t in enumerate(tasks)}
        for t in tasks:
            if waiting[t.key] == 0:
                heapq.heappush(ready, (-t.priority, order[t.key], t.key))
        slots = self._slots  # started by prestart(), or as tasks need them
        running: dict[Future, tuple[int, str]] = {}

        def finish(key: str, result: Any, error: BaseException | None) -> None:
            if error is None:
                if users.get(key):
                    results[key] = result
            else:
                failed[key] = error
            on_done(key, result, error)
            for dep in by_key[key].needs:  # results no one needs any more
                if dep in users:
                    users[dep] -= 1
                    if users[dep] == 0:
                        results.pop(dep, None)
            for k in dependents.get(key, []):
                waiting[k] -= 1
                if waiting[k] == 0:
                    heapq.heappush(ready, (-by_key[k].priority, order[k], k))

        def start(slot: int, key: str) -> None:
            t = by_key[key]
            bad = next((failed[d] for d in t.needs if d in failed), None)
            if bad is not None:
                finish(key, None, bad if isinstance(bad, ImgoptError) else DependencyFailed(None, str(bad)))
                return
            args = (*t.args, [results.get(d) for d in t.deps]) if t.deps is not None else t.args
            attempts[key] = attempts.get(key, 0) + 1
            for _ in range(2):
                ex = slots[slot]
                if ex is None:
                    ex = slots[slot] = self._slot()
                try:
                    running[ex.submit(t.fn, *args)] = (slot, key)
                    return
                except BrokenProcessPool:  # its process died while idle: a new one
                    slots[slot] = None
                    ex.shutdown(wait=False, cancel_futures=True)
            raise WorkerLost(None, "cannot start a worker process")

        try:
            while ready or running:
                for slot in range(self.jobs):
                    busy = {s for s, _ in running.values()}
                    while slot not in busy and ready:
                        _, _, key = heapq.heappop(ready)
                        start(slot, key)
                        busy = {s for s, _ in running.values()}
                if not running:
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    slot, key = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        dead = slots[slot]
                        slots[slot] = None
                        if dead is not None:
                            dead.shutdown(wait=False, cancel_futures=True)
                        if attempts[key] < self.attempts:
                            self.retries += 1
                            heapq.heappush(ready, (-by_key[key].priority, order[key], key))
                        else:
                            finish(key, None, WorkerLost(None, f"the worker process died {attempts[key]} times "
                                                               "running this task (killed, or out of memory?)"))
                        continue
                    except Exception as e:  # noqa: BLE001 - a task's failure is its result
                        finish(key, None, e)
                        continue
                    finish(key, result, None)
        except BaseException:
            for i, ex in enumerate(slots):
                if ex is not None:
                    for p in list(getattr(ex, "_processes", {}).values()):
                        p.kill()
                    ex.shutdown(wait=False, cancel_futures=True)
                slots[i] = None
            raise
        for i, ex in enumerate(slots):
            if ex is not None:
                ex.shutdown(wait=True)
            slots[i] = None


def _noop() -> None:
    pass


class DaskEngine:
    def __init__(self, address: str, prefix: str):
        try:
            import distributed  # noqa: F401
        except ImportError:
            from imgopt.errors import BadInput

            raise BadInput("--scheduler", "Dask is not installed: pip install 'imgopt[dask]'") from None
        self.address = address
        self.prefix = prefix
        self.name = f"dask:{address}"
        self.retries = 0

    def prestart(self) -> None:
        pass  # the cluster's workers are already running

    def close(self) -> None:
        pass

    def run(self, tasks: list[Task], on_done: OnDone) -> None:
        from distributed import Client, as_completed

        from imgopt.errors import RegistryError

        try:
            client = Client(self.address, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise RegistryError(f"--scheduler {self.address}", f"cannot connect to the Dask scheduler: {e}") \
                from None
        try:
            futures: dict[str, Any] = {}
            names: dict[str, str] = {}
            dependents: dict[str, int] = {}
            for t in tasks:
                for d in t.needs:
                    dependents[d] = dependents.get(d, 0) + 1
            for t in tasks:  # tasks come in dependency order
                name = f"{self.prefix}-{t.key}"
                args = (*t.args, [futures[d] for d in t.deps]) if t.deps is not None else t.args
                futures[t.key] = client.submit(t.fn, *args, key=name, pure=False, priority=t.priority)
                names[name] = t.key
            left = dict(dependents)
            by_key = {t.key: t for t in tasks}
            for fut in as_completed(list(futures.values())):
                key = names[fut.key]
                try:
                    result, error = fut.result(), None
                except Exception as e:  # noqa: BLE001
                    result, error = None, e
                    if type(e).__name__ == "KilledWorker":
                        error = WorkerLost(None, f"Dask lost the workers running this task: {e}")
                on_done(key, result, error)
                for d in by_key[key].needs:  # let Dask forget summaries no merge needs any more
                    left[d] -= 1
                    if left[d] == 0 and d in futures:
                        futures.pop(d).release()
                if not dependents.get(key):
                    futures.pop(key, None)
        finally:
            client.close()


__all__ = ["Task", "LocalEngine", "DaskEngine", "WorkerLost", "DependencyFailed"]
