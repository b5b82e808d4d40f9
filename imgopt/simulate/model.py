"""The pull + start model: a task graph per client, run by the fluid simulator.

``docker`` (sequential unpack)::

    ping -> token -> manifest -> config ------------------------------------------+
                        |                                                         |
                        +-> req_i -> download_i (3 slots) -> receive_i -> extract_i -> ... -> commit -> create -> start -> app -> ready
                                                              extract_{i-1} --^

A download is split into pieces, each received (hashed and written to the
client's temporary file) after it arrives.  Receiving and extraction share
the host's pull pipeline (a pool of capacity 1, see ``engine``): a byte costs
``1 / ingest_bps`` of it, since one download over loopback at the host's
ingest rate occupies the whole pipeline.  So layers arriving fast while an
earlier one extracts slow that extraction down, more so for big uncompressed
blobs; on a slow link the cost is spread thin.

``ctr`` (unpack after fetch): containerd 1.x's ``ctr image pull`` fetches every
blob first (``content.Fetch``), then unpacks the layers one after another:
the docker graph without the overlap, every ``extract_i`` after every
``receive``.

``containerd`` (streaming unpack): each layer's download and extract are
split into pieces; extract piece k follows receive piece k and extract
piece k-1, so unpacking runs behind the download.

``lazy``: TOC fetch and mount per layer, container create/start, then the
app runs its traced timeline; each startup file is available when the
prefetch of its layer's prioritized range has reached it, or is fetched on
demand (one round trip plus a chunk per miss) when the app first touches it.

Network requests cost round trips: a new connection pays TCP (+TLS)
handshakes, every request one RTT plus the server's time, a redirect
another RTT (+ a new connection to blob storage) plus its time to first
byte, and a transfer's TCP slow start adds round trips while the window
grows to the bandwidth-delay product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from imgopt.simulate import engine
from imgopt.simulate.engine import Task, add
from imgopt.simulate.profiles import ClientProfile, HostProfile, RegistryProfile
from imgopt.simulate.result import PathStep, Result, TimelineRow
from imgopt.simulate.workload import Workload


@dataclass
class Startup:
    """What the app does until ready (from a trace profile, or assumed)."""

    ready_time: float
    files: list[tuple[str, float, int]] = field(default_factory=list)  # (path, first_access, size)
    source: str = "assumed"  # "profile" | "assumed" | "option"


# a download is received in pieces of about this size (at most this many per layer)
RECEIVE_PIECE_BYTES = 1 << 20
RECEIVE_PIECES = 16

# -------------------------------------------------------------- net helpers


def slow_start_extra(size: float, reg: RegistryProfile, rtt: float, rate: float) -> float:
    """Extra time over size/rate that TCP slow start costs a fresh transfer."""
    if rtt <= 0 or size <= 0 or not math.isfinite(rate):
        return 0.0
    bdp = rate * rtt
    w0 = reg.initcwnd_bytes
    if bdp <= w0:
        return 0.0
    k = math.ceil(math.log2(bdp / w0))  # rounds until the window covers the BDP
    ss_bytes = w0 * (2 ** k - 1)
    if size <= ss_bytes:
        rounds = math.ceil(math.log2(size / w0 + 1))
        return max(0.0, rounds * rtt - size / rate)
    return max(0.0, k * rtt - ss_bytes / rate)


class _Builder:
    def __init__(self, w: Workload, reg: RegistryProfile, client: ClientProfile, host: HostProfile,
                 startup: Startup):
        self.w, self.reg, self.client, self.host, self.startup = w, reg, client, host, startup
        self.g = nx.DiGraph()
        self.notes: list[str] = []
        self.conn_rate = min(reg.per_connection_bps, host.ingest_bps)

    def task(self, id_: str, kind: str, amount: float, after=(), **kw) -> str:
        return add(self.g, Task(id_, kind, amount, **kw), list(after))

    def request(self, prefix: str, after, *, new_conn: bool = False, redirect: bool = False, label: str = "",
                layer: int | None = None, size: float = 0.0, **kw) -> str:
        """Round trips for one HTTP request (delay task)."""
        r = self.reg
        t = (r.handshake() if new_conn else 0.0) + r.rtt + r.server_time
        if redirect and r.blob_redirect:
            t += (r.handshake(r.redirect_rtt) if r.redirect_new_connection else 0.0) + r.redirect_rtt \
                + r.redirect_server_time
        if size:
            rtt = r.redirect_rtt if (redirect and r.blob_redirect) else r.rtt
            t += slow_start_extra(size, r, rtt, self.conn_rate)
        return self.task(f"{prefix}", "delay", t, after, label=label or prefix, layer=layer, category="network",
                         **kw)

    def flow(self, id_: str, size: float, after, **kw) -> str:
        kw.setdefault("category", "network")
        return self.task(id_, "net", float(size), after, cap=self.conn_rate, link="net", **kw)

    def cpu(self, id_: str, seconds: float, after, **kw) -> str:
        kw.setdefault("category", "cpu")
        return self.task(id_, "cpu", seconds, after, cap=1.0, **kw)

    def pipeline(self, id_: str, seconds: float, after, **kw) -> str:
        """Work on the host's pull pipeline (extraction, receiving downloads), shared by all of it."""
        kw.setdefault("category", "cpu")
        return self.task(id_, "host", seconds, after, cap=1.0, **kw)

    def download(self, i: int, size: float, req: str, pieces: int) -> list[str]:
        """Layer i's blob as ``pieces`` flows, each received after it arrives; the receive tasks, in order."""
        per_byte = 1.0 / self.host.ingest_bps
        out: list[str] = []
        prev_dl, prev_rx = req, None
        for k in range(pieces):
            last = k == pieces - 1
            dl = self.flow(f"L{i}.download.{k}", size / pieces, [prev_dl], label=f"layer {i} download", layer=i)
            rx = self.pipeline(f"L{i}.receive.{k}", per_byte * size / pieces, [dl] + ([prev_rx] if prev_rx else []),
                               label=f"layer {i} receive", layer=i, release="dl" if last else None)
            out.append(rx)
            prev_dl, prev_rx = dl, rx
        return out

    def unpack_seconds(self, codec: str, u: float, entries: float, *, layer_cost: bool = True) -> float:
        h = self.host
        dec = h.decompress(codec)
        return (u / dec if math.isfinite(dec) else 0.0) + u / h.extract_bps + entries * h.per_file \
            + (h.per_layer if layer_cost else 0.0)

    def inflate_seconds(self, codec: str, u: float) -> float:
        dec = self.host.decompress(codec)
        return u / dec if math.isfinite(dec) else 0.0

    # ---------------------------------------------------------- common head

    def head(self) -> tuple[str, str]:
        """Resolve: ping/auth, manifest, config. Returns (manifest task, config task)."""
        r, c = self.reg, self.client
        fresh = not c.reuse_connections
        last = self.task("begin", "mark", 0, label="pull requested")
        if r.https_probe:  # TLS ClientHello to a plain-HTTP registry, answered with an error, then HTTP
            last = self.task("https-probe", "delay", r.rtt * (r.tcp_handshake_rtts + 1), [last],
                             category="network", label="HTTPS attempt on a plain-HTTP registry")
        first = True
        if r.ping:
            last = self.request("ping", [last], new_conn=True, label="GET /v2/ (auth challenge)")
            first = False
        if r.auth == "token":
            last = self.request("token", [last], new_conn=r.token_new_connection or fresh, label="token request")
            self.g.nodes[last]["task"].amount += r.token_time - r.server_time
        man = last
        for k in range(c.manifest_requests):
            man = self.request(f"manifest{k or ''}", [man], new_conn=first or fresh,
                               label="manifest" if k == 0 else "manifest (by digest)")
            first = False
        cfg_req = self.request("config.req", [man], new_conn=fresh, redirect=True, label="config blob request",
                               size=self.w.config_bytes)
        cfg = self.flow("config", self.w.config_bytes, [cfg_req], label="config blob")
        return man, cfg

    def blob_conn(self, i: int) -> bool:
        """Does the request for layer i open a new connection?"""
        c = self.client
        return not c.reuse_connections or i < c.max_concurrent_downloads - 1

    def tail(self, pulled: str) -> str:
        h = self.host
        create = self.task("create", "delay", h.create_time, [pulled], category="start", label="container create")
        start = self.task("start", "delay", h.start_time, [create], category="start", label="container start")
        return start

    # ---------------------------------------------------------------- docker

    def build_pull(self) -> tuple[str, str]:
        man, cfg = self.head()
        c = self.client
        streaming = c.unpack == "streaming"
        prev_extract: str | None = None
        fetched: list[str] = []  # after_fetch: every layer's last receive, then one mark the extractions follow
        for l in self.w.layers:
            i = l.index
            req = self.request(f"L{i}.req", [man], new_conn=self.blob_conn(i), redirect=True,
                               label=f"layer {i} request", layer=i, acquire="dl", priority=i, size=l.compressed)
            if not streaming:
                pieces = max(1, min(RECEIVE_PIECES, math.ceil(l.compressed / RECEIVE_PIECE_BYTES)))
                received = self.download(i, l.compressed, req, pieces)
                if c.unpack == "after_fetch":
                    fetched.append(received[-1])
                    continue
                work = self.unpack_seconds(l.codec, l.uncompressed, l.entries)
                ex = self.pipeline(f"L{i}.extract", work, [received[-1]] + ([prev_extract] if prev_extract else []),
                                   label=f"layer {i} decompress+extract", layer=i)
                prev_extract = ex
                continue
            n = max(1, min(64, math.ceil(l.compressed / c.stream_chunk_bytes)))
            for k, rx in enumerate(self.download(i, l.compressed, req, n)):
                work = self.unpack_seconds(l.codec, l.uncompressed / n, l.entries / n, layer_cost=k == n - 1)
                after = [rx] + ([prev_extract] if prev_extract else [])
                prev_extract = self.pipeline(f"L{i}.extract.{k}", work, after, label=f"layer {i} decompress+extract",
                                             layer=i)
        if fetched:
            prev_extract = self.task("fetched", "mark", 0, fetched, label="every blob fetched")
            for l in self.w.layers:
                i = l.index
                work = self.unpack_seconds(l.codec, l.uncompressed, l.entries)
                prev_extract = self.pipeline(f"L{i}.extract", work, [prev_extract],
                                             label=f"layer {i} decompress+extract", layer=i)
        commit = self.cpu("commit", self.host.pull_overhead, [cfg] + ([prev_extract] if prev_extract else []),
                          label="register image")
        pulled = self.task("pulled", "mark", 0, [commit], label="image pulled")
        return pulled, self.tail(pulled)

    # ------------------------------------------------------------------ lazy

    def build_lazy(self) -> tuple[str, str]:
        lz = self.client.lazy
        assert lz is not None
        man, cfg = self.head()
        mounts = []
        for l in self.w.layers:
            i = l.index
            toc = lz.toc_bytes_per_file * max(l.entries, 1)
            req = self.request(f"L{i}.toc.req", [man], new_conn=self.blob_conn(i), redirect=True,
                               label=f"layer {i} TOC request", layer=i, acquire="fetch", priority=i, size=toc)
            fl = self.flow(f"L{i}.toc", toc, [req], label=f"layer {i} TOC", layer=i, release="fetch")
            mounts.append(self.task(f"L{i}.mount", "delay", lz.mount_time, [fl], category="cpu",
                                    label=f"layer {i} mount", layer=i))
        pulled = self.task("pulled", "mark", 0, mounts + [cfg], label="layers mounted")
        started = self.tail(pulled)
        return pulled, self._lazy_app(pulled, started)

    def _lazy_app(self, pulled: str, started: str) -> str:
        lz = self.client.lazy
        w = self.w
        files = w.files or {}
        chunk = lz.chunk_bytes
        layers = {l.index: l for l in w.layers}
        # where each startup file is (layer, chunk range in compressed bytes)
        located = []
        missing = 0
        for path, t, size in self.startup.files:
            loc = files.get(path)
            if loc is None:
                missing += 1
                continue
            located.append((path, t, loc))
        if missing:
            self.notes.append(f"lazy: {missing} startup files of the profile are not regular files in the image "
                              "(ignored)")
        avail: dict[str, str] = {}  # path -> task after which it is readable
        if lz.prefetch == "startup":
            # one prioritized range per layer, files in first-access order, fetched after mount
            by_layer: dict[int, list] = {}
            for path, t, loc in located:
                by_layer.setdefault(loc.layer, []).append((path, loc))
            for li, items in by_layer.items():
                l = layers[li]
                total = sum(loc.size for _, loc in items) * l.ratio
                req = self.request(f"L{li}.prefetch.req", [pulled], redirect=True, layer=li,
                                   label=f"layer {li} prefetch request", acquire="fetch", priority=li, size=total)
                prev = req
                acc, piece, k = 0.0, [], 0
                for j, (path, loc) in enumerate(items):
                    acc += loc.size * l.ratio
                    piece.append(path)
                    if acc >= chunk or j == len(items) - 1:
                        last = j == len(items) - 1
                        fl = self.flow(f"L{li}.prefetch.{k}", acc, [prev], label=f"layer {li} prefetch", layer=li,
                                       release="fetch" if last else None)
                        dec = self.cpu(f"L{li}.prefetch.{k}.inflate", self.inflate_seconds(l.codec, acc / l.ratio),
                                       [fl], label=f"layer {li} prefetch decompress", layer=li)
                        for p in piece:
                            avail[p] = dec
                        prev, acc, piece, k = fl, 0.0, [], k + 1
        # the app's own timeline, stalling on files not yet there
        prev = started
        t_prev = 0.0
        fetched: dict[tuple[int, int], str] = {}
        for n, (path, t, loc) in enumerate(located):
            seg = self.task(f"app.{n}", "delay", max(0.0, t - t_prev), [prev], category="app", label="app runs",
                            )
            t_prev = max(t_prev, t)
            if path in avail:
                prev = self.task(f"app.{n}.read", "mark", 0, [seg, avail[path]], category="app",
                                 label=f"read {path}")
                continue
            l = layers[loc.layer]
            c0 = int(loc.offset * l.ratio // chunk)
            c1 = int((loc.offset + max(loc.size, 1) - 1) * l.ratio // chunk)
            need = [(loc.layer, c) for c in range(c0, c1 + 1) if (loc.layer, c) not in fetched]
            deps = [seg] + [fetched[(loc.layer, c)] for c in range(c0, c1 + 1) if (loc.layer, c) in fetched]
            if need:
                size = min(len(need) * chunk, max(l.compressed, 1))
                req = self.request(f"app.{n}.miss", [seg], redirect=True, layer=loc.layer, size=size,
                                   label=f"miss {path}")
                self.g.nodes[req]["task"].amount += lz.read_overhead
                fl = self.flow(f"app.{n}.fetch", size, [req], label=f"fetch {path}", layer=loc.layer)
                dec = self.cpu(f"app.{n}.inflate", self.inflate_seconds(l.codec, size / l.ratio), [fl],
                               label="decompress chunk",
                               layer=loc.layer)
                for key in need:
                    fetched[key] = dec
                deps.append(dec)
            prev = self.task(f"app.{n}.read", "mark", 0, deps, category="app", label=f"read {path}")
        rest = self.task("app.rest", "delay", max(0.0, self.startup.ready_time - t_prev), [prev], category="app",
                         label="app runs until ready")
        return rest


# ------------------------------------------------------------------ public


def simulate(w: Workload, reg: RegistryProfile, client: ClientProfile, host: HostProfile,
             startup: Startup) -> Result:
    b = _Builder(w, reg, client, host, startup)
    notes = list(w.notes)
    bad = sorted({l.codec for l in w.layers} - set(client.codecs))
    if bad:
        notes.append(f"client {client.name} cannot pull {', '.join(bad)} layers (profile codecs: "
                     f"{', '.join(client.codecs)}); predicted as if it could")
    if client.unpack == "lazy":
        if not startup.files:
            from imgopt.errors import BadInput

            raise BadInput("--client lazy", "the lazy client needs the startup set: pass --profile TRACE.json "
                                            "(from imgopt trace)")
        pulled, last = b.build_lazy()
    else:
        pulled, last = b.build_pull()
    if client.unpack != "lazy":
        last = b.task("app", "delay", startup.ready_time, [last], category="app", label="app starts until ready")
    ready = b.task("ready", "mark", 0, [last], category="app", label="app ready")
    slots = {"dl": client.max_concurrent_downloads,
             "fetch": client.lazy.max_concurrent_fetches if client.lazy else client.max_concurrent_downloads}
    res = engine.Resources(links={"net": reg.aggregate_bps}, cores=host.cores, slots=slots)
    tasks = engine.run(b.g, res)
    path = engine.critical_path(tasks, ready)
    total = tasks[ready].end or 0.0
    pull = tasks[pulled].end or 0.0
    breakdown = {"network": 0.0, "cpu": 0.0, "start": 0.0, "app": 0.0}
    for t in path:
        breakdown[t.category] = breakdown.get(t.category, 0.0) + t.duration
    # time the slow start or slot waits hide is attributed where it was spent
    notes += b.notes
    if startup.source == "assumed":
        notes.append(f"no trace profile: app ready time assumed {startup.ready_time:g} s (use --profile or "
                     "--ready-time)")
    crit = [PathStep(task=t.id, label=t.label, category="" if t.kind == "mark" else t.category,
                     start=round(t.start or 0, 4), end=round(t.end or 0, 4))
            for t in path if t.duration > 0 or t.kind == "mark"]
    timeline = _timeline(tasks)
    dl = sum(t.amount for t in tasks.values() if t.kind == "net")
    return Result(w.name, w.variant, reg.name, client.name, host.name, pull, total - pull, total, breakdown,
                  crit, timeline, int(dl), notes)


def _timeline(tasks: dict[str, Task]) -> list[TimelineRow]:
    """Per-row spans for a waterfall: pieces of one layer phase merged into one row."""
    rows: dict[tuple, TimelineRow] = {}
    for t in tasks.values():
        if t.start is None or t.end is None:
            continue
        if t.kind == "mark" and t.id not in ("pulled", "ready"):
            continue
        if t.id.startswith("app."):
            key = ("app", "app")
            label = "app (runs + stalls)"
        else:
            key = (t.layer, t.label)
            label = t.label
        r = rows.get(key)
        if r is None:
            rows[key] = TimelineRow(task=label, layer=t.layer, category=t.category if not t.id.startswith("app.")
                                    else "app", start=t.start, end=t.end, busy=t.duration)
        else:
            r["start"] = min(r["start"], t.start)
            r["end"] = max(r["end"], t.end)
            r["busy"] += t.duration
    out = sorted(rows.values(), key=lambda r: (r["start"], r["end"]))
    for r in out:
        for k in ("start", "end", "busy"):
            r[k] = round(r[k], 4)
    return out


__all__ = ["simulate", "Startup", "slow_start_extra"]
