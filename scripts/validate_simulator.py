#!/usr/bin/env python3
"""Validate `imgopt simulate` against real cold pulls over a shaped link.

Lab (torn down afterwards, even on failure or Ctrl-C):

* network namespace ``imgopt-sim`` joined to the host by a veth pair
  (host 10.213.77.1/24, namespace 10.213.77.2/24); the namespace side's
  egress (registry -> client, the pull direction) is shaped with ``tc tbf``;
* Debian's ``docker-registry`` serving inside the namespace on
  10.213.77.2:5000 (storage under /var/lib/imgopt-sim/registry);
* a second ``dockerd`` (own data-root, exec-root, pidfile, socket
  /run/imgopt-sim/docker.sock, its own managed containerd, no bridge, no
  iptables) that treats that registry as insecure.

Procedure: `imgopt calibrate` on the lab daemon (host profile); push each
app image gzip'd (and a debloated "slim" variant: docs, man pages, locales and
apt lists removed) to the lab registry; measure each app's warm ready time
(container started -> HTTP probe passes, image already local: what
`imgopt trace` would record); then for every rate and image, cold-pull
through the daemon API (progress events timestamped) and run until the probe
passes, ``--reps`` times.  Predictions come from `imgopt simulate` with the
calibrated host profile, the ``docker`` client profile and a registry
profile of the link (rate, ~0 RTT, plain HTTP, no auth, no redirect).

Optionally (``--rtt``) RTT terms are checked through a delay-injecting TCP
proxy on loopback (netem is not available): each direction's bytes are
forwarded RTT/2 late and each new connection pays one RTT.

    scripts/validate_simulator.py                       # full run, writes reports/simulator-validation.md
    scripts/validate_simulator.py --images nginx --rates 200,1000 --reps 1 --no-report
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.util
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgopt.simulate import calibrate as C  # noqa: E402
from imgopt.simulate import profiles as P  # noqa: E402

NS = "imgopt-sim"
VETH_H, VETH_N = "isim-h", "isim-n"
HOST_IP, NS_IP = "10.213.77.1", "10.213.77.2"
REG_ADDR = f"{NS_IP}:5000"
STATE = Path("/var/lib/imgopt-sim")
RUN = Path("/run/imgopt-sim")
SOCK = f"unix://{RUN}/docker.sock"
SAMPLE = ROOT / "fixtures" / "sample.tar"
RTT_RATE = 200  # Mbit/s of the tbf link behind the delay proxy
SLIM_DROP = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/", "usr/share/lintian/",
             "usr/share/bug/", "var/lib/apt/lists/", "var/cache/apt/", "var/cache/debconf/", "root/.cache/")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(*args: str, check: bool = True, ns: bool = False, quiet: bool = False) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", NS] if ns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
    return p


# ------------------------------------------------------------------------ lab


class Lab:
    """Namespace + veth + shaped link + registry + second dockerd; always torn down."""

    def __init__(self, keep_data: bool = False):
        self.keep_data = keep_data
        self.registry: subprocess.Popen | None = None
        self.dockerd: subprocess.Popen | None = None
        self.rate: int | None = None

    # -- setup
    def __enter__(self) -> "Lab":
        self.teardown(stale=True)
        try:
            self._net()
            self._registry()
            self._dockerd()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def _net(self) -> None:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", VETH_H, "type", "veth", "peer", "name", VETH_N)
        sh("ip", "link", "set", VETH_N, "netns", NS)
        sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", VETH_H)
        sh("ip", "link", "set", VETH_H, "up")
        sh("ip", "addr", "add", f"{NS_IP}/24", "dev", VETH_N, ns=True)
        sh("ip", "link", "set", VETH_N, "up", ns=True)
        sh("ip", "link", "set", "lo", "up", ns=True)

    def shape(self, mbit: int) -> None:
        """tbf on the namespace side's egress: the registry -> client direction."""
        burst = max(64 * 1024, int(mbit * 1e6 / 8 * 0.002))  # >= 2 ms of traffic
        sh("tc", "qdisc", "replace", "dev", VETH_N, "root", "tbf", "rate", f"{mbit}mbit", "burst", str(burst),
           "latency", "50ms", ns=True)
        self.rate = mbit

    def _registry(self) -> None:
        (STATE / "registry").mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        cfg = RUN / "registry.yml"
        cfg.write_text((ROOT / "tests/registry/config.yml").read_text()
                       .replace("@ROOT@", str(STATE / "registry")).replace("127.0.0.1:5000", REG_ADDR))
        self.registry = subprocess.Popen(["ip", "netns", "exec", NS, "docker-registry", "serve", str(cfg)],
                                         stdout=subprocess.DEVNULL, stderr=open(RUN / "registry.log", "w"),
                                         start_new_session=True)
        _wait(lambda: _http_ok(f"http://{REG_ADDR}/v2/"), 30, "lab registry")

    def _dockerd(self) -> None:
        for d in (STATE / "docker", RUN / "exec"):
            d.mkdir(parents=True, exist_ok=True)
        self.dockerd = subprocess.Popen(
            ["dockerd", "--data-root", str(STATE / "docker"), "--exec-root", str(RUN / "exec"),
             "--pidfile", str(RUN / "docker.pid"), "-H", SOCK, "--bridge=none", "--iptables=false",
             "--ip-forward=false", "--ip-masq=false", "--insecure-registry", REG_ADDR],
            stdout=subprocess.DEVNULL, stderr=open(RUN / "dockerd.log", "w"), start_new_session=True)

        def up():
            return subprocess.run(["docker", "-H", SOCK, "info"], capture_output=True).returncode == 0

        _wait(up, 60, "lab dockerd")

    # -- teardown
    def teardown(self, stale: bool = False) -> None:
        for proc, name in ((self.dockerd, "dockerd"), (self.registry, "registry")):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.dockerd = self.registry = None
        if stale:  # a previous run that died: stop what its pid files name (our own daemon only)
            pidf = RUN / "docker.pid"
            if pidf.exists():
                with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                    pid = int(pidf.read_text().strip())
                    if "imgopt-sim" in Path(f"/proc/{pid}/cmdline").read_text():
                        os.kill(pid, signal.SIGTERM)
                        for _ in range(60):
                            if not Path(f"/proc/{pid}").exists():
                                break
                            time.sleep(0.5)
            # a registry still running in our namespace
            p = sh("ip", "netns", "pids", NS, check=False)
            for pid in p.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGTERM)
        sh("ip", "link", "del", VETH_H, check=False)
        sh("ip", "netns", "del", NS, check=False)
        if not self.keep_data:
            # overlay mounts are gone once dockerd stopped; remove its state
            for d in (STATE / "docker", RUN / "exec"):
                _umount_under(d)
                shutil.rmtree(d, ignore_errors=True)


def _umount_under(d: Path) -> None:
    try:
        mounts = [l.split()[1] for l in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for m in sorted((m for m in mounts if m.startswith(str(d))), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def _http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).ok
    except Exception:  # noqa: BLE001
        return False


def _wait(fn, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


# --------------------------------------------------------------- delay proxy


class DelayProxy:
    """TCP proxy on 127.0.0.1 adding one-way delay RTT/2 to every chunk, one RTT per new connection."""

    def __init__(self, upstream: tuple[str, int], rtt: float):
        self.upstream, self.rtt = upstream, rtt
        self.port = C._free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    async def _pump(self, reader, writer) -> None:
        q: asyncio.Queue = asyncio.Queue()
        half = self.rtt / 2

        async def rx():
            while True:
                data = await reader.read(1 << 16)
                await q.put((self.loop.time() + half, data))
                if not data:
                    return

        async def tx():
            while True:
                due, data = await q.get()
                d = due - self.loop.time()
                if d > 0:
                    await asyncio.sleep(d)
                if not data:
                    with contextlib.suppress(Exception):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(rx(), tx(), return_exceptions=True)

    async def _handle(self, cr, cw) -> None:
        await asyncio.sleep(self.rtt)  # TCP handshake across the emulated path
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            cw.close()
            return
        await asyncio.gather(self._pump(cr, uw), self._pump(ur, cw), return_exceptions=True)
        for w in (cw, uw):
            with contextlib.suppress(Exception):
                w.close()

    def __enter__(self) -> "DelayProxy":
        self.thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# ---------------------------------------------------------------- app images


def _build_apps():
    spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def app_archive(name: str) -> Path:
    if name == "sample":
        return SAMPLE
    return _build_apps().ensure_app(name)


def app_probe(name: str) -> dict:
    if name == "sample":
        return {"port": 8080, "path": "/", "expect_body": "imgopt-sample ok"}
    probes = _build_apps().load_probe(name)["probes"]
    http = [p for p in probes if p.get("type") == "http"]
    if not http:
        raise SystemExit(f"{name}: no HTTP probe (jobs are not supported by this validation)")
    return http[0]


def _slim_tar(tar_bytes: bytes) -> bytes:
    """Drop docs, man pages, locales, apt lists (a stand-in for `imgopt slim`)."""
    out = io.BytesIO()
    dropped: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            name = m.name.lstrip("./")
            if name.startswith(SLIM_DROP) and not m.isdir():
                dropped.add(name)
                continue
            if m.islnk() and m.linkname.lstrip("./") in dropped:
                continue
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    return out.getvalue()


def prepare_image(name: str, variant: str) -> list[C.SynthLayer]:
    """The app's layers, gzip-6 (zlib-ng) as a push writes them; slim: debloated."""
    from zlib_ng import gzip_ng

    from imgopt.image.sources import open_image

    layers = []
    with open_image(str(app_archive(name))) as img:
        for layer in img.layers:
            with layer.open_tar() as f:
                t = f.read()
            if variant == "slim":
                t = _slim_tar(t)
            blob = gzip_ng.compress(t, compresslevel=6, mtime=0)
            layers.append(C.SynthLayer(t, blob, C.OCI_LAYER + "+gzip", 0, 0))
        cfg = img.config.raw
    return layers, cfg


def push_app(addr: str, name: str, variant: str) -> str:
    import json as _json

    import requests

    layers, cfg = prepare_image(name, variant)
    cfg = dict(cfg)
    cfg["rootfs"] = {"type": "layers", "diff_ids": [C._sha(l.tar) for l in layers]}
    cfg_b = _json.dumps(cfg, separators=(",", ":")).encode()
    repo = f"imgopt-sim/{name}"
    base = f"http://{addr}/v2/{repo}"
    s = requests.Session()
    for data in [cfg_b] + [l.blob for l in layers]:
        d = C._sha(data)
        if s.head(f"{base}/blobs/{d}", timeout=30).status_code == 200:
            continue
        r = s.post(f"{base}/blobs/uploads/", timeout=30)
        r.raise_for_status()
        loc = r.headers["Location"]
        loc = f"http://{addr}{loc}" if loc.startswith("/") else loc
        s.put(loc, params={"digest": d}, data=data, timeout=600).raise_for_status()
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": C._sha(cfg_b),
                      "size": len(cfg_b)},
           "layers": [{"mediaType": l.media_type, "digest": C._sha(l.blob), "size": len(l.blob)} for l in layers]}
    s.put(f"{base}/manifests/{variant}", data=_json.dumps(man).encode(),
          headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=30).raise_for_status()
    return f"{repo}:{variant}"


# ------------------------------------------------------------------- measure

POLLER = r"""
import ctypes, os, socket, sys, time
port, path, expect, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), float(sys.argv[4])
pid = sys.stdin.readline().strip()            # wait here, already started, for the container's pid
fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
    print("setns failed", file=sys.stderr); sys.exit(2)
end = time.monotonic() + timeout
req = f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()
while time.monotonic() < end:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(req)
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        s.close()
        if b" 200 " in buf.split(b"\r\n", 1)[0] and expect in buf:
            print(repr(time.monotonic())); sys.exit(0)
    except OSError:
        pass
    time.sleep(0.005)
sys.exit(1)
"""


def run_until_ready(api, ref: str, probe: dict, timeout: float = 120) -> tuple[float, float, float]:
    """Create + start + probe. Returns (create+start s, start-returned -> ready s, total s).

    The prober is started first (no interpreter start-up inside the measurement) and joins the
    container's network namespace (network none: loopback only) when given its pid.
    """
    poller = subprocess.Popen(["/usr/bin/python3", "-c", POLLER, str(probe["port"]), probe.get("path", "/"),
                               probe.get("expect_body", ""), str(timeout)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05)
    cid = None
    try:
        t0 = time.monotonic()
        cid = api.create_container(ref, host_config=api.create_host_config(network_mode="none"))["Id"]
        api.start(cid)
        t1 = time.monotonic()
        pid = api.inspect_container(cid)["State"]["Pid"]
        out, errs = poller.communicate(f"{pid}\n", timeout=timeout + 10)
        if poller.returncode != 0:
            logs = api.logs(cid, tail=5).decode(errors="replace")
            raise RuntimeError(f"{ref}: probe never passed ({errs.strip()[:200]}; logs: {logs[-300:]})")
        t_ready = float(out.strip())
        return t1 - t0, t_ready - t1, t_ready - t0
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait()
        if cid:
            api.remove_container(cid, force=True)


@dataclass
class Point:
    image: str
    variant: str
    rate: int | None  # Mbit/s (None: unshaped, through the delay proxy)
    rtt_ms: float = 0.0
    pulls: list[float] = field(default_factory=list)
    create_start: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    dl_phase: list[float] = field(default_factory=list)  # last Download complete
    unpack_tail: list[float] = field(default_factory=list)  # total pull - last download complete
    predicted: dict = field(default_factory=dict)

    @property
    def pull(self) -> float:
        return statistics.median(self.pulls)

    @property
    def start(self) -> float:
        return statistics.median(self.starts)

    @property
    def total(self) -> float:
        return statistics.median([p + s for p, s in zip(self.pulls, self.starts)])


def measure_point(api, addr: str, repo_tag: str, probe: dict, reps: int, pt: Point) -> None:
    ref = f"{addr}/{repo_tag}"
    digests = [l["digest"] for l in _manifest(addr, repo_tag)["layers"]]
    for _ in range(reps):
        C.remove_image(api, ref)
        timing = C.timed_pull(api, ref, digests)
        if timing.error:
            raise RuntimeError(f"{ref}: pull failed: {timing.error}")
        cs, _ready, total_start = run_until_ready(api, ref, probe)
        pt.create_start.append(cs)
        pt.pulls.append(timing.total)
        pt.starts.append(total_start)
        last_dl = max(l["dl_end"] or 0 for l in timing.layers)
        pt.dl_phase.append(last_dl)
        pt.unpack_tail.append(timing.total - last_dl)
        C.remove_image(api, ref)
    log(f"  {repo_tag} @ {pt.rate or '-'} Mbit/s rtt {pt.rtt_ms:g} ms: pull {pt.pull:.2f} s "
        f"(runs {', '.join(f'{x:.2f}' for x in pt.pulls)}), start {pt.start:.2f} s "
        f"(create+start {statistics.median(pt.create_start):.3f} s)")


def _manifest(addr: str, repo_tag: str) -> dict:
    import requests

    repo, tag = repo_tag.split(":")
    r = requests.get(f"http://{addr}/v2/{repo}/manifests/{tag}",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=30)
    r.raise_for_status()
    return r.json()


def warm_ready(api, addr: str, repo_tag: str, probe: dict, n: int = 3) -> float:
    """App time from container start to probe success, image local (what a trace records)."""
    ref = f"{addr}/{repo_tag}"
    C.remove_image(api, ref)
    t = C.timed_pull(api, ref, [])
    if t.error:
        raise RuntimeError(f"{ref}: pull failed: {t.error}")
    vals = [run_until_ready(api, ref, probe)[1] for _ in range(n)]
    C.remove_image(api, ref)
    return statistics.median(vals)


# ------------------------------------------------------------------- predict


def link_profile(mbit: float | None, rtt_ms: float, dirpath: Path) -> str:
    """A registry profile for the lab link (written as YAML, loaded like a user's)."""
    name = f"lab-{int(mbit) if mbit else 'open'}mbit-{rtt_ms:g}ms"
    doc = {
        "kind": "registry", "name": name,
        "description": "lab registry behind a veth pair shaped by tc tbf (plain HTTP, no auth)",
        "network": {"rtt_ms": max(rtt_ms, 0.05), "per_connection_mbps": mbit or 20000, "aggregate_mbps": mbit or 20000,
                    # tbf meters whole frames: payload 1448 of 1514 bytes (TCP timestamps on)
                    "goodput": 0.956 if mbit else 1.0,
                    # the proxy terminates TCP on loopback: no slow start across the emulated path
                    "initcwnd_segments": 10 if not rtt_ms else 1e9},
        "connection": {"tls": False},
        "api": {"server_ms": 1, "ping": True, "auth": "none", "manifest_requests": 1, "blob_redirect": False},
    }
    import yaml

    path = dirpath / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def predict(addr: str, repo_tag: str, host: str, link: str, ready: float) -> dict:
    from imgopt.image.sources import SourceOptions
    from imgopt.simulate import api as A

    req = A.Request(images=[f"docker://{addr}/{repo_tag}"], registries=[P.load("registry", link)],
                    clients=[P.load("client", "docker")], host=P.load("host", host), ready_time=ready,
                    source_opts=SourceOptions(insecure=True))
    r = A.run(req)[0]
    dl_end = max((t["end"] for t in r.timeline if t["task"].endswith("download")), default=0.0)
    return {"pull": r.pull, "start": r.start, "total": r.total, "dl_phase": dl_end,
            "breakdown": r.breakdown, "compressed": r.bytes_downloaded}


# -------------------------------------------------------------------- report


def err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def write_report(path: Path, points: list[Point], host_yaml: str, meta: dict) -> dict:
    rows = []
    pull_errs, total_errs = [], []
    for p in points:
        ep, et = err(p.predicted["pull"], p.pull), err(p.predicted["total"], p.total)
        if not p.rtt_ms:
            pull_errs.append(abs(ep))
            total_errs.append(abs(et))
        rows.append((p, ep, et))
    med_pull = statistics.median(pull_errs) if pull_errs else float("nan")
    med_total = statistics.median(total_errs) if total_errs else float("nan")
    L = []
    L.append("# Simulator validation: predicted vs measured cold pull + start\n")
    L.append(f"Generated by `scripts/validate_simulator.py` on {meta['date']} ({meta['machine']}); "
             f"{meta['reps']} cold pulls per point, medians.\n")
    L.append("## Result\n")
    L.append(f"- **Median absolute error, pull: {100 * med_pull:.1f} %** over {len(pull_errs)} points "
             f"(image x variant x rate); **total (pull + start): {100 * med_total:.1f} %**. Goal: <= 15 %.")
    worst = max(rows, key=lambda r: abs(r[1])) if rows else None
    if worst:
        p = worst[0]
        L.append(f"- Worst pull point: {p.image} [{p.variant}] at {p.rate or '-'} Mbit/s "
                 f"rtt {p.rtt_ms:g} ms: {100 * worst[1]:+.1f} %.")
    L.append("")
    L.append("## Setup\n")
    L.append("- Registry: Debian `docker-registry` (distribution 2.8) in network namespace `imgopt-sim`, "
             f"veth pair {HOST_IP} <-> {NS_IP}, `tc tbf` on the namespace side's egress (the pull direction).")
    L.append("- Client: a second `dockerd` (Docker 20.10.24, overlay2, own data-root and managed containerd, "
             "registry insecure, no `unpigz` on PATH so layers inflate with Go's compress/gzip).")
    L.append("- Images: the fixture apps, layers gzip-6 as pushed; `slim` = the same with docs, man pages, "
             "locales and apt lists removed (a stand-in for `imgopt slim`, which does not exist yet).")
    L.append("- Measured pull: `POST /images/create` until the progress stream ends (cold: image and layers "
             "removed before each pull). Measured start: container create + start + HTTP probe passing, "
             "polled from inside the container's network namespace every 5 ms.")
    L.append("- Predicted: `imgopt simulate` with client `docker`, the host profile below "
             "(`imgopt calibrate` on the lab daemon) and a registry profile of the link (rate x goodput 0.956, "
             "RTT 0.05 ms, plain HTTP, no auth, no redirect). The app's ready time (start -> probe) is measured "
             "warm once per image, standing in for `imgopt trace`'s ready_time, so the start column checks the "
             "container create/start terms, not the app.\n")
    L.append("## Per point\n")
    L.append("| image | variant | link | gz MB | measured pull s | predicted pull s | pull err | "
             "measured dl s | predicted dl s | measured start s | predicted start s | total err |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p, ep, et in rows:
        link = f"{p.rate} Mbit/s"
        if p.rtt_ms:
            link += f", RTT {p.rtt_ms:g} ms (proxy)"
        L.append(f"| {p.image} | {p.variant} | {link} | {p.predicted['compressed'] / 1e6:.1f} | "
                 f"{p.pull:.2f} ({min(p.pulls):.2f}-{max(p.pulls):.2f}) | {p.predicted['pull']:.2f} | "
                 f"{100 * ep:+.1f} % | {statistics.median(p.dl_phase):.2f} | {p.predicted['dl_phase']:.2f} | "
                 f"{p.start:.2f} | {p.predicted['start']:.2f} | {100 * et:+.1f} % |")
    L.append("")
    by_rate: dict = {}
    for p, ep, _ in rows:
        by_rate.setdefault((p.rate, p.rtt_ms), []).append(ep)
    L.append("## Error by link\n")
    L.append("| link | points | median pull err | median abs pull err |")
    L.append("|---|---:|---:|---:|")
    for (rate, rtt), es in sorted(by_rate.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0)):
        link = f"{rate} Mbit/s" + (f", RTT {rtt:g} ms (proxy)" if rtt else "")
        L.append(f"| {link} | {len(es)} | {100 * statistics.median(es):+.1f} % | "
                 f"{100 * statistics.median(abs(e) for e in es):.1f} % |")
    L.append("")
    L.append("## Host profile used (from `imgopt calibrate` on the lab daemon)\n")
    L.append("```yaml")
    L.append("\n".join(l for l in host_yaml.splitlines() if not l.startswith("  unpack_s") and l.strip()
                       and not l.startswith("    - ")))
    L.append("```\n")
    L.append(meta.get("notes", ""))
    path.write_text("\n".join(L) + "\n")
    return {"median_abs_pull_err": med_pull, "median_abs_total_err": med_total}


# ---------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default="sample,nginx,pyweb,nodeweb,javaweb")
    ap.add_argument("--variants", default="full,slim")
    ap.add_argument("--rates", default="50,200,1000", help="Mbit/s for tc tbf")
    ap.add_argument("--rtt", default="", help="RTTs in ms to check through the delay proxy (e.g. 20,50)")
    ap.add_argument("--rtt-images", default="sample,nginx")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--calib-reps", type=int, default=5)
    ap.add_argument("--report", default=str(ROOT / "reports" / "simulator-validation.md"))
    ap.add_argument("--json", default=None, help="Also write the raw points as JSON here.")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--host-out", default="/tmp/imgopt-lab-host.yaml", help="Also copy the calibrated host profile here.")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("validate_simulator: needs root (network namespaces, tc, a second dockerd)", file=sys.stderr)
        return 2
    for tool in ("ip", "tc", "dockerd", "docker-registry", "nsenter"):
        if not shutil.which(tool):
            print(f"validate_simulator: {tool} is not installed", file=sys.stderr)
            return 2
    images = [x for x in a.images.split(",") if x]
    variants = [x for x in a.variants.split(",") if x]
    rates = [int(x) for x in a.rates.split(",") if x]
    rtts = [float(x) for x in a.rtt.split(",") if x]
    result = run_validation(images, variants, rates, rtts, [x for x in a.rtt_images.split(",") if x], a.reps,
                            a.calib_reps, None if a.no_report else Path(a.report), a.json, a.host_out)
    print(json.dumps(result, indent=1))
    return 0


def run_validation(images, variants, rates, rtts, rtt_images, reps, calib_reps, report: Path | None,
                   json_out: str | None = None, host_out: str | None = None) -> dict:
    import docker

    tmp = Path(tempfile.mkdtemp(prefix="imgopt-validate-"))
    points: list[Point] = []
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with Lab() as lab:
            client = docker.DockerClient(base_url=SOCK, timeout=900)
            api = client.api
            lab.shape(1000)
            log("calibrating the lab daemon")
            host_path = tmp / "host.yaml"
            C.run_calibration(C.CalibrateOptions(output=str(host_path), docker_host=SOCK, reps=calib_reps,
                                                 name="lab"), log=log)
            if host_out:
                shutil.copy(host_path, host_out)
            refs: dict[tuple[str, str], str] = {}
            ready: dict[tuple[str, str], float] = {}
            for img in images:
                for v in variants:
                    log(f"pushing {img}:{v}")
                    refs[(img, v)] = push_app(REG_ADDR, img, v)
                    ready[(img, v)] = warm_ready(api, REG_ADDR, refs[(img, v)], app_probe(img))
                    log(f"  warm ready time {ready[(img, v)]:.3f} s")
            for rate in rates:
                lab.shape(rate)
                link = link_profile(rate, 0.0, tmp)
                for img in images:
                    for v in variants:
                        pt = Point(img, v, rate)
                        measure_point(api, REG_ADDR, refs[(img, v)], app_probe(img), reps, pt)
                        pt.predicted = predict(REG_ADDR, refs[(img, v)], str(host_path), link, ready[(img, v)])
                        log(f"    predicted pull {pt.predicted['pull']:.2f} s ({100 * err(pt.predicted['pull'], pt.pull):+.1f} %)")
                        points.append(pt)
            if rtts:
                lab.shape(RTT_RATE)
                for rtt in rtts:
                    with DelayProxy((NS_IP, 5000), rtt / 1e3) as proxy:
                        link = link_profile(RTT_RATE, rtt, tmp)
                        for img in rtt_images:
                            v = variants[0]
                            pt = Point(img, v, RTT_RATE, rtt)
                            measure_point(api, proxy.addr, refs[(img, v)], app_probe(img), reps, pt)
                            pt.predicted = predict(REG_ADDR, refs[(img, v)], str(host_path), link, ready[(img, v)])
                            log(f"    predicted pull {pt.predicted['pull']:.2f} s "
                                f"({100 * err(pt.predicted['pull'], pt.pull):+.1f} %)")
                            points.append(pt)
            client.close()
        host_yaml = host_path.read_text()
        meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{os.cpu_count()} cores, shared", "reps": reps}
        summary = {}
        if report is not None:
            summary = write_report(report, points, host_yaml, meta)
        else:
            es = [abs(err(p.predicted["pull"], p.pull)) for p in points]
            summary = {"median_abs_pull_err": statistics.median(es) if es else None}
        if json_out:
            Path(json_out).write_text(json.dumps([p.__dict__ for p in points], indent=1, default=str))
        summary["points"] = [{"image": p.image, "variant": p.variant, "rate": p.rate, "rtt_ms": p.rtt_ms,
                              "measured_pull": p.pull, "predicted_pull": p.predicted["pull"],
                              "measured_total": p.total, "predicted_total": p.predicted["total"]} for p in points]
        return summary
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
