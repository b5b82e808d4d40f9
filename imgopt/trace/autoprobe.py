"""Zero-config probing: find out on its own how an app is used, in seconds.

Used when no probe file is given (``probes=None`` everywhere).  While the
entrypoint starts, the sandbox is watched (:mod:`imgopt.trace.netstat`):

* **a listening TCP socket** (``/proc/PID/net/tcp{,6}`` of the sandbox's own
  network namespace; ``EXPOSE`` is only a hint) makes it a *server*, ready
  as soon as it answers.  Each port is asked ``GET /``: any HTTP status,
  4xx and 5xx included, proves an HTTP server, which then gets ``HEAD /``,
  common paths (``/health``, ``/healthz``, ``/ready``, ``/livez``,
  ``/metrics``, ``/robots.txt``, ``/favicon.ico``, ``/index.html``) and a
  crawl of the same-origin links and asset references in its HTML, CSS and
  JSON answers (:mod:`imgopt.trace.crawl`, bounded in depth, count and
  time).  A port that speaks no HTTP is greeted in the common protocols
  (:mod:`imgopt.trace.greet`);
* **the entrypoint exiting** first makes it a *job*: its exit code and
  output are recorded (a job passes when it exits 0);
* **no socket and no activity** (no CPU time, no traced syscalls) for
  :data:`IDLE_SECONDS` makes it an *idle service*; an app still busy at
  :data:`BUSY_LIMIT` is left running (a long computation).

Every request sent becomes a :class:`~imgopt.trace.profile.ProbeResult`
(``auto: true``) carrying the probe that reproduces it with the answer seen
(the same HTTP status, the same greeting reply), which is what ``imgopt
trace --emit-probes`` writes and what verification replays against the slim
image (:func:`replay_probes`).  The readiness probe of each port (and the
job's exit) is required; the exploration after it is not: a path that times
out there does not fail the trace, and is not replayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from imgopt.trace import crawl
from imgopt.trace.greet import identify
from imgopt.trace.netstat import TICKS, Socket, app_sockets, cpu_ticks
from imgopt.trace.probes import HttpProbe, Probe, Target, http_exchange, parse_probes, probe_mapping, \
    run_probe, run_probes
from imgopt.trace.profile import AccessProfile, Discovery, ListeningSocket, ProbeResult

COMMON_PATHS = ("/health", "/healthz", "/ready", "/livez", "/metrics", "/robots.txt", "/favicon.ico", "/index.html")
POLL = 0.05  # seconds between looks at the sandbox
IDLE_SECONDS = 5.0  # no socket, no CPU, no syscalls for this long: an idle service
IDLE_EXPOSED = 15.0  # ... when the image EXPOSEs a port nobody listens on yet (waits longer, then fails)
IDLE_CPU = 0.02  # "no CPU": under 2 % of one CPU over the window
IDLE_LOG_BYTES = 1024  # "no syscalls": the trace log grew by less than this over the window
BUSY_LIMIT = 120.0  # an app still busy without a port after this long is left running (passes)
REQUEST_TIMEOUT = 5.0  # seconds per exploration request
READY_TIMEOUT = 60.0  # replayed readiness probe: how long the slim image may take to answer
NEXT_TIMEOUT = 10.0  # replayed probes after it


@dataclass
class Auto:
    """Stands for "no probe file": the probes are found while the app runs (:func:`run_all`)."""

    exposed_ports: list[str] = field(default_factory=list)
    discovery: Discovery | None = None  # filled in by the run


def run_all(probes: "list[Probe] | Auto", target: Target, limit: float, exec_log: Callable[[int], str | None],
            *, launched: float, trace_log: str | None = None, private_netns: bool = True) -> list[ProbeResult]:
    """Run the given probes, or (``Auto``) discover them; the results in order."""
    if not isinstance(probes, Auto):
        return run_probes(probes, target, limit, exec_log)
    d = Discoverer(target, probes.exposed_ports, limit, launched, trace_log, private_netns)
    results = d.run()
    probes.discovery = d.discovery
    return results


# ------------------------------------------------------------------ watching


class Activity:
    """CPU time and trace-log growth of the sandbox over time: is the app doing anything?"""

    def __init__(self, trace_log: str | None):
        self.trace_log = trace_log
        self.samples: list[tuple[float, int, int]] = []  # (time, cpu ticks, log bytes)

    def sample(self, pid: int | None) -> None:
        import os

        size = 0
        if self.trace_log:
            try:
                size = os.path.getsize(self.trace_log)
            except OSError:
                size = 0
        self.samples.append((time.time(), cpu_ticks(pid) if pid else 0, size))

    def idle_for(self, window: float) -> bool:
        if not self.samples or self.samples[-1][0] - self.samples[0][0] < window:
            return False
        now, cpu, size = self.samples[-1]
        old = next(s for s in reversed(self.samples) if now - s[0] >= window)
        return (cpu - old[1]) / TICKS <= IDLE_CPU * window and size - old[2] < IDLE_LOG_BYTES


# ------------------------------------------------------------------ discovery


class Discoverer:
    def __init__(self, target: Target, exposed: list[str], limit: float, launched: float, trace_log: str | None,
                 private_netns: bool):
        self.target, self.limit, self.launched = target, limit, launched
        self.private = private_netns
        self.exposed = sorted({int(p.split("/")[0]) for p in exposed
                               if (p.partition("/")[2] or "tcp") == "tcp" and p.split("/")[0].isdigit()})
        self.activity = Activity(trace_log)
        self.results: list[ProbeResult] = []
        self.discovery = Discovery("failed", 0.0)
        self._pid: int | None = None
        self._seen: dict[int, tuple[Socket, float]] = {}

    # -------------------------------------------------------------- the sandbox

    def pid(self) -> int | None:
        if self._pid is None:
            get = getattr(self.target, "sandbox_pid", None)
            self._pid = get() if get else None
        return self._pid

    def sockets(self) -> list[Socket] | None:
        pid = self.pid()
        socks = app_sockets(pid, self.private) if pid else None
        if socks is None:  # /proc not readable here: EXPOSEd ports that accept a connection
            socks = []
            for port in self.exposed:
                try:
                    self.target.connect(port, 0.2).close()
                    socks.append(Socket("inet", "127.0.0.1", port, 0))
                except OSError:
                    continue
        now = time.time()
        for s in socks:
            self._seen.setdefault(s.port, (s, now))
        return socks

    def decided(self, kind: str) -> None:
        self.discovery.kind = kind
        self.discovery.decided_after = round(time.time() - self.launched, 3)

    # -------------------------------------------------------------- the run

    def run(self) -> list[ProbeResult]:
        busy_until = min(self.limit, self.launched + BUSY_LIMIT)
        window = IDLE_EXPOSED if self.exposed else IDLE_SECONDS
        last_sample = 0.0
        while True:
            socks = self.sockets()
            if socks:
                self.decided("server")
                self._serve(socks)
                more = [s for s in self.sockets() if s.port not in {x.port for x in socks}]
                if more:  # ports opened while the first ones were probed
                    self._serve(more)
                self._record_sockets()
                return self.results
            ex = self.target.poll_exit()
            if ex is not None:
                self.decided("job")
                self._job(ex)
                return self.results
            now = time.time()
            if now - last_sample >= 0.25:
                self.activity.sample(self.pid())
                last_sample = now
            if self.activity.idle_for(window):
                self.decided("idle")
                self._idle(window)
                return self.results
            if now >= busy_until:
                self.decided("running")
                self._busy(now - self.launched)
                return self.results
            time.sleep(POLL)

    def _record_sockets(self) -> None:
        for port, (s, seen) in sorted(self._seen.items()):
            if not any(x.port == port for x in self.discovery.sockets):
                self.discovery.sockets.append(ListeningSocket(port, s.address, s.family, "", seen))

    def _job(self, ex: dict) -> None:
        code = ex.get("exit_code")
        out = self.target.output()
        ok = code == 0
        tail = " ".join(out.strip().splitlines()[-3:])[-300:]
        detail = f"exit {code}" if ok else \
            f"the entrypoint exited (code {code}) and never listened on a port; a job must exit 0 (if {code} is " \
            f"what it does, give a probe: type: exit, expect_exit: {code}); output: {tail!r}"
        duration = float(ex.get("time") or time.time()) - self.launched
        probe = {"type": "exit", "expect_exit": code if code is not None else 0,
                 "timeout": int(min(3600, max(60, 3 * duration)))}
        self.results.append(ProbeResult("exit", "exit", ok, detail, first_success=float(ex["time"]) if ok else None,
                                        exit_code=code, output=out[-2000:], probe=probe, auto=True))

    def _idle(self, window: float) -> None:
        if self.exposed:
            ports = ", ".join(map(str, self.exposed))
            self.results.append(ProbeResult(
                "listen", "timeout", False, f"the image EXPOSEs {ports}, but nothing listens (no listening socket, "
                f"no activity for {window:g} s): it needs something the sandbox lacks, or a probe", auto=True))
            return
        self.discovery.notes.append(f"no listening socket, no exit, no activity for {window:g} s: an idle service "
                                    "without a TCP port (a job that waits longer needs a probe: type: exit)")
        self.results.append(ProbeResult("idle", "timeout", True, f"idle for {window:g} s, no port",
                                        first_success=time.time(), probe={"type": "timeout", "seconds": window},
                                        auto=True))

    def _busy(self, seconds: float) -> None:
        self.discovery.notes.append(f"still busy after {seconds:.0f} s without listening or exiting: left running")
        self.results.append(ProbeResult("running", "timeout", True, f"still running (busy) after {seconds:.0f} s",
                                        first_success=time.time(), probe={"type": "timeout", "seconds": 30},
                                        auto=True))

    # -------------------------------------------------------------- servers

    def _serve(self, socks: list[Socket]) -> None:
        probed = sum(1 for x in self.discovery.sockets)
        for s in socks:
            if self.target.poll_exit() is not None:
                break
            if probed >= crawl.MAX_PORTS:
                self.discovery.notes.append(f"listens on more than {crawl.MAX_PORTS} ports: port {s.port} and "
                                            "later ones not probed")
                break
            self._port(s)
            probed += 1

    def _port(self, s: Socket) -> None:
        deadline = self.limit
        g, address = None, s.loopback[0]
        for address in s.loopback:
            g = identify(self.target, s.port, address, min(deadline, time.time() + (30 if address == s.loopback[-1]
                                                                                       else 2)))
            if g is not None:
                break
        self.discovery.requests += 1
        sock = ListeningSocket(s.port, s.address, s.family, g.protocol if g else "", self._seen[s.port][1],
                               g.detail if g else "")
        self.discovery.sockets.append(sock)
        if g is None:
            self.results.append(ProbeResult(f"tcp :{s.port}", "tcp", False,
                                            "listening, but connecting to it failed", auto=True))
            return
        if g.protocol in ("http", "https"):
            self._http(s.port, address, g.protocol == "https")
            return
        for i, p in enumerate(g.probes):
            p.timeout = READY_TIMEOUT if i == 0 else NEXT_TIMEOUT
            r = run_probe(p, self.target, min(self.limit, time.time() + (10 if i == 0 else REQUEST_TIMEOUT)))
            r.auto, r.required = True, i == 0
            self.discovery.requests += 1
            self.results.append(r)

    def _http(self, port: int, address: str, tls: bool = False) -> None:
        first = self._request(port, address, tls, "GET", "/", required=True)
        if first is None:
            return
        end = time.time() + crawl.MAX_SECONDS  # exploration budget of this port
        done: set[tuple[str, str]] = {("GET", "/")}
        # (method, path, depth, crawled): the common paths, then what "/" links to, breadth first
        queue: list[tuple[str, str, int, bool]] = [(m, p, 1, False) for m, p in
                                                   [("HEAD", "/")] + [("GET", p) for p in COMMON_PATHS]]
        self._enqueue(queue, done, first, "/", port, 1, tls)
        silent = 0  # exploration requests in a row without an answer
        while queue and len(done) < crawl.MAX_PAGES and time.time() < end and silent < 3:
            method, path, depth, crawled = queue.pop(0)
            if (method, path) in done:
                continue
            done.add((method, path))
            got = self._request(port, address, tls, method, path, crawled=crawled, until=end)
            silent = 0 if got is not None else silent + 1
            if got is not None and method == "GET" and depth < crawl.MAX_DEPTH:
                self._enqueue(queue, done, got, path, port, depth + 1, tls)
            if self.target.poll_exit() is not None:
                break
        if queue and (time.time() >= end or len(done) >= crawl.MAX_PAGES):
            self.discovery.notes.append(f"port {port}: crawl stopped at its bound ({len(done)} requests, "
                                        f"{crawl.MAX_SECONDS:g} s); {len(queue)} links not followed")

    def _enqueue(self, queue: list, done: set, got: tuple[int, dict, str], path: str, port: int, depth: int,
                 tls: bool = False) -> None:
        status, headers, body = got
        refs: list[str] = []
        base = None
        if 300 <= status < 400 and headers.get("location"):
            refs = [headers["location"]]
        elif 200 <= status < 300:
            refs, base = crawl.links_in(body, headers.get("content-type", ""))
        queued = {p for m, p, _, _ in queue if m == "GET"}
        for ref in refs:
            target = crawl.same_origin_path(ref, path, port, base, "https" if tls else "http")
            if target and ("GET", target) not in done and target not in queued:
                queue.append(("GET", target, depth, True))
                queued.add(target)

    def _request(self, port: int, address: str, tls: bool, method: str, path: str, required: bool = False,
                 crawled: bool = False, until: float | None = None) -> tuple[int, dict, str] | None:
        """One automatic request; its result recorded; (status, headers, body) or None (no HTTP answer)."""
        p = HttpProbe(port, path, method, expect_status=None, address=address, tls=tls)
        last = ""
        deadline = min(self.limit, until or self.limit,
                       time.time() + (READY_TIMEOUT if required else REQUEST_TIMEOUT))
        self.discovery.requests += 1
        self.discovery.crawled += int(crawled)
        while True:
            started = time.time()
            try:
                status, headers, body = http_exchange(p, self.target, max(0.5, min(REQUEST_TIMEOUT,
                                                                                   deadline - started)))
            except Exception as e:  # noqa: BLE001 - OSError, HTTPException: no HTTP answer (yet)
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                if not required or time.time() >= deadline or self.target.poll_exit() is not None:
                    self.results.append(ProbeResult(p.name, "http", False, f"no HTTP answer: {last}",
                                                    auto=True, required=required))
                    return None
                time.sleep(POLL)
                continue
            finished = time.time()
            replay = HttpProbe(port, path, method, expect_status=status, address=address, tls=tls,
                               timeout=READY_TIMEOUT if required else NEXT_TIMEOUT)
            self.results.append(ProbeResult(p.name, "http", True, f"HTTP {status}", first_success=finished,
                                            status=status, output=body[:2000], probe=probe_mapping(replay),
                                            auto=True, required=required, started=started, finished=finished))
            return status, headers, body


# ------------------------------------------------------------------ afterwards


def replay_probes(profile: AccessProfile | None) -> list[Probe] | None:
    """The probes to run against the slim image: every probe of ``profile`` that passed, as it ran
    (automatic ones expect the answer the original gave).  None: the profile holds none."""
    if profile is None:
        return None
    docs = [r.probe for r in profile.probes if r.passed and r.probe]
    if not docs:
        return None
    probes = parse_probes(docs, f"{profile.image}: recorded probes")
    for p, r in zip(probes, [r for r in profile.probes if r.passed and r.probe]):
        p.name = r.name  # match the original's results by name
    return probes


def probe_file_text(profile: AccessProfile, yaml_format: bool = True) -> str:
    """A probe file (YAML, or JSON) with the probes of ``profile`` that passed, to edit and commit."""
    import json

    docs = [r.probe for r in profile.probes if r.passed and r.probe]
    d = profile.discovery
    head = [f"# probes for {profile.image}"]
    if d is not None:
        head.append(f"# found by zero-config probing: {describe(d)}")
        head.append("# each automatic probe expects the answer the original image gave; edit freely")
    doc = {"probes": docs}
    if not yaml_format:
        return json.dumps(doc, indent=2) + "\n"
    import yaml

    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=False, width=120)


def write_probe_file(profile: AccessProfile, path: str) -> int:
    """Write :func:`probe_file_text` to ``path`` atomically (JSON if it ends in .json); the probe count."""
    from imgopt.atomic import write_text
    from imgopt.errors import BadInput

    n = sum(1 for r in profile.probes if r.passed and r.probe)
    if not n:
        raise BadInput(path, "no probe passed: nothing to write")
    write_text(path, probe_file_text(profile, not path.endswith(".json")))
    return n


def describe(d: Discovery) -> str:
    if d.kind == "server":
        ports = ", ".join(f":{s.port} {s.protocol or '?'}" for s in d.sockets)
        return f"a server ({ports}), decided after {d.decided_after:.2f} s; {d.requests} requests, " \
               f"{d.crawled} from crawled links"
    if d.kind == "job":
        return f"a job (no listening socket; ran to exit), decided after {d.decided_after:.2f} s"
    if d.kind == "idle":
        return f"an idle service (no port, no activity), decided after {d.decided_after:.2f} s"
    if d.kind == "running":
        return f"busy without a port, left running after {d.decided_after:.0f} s"
    return f"undecided after {d.decided_after:.2f} s"


__all__ = ["Auto", "run_all", "Discoverer", "replay_probes", "probe_file_text", "write_probe_file", "describe",
           "COMMON_PATHS"]
