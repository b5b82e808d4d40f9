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
app image gzip'd (and its "slim" variant: the output of `imgopt slim`, verified
against the app's probe) to the lab registry; measure each app's warm ready time
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

from imgopt.proc import stop_process  # noqa: E402
from imgopt.simulate import calibrate as C  # noqa: E402
from imgopt.simulate import steal  # noqa: E402
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
        for proc in (self.dockerd, self.registry):
            stop_process(proc, 30)
        self.dockerd = self.registry = None
        if stale:  # a previous run that died: stop what its pid files name (our own daemon only)
            pidf = RUN / "docker.pid"
            if pidf.exists():
                # the pid may be long gone (or reused): any OSError means "nothing of ours to stop"
                with contextlib.suppress(ValueError, OSError):
                    pid = int(pidf.read_text().strip())
                    if "imgopt-sim" in Path(f"/proc/{pid}/cmdline").read_text():
                        os.kill(pid, signal.SIGTERM)
                        for _ in range(60):
                            if not Path(f"/proc/{pid}").exists():
                                break
                            time.sleep(0.5)
                with contextlib.suppress(OSError):
                    pidf.unlink()
            # a registry still running in our namespace
            p = sh("ip", "netns", "pids", NS, check=False)
            for pid in p.stdout.split():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), signal.SIGTERM)
        sh("ip", "link", "del", VETH_H, check=False)
        sh("ip", "netns", "del", NS, check=False)
        if not self.keep_data:
            # overlay mounts are gone once dockerd stopped; remove its state
            for d in (STATE / "docker", RUN / "exec", STATE / "registry"):
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
    usable = [p for p in probes if p.get("type") == "http"] or [p for p in probes if p.get("type") == "exit"]
    if not usable:
        raise SystemExit(f"{name}: no HTTP or exit probe (TCP-only apps are not supported by this validation)")
    return usable[0]


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


def slim_archive(name: str) -> str:
    """The app slimmed by `imgopt slim` (verified in the native sandbox), uncompressed layers."""
    out = Path(tempfile.gettempdir()) / f"imgopt-sim-slim-{name}.tar"
    if out.exists():
        return str(out)
    src = str(app_archive(name)) if name != "sample" else str(ROOT / "fixtures" / "sample.tar")
    probe = ROOT / "fixtures" / "sample" / "probe.yaml" if name == "sample" else \
        ROOT / "fixtures" / "apps" / name / "probe.json"
    imgopt = str(Path(sys.executable).parent / "imgopt")
    subprocess.run([imgopt, "slim", src, "--probe", str(probe), "--verify", "native", "--compress", "none", "-q",
                    "-o", f"docker-archive:{out}"], check=True, stdout=subprocess.DEVNULL)
    return str(out)


def prepare_image(name: str, variant: str) -> list[C.SynthLayer]:
    """The app's layers, gzip-6 (zlib-ng) as a push writes them; slim: `imgopt slim`'s output
    (debloat: the older stand-in that only drops docs, man pages, locales and apt lists)."""
    from zlib_ng import gzip_ng

    from imgopt.image.transports import open_image

    layers = []
    ref = slim_archive(name) if variant == "slim" else str(app_archive(name))
    with open_image(ref) as img:
        for layer in img.layers:
            with layer.open_tar() as f:
                t = f.read()
            if variant == "debloat":
                t = _slim_tar(t)
            blob = gzip_ng.compress(t, compresslevel=6, mtime=0)
            layers.append(C.SynthLayer(t, blob, C.OCI_LAYER + "+gzip", 0, 0))
        cfg = img.config.raw
    return layers, cfg


_PREPARED: dict[tuple[str, str], tuple[list, dict]] = {}


def push_app(addr: str, name: str, variant: str, salt: str | None = None) -> str:
    """Push the app (salted: a fresh copy whose pull is cold without deleting anything). Returns repo:tag."""
    if (name, variant) not in _PREPARED:
        _PREPARED[(name, variant)] = prepare_image(name, variant)
    layers, cfg = _PREPARED[(name, variant)]
    tag = variant
    if salt:
        layers = [l.salted(f"{salt}-{k}") for k, l in enumerate(layers)]
        tag = f"{variant}-{salt}"
    repo = f"imgopt-sim/{name}"
    C.push(addr, repo, tag, layers, config=cfg, insecure=True)  # imgopt's registry client; the lab's is plain HTTP
    return f"{repo}:{tag}"


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
    container's network namespace (network none: loopback only) when given its pid.  A job
    (an ``exit`` probe) is ready when it has exited with the expected code and output.
    """
    if probe.get("type") == "exit":
        return _run_job(api, ref, probe, timeout)
    return probe_until_ready(ref, probe, timeout, _started_pid(api, ref))


def probe_until_ready(ref: str, probe: dict, timeout: float, started) -> tuple[float, float, float]:
    """The HTTP probe of `run_until_ready`, for any engine: the poller starts, then ``started`` (a context
    manager that starts the container and yields its pid, the time before create, the time start returned
    and a function giving its last output) is entered; (create+start s, start-returned -> ready s, total s)."""
    poller = subprocess.Popen(["/usr/bin/python3", "-c", POLLER, str(probe["port"]), probe.get("path", "/"),
                               probe.get("expect_body", ""), str(timeout)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05)
    try:
        with started as (pid, t0, t1, logs):
            out, errs = poller.communicate(f"{pid}\n", timeout=timeout + 10)
            if poller.returncode != 0:
                raise RuntimeError(f"{ref}: probe never passed ({errs.strip()[:200]}; logs: {logs()[-300:]})")
            t_ready = float(out.strip())
            return t1 - t0, t_ready - t1, t_ready - t0
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait()


@contextlib.contextmanager
def _started_pid(api, ref: str):
    with _started(api, ref) as (cid, t0, t1):
        yield (api.inspect_container(cid)["State"]["Pid"], t0, t1,
               lambda: api.logs(cid, tail=5).decode(errors="replace"))


@contextlib.contextmanager
def _started(api, ref: str):
    """Create (``--network none``) and start a container of ``ref``: (id, before create, start returned);
    removed afterwards."""
    cid = None
    try:
        t0 = time.monotonic()
        cid = api.create_container(ref, host_config=api.create_host_config(network_mode="none"))["Id"]
        api.start(cid)
        yield cid, t0, time.monotonic()
    finally:
        if cid:
            api.remove_container(cid, force=True)


def _run_job(api, ref: str, probe: dict, timeout: float) -> tuple[float, float, float]:
    with _started(api, ref) as (cid, t0, t1):
        code = api.wait(cid, timeout=probe.get("timeout", timeout))["StatusCode"]
        t_done = time.monotonic()
        out = api.logs(cid).decode(errors="replace")
        if code != probe.get("expect_exit", 0) or probe.get("expect_output", "") not in out:
            raise RuntimeError(f"{ref}: job exited {code}, expected {probe.get('expect_exit', 0)} with "
                               f"{probe.get('expect_output', '')!r} (output: {out[-300:]})")
        return t1 - t0, t_done - t1, t_done - t0


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
    layer_unpack: list[list] = field(default_factory=list)  # per rep: each layer's unpack s (calibrate's definition)
    steal: list[float] = field(default_factory=list)  # per rep: share of CPU time stolen during pull + start
    retries: int = 0  # measurements taken again because the hypervisor stole too much
    predicted: dict = field(default_factory=dict)  # with the host profile calibrated once, up front
    predicted_block: dict = field(default_factory=dict)  # with the profile re-calibrated before this link's block

    @property
    def pull(self) -> float:
        return statistics.median(self.pulls)

    @property
    def start(self) -> float:
        return statistics.median(self.starts)

    @property
    def total(self) -> float:
        return statistics.median([p + s for p, s in zip(self.pulls, self.starts)])


def engine_pull(api, ref: str, digests: list[str]) -> C.PullTiming:
    """A timed cold pull by the lab's dockerd (``api``) or by another engine with a ``timed_pull``
    (`lab_containerd.Ctr`)."""
    return api.timed_pull(ref) if hasattr(api, "timed_pull") else C.timed_pull(api, ref, digests)


def engine_run(api, ref: str, probe: dict) -> tuple[float, float, float]:
    return api.run_until_ready(ref, probe) if hasattr(api, "run_until_ready") else run_until_ready(api, ref, probe)


def measure_point(api, addr: str, repo_tag: str, probe: dict, reps: int, pt: Point, push_addr: str = REG_ADDR) -> None:
    """``reps`` cold pulls + runs, each of a freshly salted copy (nothing deleted before a pull);
    ``api``: the lab dockerd's, or another engine's (see `engine_pull`)."""
    img, variant = repo_tag.split("/", 1)[1].split(":")
    for k in range(reps):
        best = None
        for attempt in range(steal.ATTEMPTS):  # taken again while the hypervisor steals the CPU
            rt = push_app(push_addr, img, variant, salt=f"p{time.time_ns()}")
            ref = f"{addr}/{rt}"
            digests = [l["digest"] for l in _manifest(push_addr, rt)["layers"]]
            C.quiesce()
            with steal.StealMeter() as meter:
                timing = engine_pull(api, ref, digests)
                if timing.error:
                    raise RuntimeError(f"{ref}: pull failed: {timing.error}")
                cs, _ready, total_start = engine_run(api, ref, probe)
            if best is None or meter.fraction < best[0]:
                best = (meter.fraction, timing, cs, total_start)
            if steal.quiet(meter.fraction):
                break
            pt.retries += 1
            log(f"  {repo_tag}: {100 * meter.fraction:.0f} % of the CPU stolen during pull + start: measuring again")
        stolen, timing, cs, total_start = best
        pt.steal.append(round(stolen, 4))
        pt.create_start.append(cs)
        pt.pulls.append(timing.total)
        pt.starts.append(total_start)
        last_dl = max(l["dl_end"] or 0 for l in timing.layers)
        pt.dl_phase.append(last_dl)
        pt.unpack_tail.append(timing.total - last_dl)
        pt.layer_unpack.append([None if u is None else round(u, 4) for u in C.unpack_durations(timing)])
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
    """App time from container start to probe success, image local (what a trace records).

    The image stays (deleting it would slow the next pulls down: see `C.SynthLayer.salted`).
    """
    ref = f"{addr}/{repo_tag}"
    t = engine_pull(api, ref, [])
    if t.error:
        raise RuntimeError(f"{ref}: pull failed: {t.error}")
    vals = [engine_run(api, ref, probe)[1] for _ in range(n)]
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
        "connection": {"tls": False, "https_probe": True},  # dockerd tries TLS first on an insecure registry
        "api": {"server_ms": 1, "ping": True, "auth": "none", "blob_redirect": False},
    }
    import yaml

    path = dirpath / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def predict(addr: str, repo_tag: str, host: str, link: str, ready: float, client: str = "docker") -> dict:
    from imgopt.image.transports import SourceOptions
    from imgopt.simulate import api as A

    opts = A.SimulateOptions(registries=[link], clients=[client], host=host, ready_time=ready)
    r = A.simulate_images(f"docker://{addr}/{repo_tag}", opts, source=SourceOptions(insecure=True)).results[0]
    dl_end = max((t["end"] for t in r.timeline if t["task"].endswith("download")), default=0.0)
    unpack = {t["layer"]: round(t["busy"], 4) for t in r.timeline if t["task"].endswith("decompress+extract")}
    return {"pull": r.pull, "start": r.start, "total": r.total, "dl_phase": dl_end,
            "breakdown": r.breakdown, "compressed": r.bytes_downloaded,
            "layer_unpack": [unpack.get(i) for i in sorted(unpack)]}


# -------------------------------------------------------------------- report


def err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def _med(xs):
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def write_report(path: Path, points: list[Point], host_yaml: str, meta: dict) -> dict:
    bw = [p for p in points if not p.rtt_ms]
    rt = [p for p in points if p.rtt_ms]
    has_block = all(p.predicted_block for p in points) and points

    def e(p, key="predicted", what="pull"):
        meas = {"pull": p.pull, "total": p.total, "start": p.start}[what]
        return err(getattr(p, key)[what], meas)

    summary = {
        "points": len(bw),
        "median_abs_pull_err": _med(abs(e(p)) for p in bw),
        "median_abs_total_err": _med(abs(e(p, what="total")) for p in bw),
        "median_abs_pull_err_rtt": _med(abs(e(p)) for p in rt),
    }
    if has_block:
        summary["median_abs_pull_err_recalibrated"] = _med(abs(e(p, "predicted_block")) for p in bw)
        summary["median_abs_total_err_recalibrated"] = _med(abs(e(p, "predicted_block", "total")) for p in bw)
        summary["median_abs_pull_err_rtt_recalibrated"] = _med(abs(e(p, "predicted_block")) for p in rt)
    pc = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    L = ["# Simulator validation: predicted vs measured cold pull + start\n",
         f"Generated by `scripts/validate_simulator.py` on {meta['date']} ({meta['machine']}); "
         f"{meta['reps']} cold pulls per point, medians.\n",
         "Re-run (root, ~17 min): `.venv/bin/python scripts/validate_simulator.py --rtt 20,50` "
         "(tears its lab down afterwards).\n", "## Result\n"]
    stolen = [x for p in points for x in p.steal]
    if stolen:
        L.append(f"CPU steal during the kept measurements: median {pc(statistics.median(stolen))}, max "
                 f"{pc(max(stolen))}; {sum(p.retries for p in points)} taken again for more than "
                 f"{100 * steal.QUIET:.0f} % (at most {steal.ATTEMPTS} attempts, the least-stolen kept).\n")
    L.append(f"Bandwidth points (tc tbf, {len(bw)} = image x variant x rate):\n")
    L.append("| host profile used for the prediction | median abs error, pull | median abs error, pull + start |")
    L.append("|---|---:|---:|")
    L.append(f"| calibrated once, before all measurements (what a user does) | {pc(summary['median_abs_pull_err'])} | "
             f"{pc(summary['median_abs_total_err'])} |")
    if has_block:
        L.append(f"| re-calibrated right before each link's block (tracks the shared machine's drift) | "
                 f"{pc(summary['median_abs_pull_err_recalibrated'])} | "
                 f"{pc(summary['median_abs_total_err_recalibrated'])} |")
    if rt:
        L.append(f"\nRTT points (delay proxy, {len(rt)}): median abs pull error "
                 f"{pc(summary['median_abs_pull_err_rtt'])}"
                 + (f" (re-calibrated: {pc(summary['median_abs_pull_err_rtt_recalibrated'])})" if has_block else "")
                 + ".")
    L.append("\nGoal: median absolute error <= 15 %.\n")
    L.append(meta.get("notes", ""))
    L.append("## Setup\n")
    L.append("- Registry: Debian `docker-registry` (distribution 2.8) in network namespace `imgopt-sim`, "
             f"veth pair {HOST_IP} <-> {NS_IP}, `tc tbf` on the namespace side's egress (the pull direction), "
             "burst = max(64 KiB, 2 ms of traffic).")
    L.append("- Client: a second `dockerd` (Docker 20.10.24, overlay2 on ext4, own data-root and managed containerd, "
             "registry insecure, no `unpigz` on PATH so gzip inflates with Go's compress/gzip).")
    L.append("- Images: fixture apps (`fixtures/build_apps.py`) and `fixtures/sample.tar`, layers gzip-6 as a push "
             "writes them; `slim` = the output of `imgopt slim` (verified against the app's probe in the native "
             "sandbox), its layers gzip-6 too.")
    L.append("- Measured pull: `POST /images/create` until its progress stream ends. Cold: every pull is of a freshly "
             "salted copy (512 bytes appended after the tar's end as an extra gzip member: new digests, same work), "
             "pushed just before, and `sync` first, so no deletion precedes a pull, as in `imgopt calibrate` "
             "(deleting an image slows the next pulls on this ext4-with-discard disk). Measured start: container create + start "
             "(`--network none`) + the app's HTTP probe passing, polled every 5 ms from inside the container's "
             "network namespace by a prober started beforehand.")
    L.append("- Predicted: `imgopt simulate` (Python API, same code as the CLI) with client `docker`, the host "
             "profile from `imgopt calibrate` on the lab daemon, and a registry profile of the link: rate x goodput "
             "0.956 (1448/1514 B), RTT 0.05 ms (proxy points: the proxy's RTT, no slow start since the proxy "
             "terminates TCP on loopback), plain HTTP, no auth, no redirect, 1 ms server time. The app's own "
             "ready time (container started -> probe passes) is measured warm once per image and passed as "
             "`--ready-time`, standing in for `imgopt trace`; so the start column checks the container create/start "
             "terms, not the app.\n")
    L.append("## Per point\n")
    L.append("| image | variant | link | gzip MB | measured pull s (min-max) | predicted pull s | err | "
             + ("re-calibrated s | err | " if has_block else "")
             + "downloads end, measured / predicted s | measured start s | predicted start s | total err |")
    L.append("|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if has_block else "") + "---:|---:|---:|---:|")
    for p in points:
        link = f"{p.rate} Mbit/s" + (f", RTT {p.rtt_ms:g} ms" if p.rtt_ms else "")
        blk = (f"{p.predicted_block['pull']:.2f} | {100 * e(p, 'predicted_block'):+.1f} % | " if has_block else "")
        L.append(f"| {p.image} | {p.variant} | {link} | {p.predicted['compressed'] / 1e6:.1f} | "
                 f"{p.pull:.2f} ({min(p.pulls):.2f}-{max(p.pulls):.2f}) | {p.predicted['pull']:.2f} | "
                 f"{100 * e(p):+.1f} % | {blk}{_med(p.dl_phase):.2f} / {p.predicted['dl_phase']:.2f} | "
                 f"{p.start:.2f} | {p.predicted['start']:.2f} | {100 * e(p, what='total'):+.1f} % |")
    L.append("")
    L.append("## Error by link\n")
    L.append("| link | points | median pull err | median abs pull err" + (" | re-calibrated: median abs" if has_block
                                                                           else "") + " |")
    L.append("|---|---:|---:|---:|" + ("---:|" if has_block else ""))
    groups: dict = {}
    for p in points:
        groups.setdefault((p.rtt_ms, p.rate), []).append(p)
    for (rtt, rate), ps in sorted(groups.items()):
        link = f"{rate} Mbit/s" + (f", RTT {rtt:g} ms (proxy)" if rtt else "")
        L.append(f"| {link} | {len(ps)} | {100 * _med(e(p) for p in ps):+.1f} % | {pc(_med(abs(e(p)) for p in ps))}"
                 + (f" | {pc(_med(abs(e(p, 'predicted_block')) for p in ps))}" if has_block else "") + " |")
    L.append("")
    L.append("## Host profile (from `imgopt calibrate` on the lab daemon, before all measurements)\n")
    L.append("```yaml")
    keep = []
    skip = False
    for line in host_yaml.splitlines():
        if line.startswith(("  unpack_s:", "  pull_total_s:")):
            skip = True
            continue
        if skip and line.startswith("    "):
            continue
        skip = False
        keep.append(line)
    L.append("\n".join(keep))
    L.append("```\n")
    if meta.get("blocks"):
        import yaml

        L.append("Re-calibrations (same procedure, 3 pulls each) show how much the shared machine drifted:\n")
        L.append("| before | gzip MB/s | extract MB/s | per file us | per layer ms | create+start ms |")
        L.append("|---|---:|---:|---:|---:|---:|")
        d0 = yaml.safe_load(host_yaml)
        rows = [("all measurements (profile above)", d0)] + [(lbl, yaml.safe_load(t)) for lbl, t in meta["blocks"]]
        for lbl, d in rows:
            L.append(f"| {lbl} | {d['decompress_mb_s']['gzip']} | {d['extract']['mb_s']} | "
                     f"{d['extract']['per_file_us']} | {d['extract']['per_layer_ms']} | "
                     f"{d['container']['create_ms'] + d['container']['start_ms']:.0f} |")
        L.append("")
    path.write_text("\n".join(L) + "\n")
    return summary


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
    ap.add_argument("--notes", default=None, help="Markdown file whose text goes into the report's result section.")
    ap.add_argument("--no-recalibrate", action="store_true",
                    help="Predict only with the up-front calibration (no re-calibration before each link's block).")
    ap.add_argument("--host-out", default="/tmp/imgopt-lab-host.yaml", help="Also copy the calibrated host profile here.")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("validate_simulator: needs root (network namespaces, tc, a second dockerd)", file=sys.stderr)
        return 2
    for tool in ("ip", "tc", "dockerd", "docker-registry"):
        if not shutil.which(tool):
            print(f"validate_simulator: {tool} is not installed", file=sys.stderr)
            return 2
    images = [x for x in a.images.split(",") if x]
    variants = [x for x in a.variants.split(",") if x]
    rates = [int(x) for x in a.rates.split(",") if x]
    rtts = [float(x) for x in a.rtt.split(",") if x]
    result = run_validation(images, variants, rates, rtts, [x for x in a.rtt_images.split(",") if x], a.reps,
                            a.calib_reps, None if a.no_report else Path(a.report), a.json, a.host_out,
                            recal=not a.no_recalibrate, notes=a.notes)
    print(json.dumps(result, indent=1))
    return 0


def run_validation(images, variants, rates, rtts, rtt_images, reps, calib_reps, report: Path | None,
                   json_out: str | None = None, host_out: str | None = None, recal: bool = True,
                   notes: str | None = None) -> dict:
    from imgopt.image.docker_engine import docker_client

    tmp = Path(tempfile.mkdtemp(prefix="imgopt-validate-"))
    points: list[Point] = []
    old_term = signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with Lab() as lab:
            client = docker_client("lab dockerd", host=SOCK, timeout=900)
            api = client.api
            lab.shape(1000)
            refs: dict[tuple[str, str], str] = {}
            ready: dict[tuple[str, str], float] = {}
            for img in images:
                for v in variants:
                    log(f"pushing {img}:{v}")
                    refs[(img, v)] = push_app(REG_ADDR, img, v)
                    ready[(img, v)] = warm_ready(api, REG_ADDR, refs[(img, v)], app_probe(img))
                    log(f"  warm ready time {ready[(img, v)]:.3f} s")
            log("calibrating the lab daemon")
            host_path = tmp / "host.yaml"
            C.run_calibration(C.CalibrateOptions(output=str(host_path), docker_host=SOCK, reps=calib_reps,
                                                 name="lab", cleanup=False), log=log)
            if host_out:
                shutil.copy(host_path, host_out)
            block_hosts: list[tuple[str, str]] = []

            def recalibrate(label: str) -> str:
                if not recal:
                    return str(host_path)
                path = tmp / f"host-{len(block_hosts)}.yaml"
                lab_rate = lab.rate
                lab.shape(1000)
                C.run_calibration(C.CalibrateOptions(output=str(path), docker_host=SOCK, reps=3, name="lab-block",
                                                     cleanup=False), log=lambda m: None)
                lab.shape(lab_rate)
                block_hosts.append((label, path.read_text()))
                h = P.load("host", str(path))
                log(f"  re-calibrated before {label}: per file {h.per_file * 1e6:.0f} us, extract "
                    f"{h.extract_bps / 1e6:.0f} MB/s, gzip {h.decompress('gzip') / 1e6:.0f} MB/s")
                return str(path)

            def measure_and_predict(pt: Point, addr: str, ref: str, img: str, link: str, block_host: str) -> None:
                measure_point(api, addr, ref, app_probe(img), reps, pt)
                pt.predicted = predict(REG_ADDR, ref, str(host_path), link, ready[(img, pt.variant)])
                pt.predicted_block = predict(REG_ADDR, ref, block_host, link, ready[(img, pt.variant)])
                log(f"    predicted pull {pt.predicted['pull']:.2f} s ({100 * err(pt.predicted['pull'], pt.pull):+.1f} %),"
                    f" re-calibrated {pt.predicted_block['pull']:.2f} s "
                    f"({100 * err(pt.predicted_block['pull'], pt.pull):+.1f} %); downloads end: measured "
                    f"{statistics.median(pt.dl_phase):.2f} s, predicted {pt.predicted['dl_phase']:.2f} s")
                points.append(pt)

            for rate in rates:
                lab.shape(rate)
                block_host = recalibrate(f"{rate} Mbit/s")
                link = link_profile(rate, 0.0, tmp)
                for img in images:
                    for v in variants:
                        measure_and_predict(Point(img, v, rate), REG_ADDR, refs[(img, v)], img, link, block_host)
            if rtts:
                lab.shape(RTT_RATE)
                block_host = recalibrate("the RTT runs")
                for rtt in rtts:
                    with DelayProxy((NS_IP, 5000), rtt / 1e3) as proxy:
                        link = link_profile(RTT_RATE, rtt, tmp)
                        for img in rtt_images:
                            measure_and_predict(Point(img, variants[0], RTT_RATE, rtt), proxy.addr,
                                                refs[(img, variants[0])], img, link, block_host)
            client.close()
        host_yaml = host_path.read_text()
        meta_blocks = block_hosts
        meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{os.cpu_count()} cores, shared", "reps": reps, "blocks": meta_blocks,
                "notes": Path(notes).read_text() if notes else ""}
        summary = {}
        if report is not None:
            summary = write_report(report, points, host_yaml, meta)
        else:
            summary = {"median_abs_pull_err": _med(abs(err(p.predicted["pull"], p.pull)) for p in points),
                       "median_abs_pull_err_recalibrated": _med(abs(err(p.predicted_block["pull"], p.pull))
                                                                for p in points if p.predicted_block)}
        if json_out:
            Path(json_out).write_text(json.dumps([p.__dict__ for p in points], indent=1, default=str))
        summary["points"] = [{"image": p.image, "variant": p.variant, "rate": p.rate, "rtt_ms": p.rtt_ms,
                              "measured_pull": p.pull, "predicted_pull": p.predicted["pull"],
                              "predicted_pull_recalibrated": p.predicted_block.get("pull"),
                              "measured_total": p.total, "predicted_total": p.predicted["total"],
                              "measured_dl_phase": _med(p.dl_phase), "predicted_dl_phase": p.predicted["dl_phase"]}
                             for p in points]
        return summary
    finally:
        signal.signal(signal.SIGTERM, old_term)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
