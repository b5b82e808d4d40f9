"""`imgopt calibrate --containerd SOCKET`: the host profile measured through containerd's `ctr`.

The same synthetic images as the Docker path (:func:`calibrate.synthetic_images`), pushed to a
loopback registry, but each pulled in two steps, so the unpack is timed without the download:

1. ``ctr content fetch`` brings every blob into the content store (timed: the ingest rate);
2. ``ctr images pull`` then has nothing to fetch and only unpacks; ctr prints the unpack's own
   duration (``done: 1.23s``), and that of a pull with nothing left to unpack is subtracted.

A single-layer image's unpack is its layer's; the ``layers`` image's is shared out over its
layers.  Container create and start are ``ctr containers create`` and ``ctr tasks start``.
Everything happens in a namespace of its own (``imgopt-calibrate``), removed afterwards, so the
daemon's other images are never touched.  The costs fitted from these (:func:`calibrate.fit`) are
those of containerd's own Go decompression and extraction, which differ from dockerd's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import time
from typing import Callable

from imgopt.errors import BadInput, DaemonError, NotFound
from imgopt.simulate import steal

NAMESPACE = "imgopt-calibrate"
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|μs|ns|m|s)")
_DONE = re.compile(r"^done: (\S+)\s*$", re.M)


def go_duration(text: str) -> float:
    """Seconds in a Go ``time.Duration`` string: ``1.5s``, ``850.2ms``, ``1m2.5s``, ``950µs``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


class CtrClient:
    """`ctr` against one containerd socket, in the calibration's own namespace."""

    def __init__(self, address: str, namespace: str = NAMESPACE):
        exe = shutil.which("ctr")
        if not exe:
            raise NotFound("--containerd", "ctr is not installed (it comes with containerd)")
        self.exe, self.address, self.namespace = exe, address, namespace
        path = address.removeprefix("unix://")
        if "://" not in path and not os.path.exists(path):
            raise NotFound(address, "containerd not reachable: no such socket")
        p = self.run("version", check=False, timeout=30)
        if p.returncode != 0 or "Server:" not in p.stdout:
            raise DaemonError(address, f"containerd not reachable: {(p.stderr.strip() or p.stdout.strip())[-200:]}")
        m = re.search(r"Server:.*?Version:\s*(\S+)", p.stdout, re.S)
        self.version = m.group(1) if m else "?"

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        p = subprocess.run([self.exe, "-a", self.address, "-n", self.namespace, *args], capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise DaemonError(self.address, f"ctr {' '.join(args[:2])}: {p.stderr.strip()[-300:]}")
        return p

    def fetch(self, ref: str) -> float:
        """Wall seconds of ``ctr content fetch`` (every blob into the content store)."""
        t = time.monotonic()
        self.run("content", "fetch", "--plain-http", ref)
        return time.monotonic() - t

    def unpack(self, ref: str) -> float:
        """The unpack seconds ctr reports for a pull whose blobs are all present."""
        p = self.run("images", "pull", "--plain-http", ref)
        m = _DONE.findall(p.stdout)
        if not m:
            raise DaemonError(self.address, f"ctr images pull {ref}: no 'done:' line in its output")
        return go_duration(m[-1])

    def create_start(self, ref: str, cid: str) -> tuple[float, float]:
        """(create s, start s) of a container running /true; it is removed afterwards."""
        try:
            t0 = time.monotonic()
            self.run("containers", "create", ref, cid, "/true")
            t1 = time.monotonic()
            self.run("tasks", "start", "-d", cid)
            t2 = time.monotonic()
            return t1 - t0, t2 - t1
        finally:
            for _ in range(100):
                if self.run("tasks", "rm", "-f", cid, check=False).returncode == 0:
                    break
                time.sleep(0.05)
            self.run("containers", "rm", cid, check=False)

    def remove_all(self) -> None:
        """Every image and blob of the calibration namespace (the namespace itself last)."""
        for name in self.run("images", "ls", "-q", check=False).stdout.split():
            self.run("images", "rm", "--sync", name, check=False)
        blobs = self.run("content", "ls", "-q", check=False).stdout.split()
        if blobs:
            self.run("content", "rm", *blobs, check=False)
        self.run("namespaces", "rm", self.namespace, check=False)


def run_ctr_calibration(opts, log: Callable[[str], None] = print):
    """:func:`calibrate.run_calibration` measured through ``ctr`` on ``opts.containerd``."""
    from imgopt.simulate import calibrate as C

    CtrClient(opts.containerd)  # an unreachable daemon fails before the images are built
    return C.run_calibration(opts, log, measure=ctr_calibration)


def _quiet_unpack(ctr: CtrClient, addr: str, ref: str, layers, base, noop: float, log, retried: list[str]):
    """(fetch s, unpack s, CPU steal share, layers) of ``ref``: fetched, then unpacked under a
    :class:`steal.StealMeter`; taken again on ``base`` salted anew while the hypervisor stole more than
    steal.QUIET of the CPU, at most steal.ATTEMPTS times, and the least-stolen attempt kept (as the Docker
    path does)."""
    from imgopt.simulate import calibrate as C

    best = None
    repo, _, tag = ref.removeprefix(addr + "/").rpartition(":")
    for attempt in range(steal.ATTEMPTS):
        if attempt:
            layers = [l.salted(f"retry-{time.time_ns()}-{k}") for k, l in enumerate(base)]
            C.push(addr, repo, f"{tag}-a{attempt}", layers)
            ref = f"{addr}/{repo}:{tag}-a{attempt}"
            retried.append(ref)
        C.quiesce()
        fetched = ctr.fetch(ref)
        C.quiesce()
        with steal.StealMeter() as meter:
            up = max(0.0, ctr.unpack(ref) - noop)
        if best is None or meter.fraction < best[2]:
            best = (fetched, up, meter.fraction, layers)
        if steal.quiet(meter.fraction):
            break
        log(f"calibrate: {100 * meter.fraction:.0f} % of the CPU stolen during an unpack: measuring it again")
    return best


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ctr_calibration(opts, imgs, codecs, log: Callable[[str], None]) -> tuple[dict, dict]:
    """(host profile fields, calibration record), measured through ``ctr`` on ``opts.containerd``."""
    import contextlib

    from imgopt.simulate import calibrate as C

    ctr = CtrClient(opts.containerd)
    # ctr pulls zstd: a full-size zstd copy of the binaries, so its inflate is the difference to bin-none
    bn = imgs["bin-none"][0]
    imgs = {**imgs, "bin-zstd": [C.SynthLayer(bn.tar, C._zstd(bn.tar), C.OCI_LAYER + "+zstd", bn.files, bn.entries)]}
    reg_ctx = C.TempRegistry() if opts.registry == "auto" else contextlib.nullcontext()
    with reg_ctx as reg:
        addr = reg.addr if reg is not None else opts.registry
        if not addr.startswith(("127.", "localhost")):
            raise BadInput("--registry", f"{addr}: use a loopback registry (ctr pulls it over plain HTTP)")
        salt = f"{socket.gethostname()}-{time.time_ns()}"
        measured = ("layers", "bin-none", "bin-gz", "files-gz", "bin-zstd")
        runs = []
        for rep in range(opts.reps):
            for name in measured:
                layers = [l.salted(f"{salt}-{name}-{rep}-{k}") for k, l in enumerate(imgs[name])]
                tag = f"{name}-r{rep}"
                C.push(addr, C.REPO, tag, layers)
                runs.append((name, f"{addr}/{C.REPO}:{tag}", layers))
        run_ref = f"{addr}/{C.REPO}:run"
        C.push(addr, C.REPO, "run", imgs["run"])
        obs: dict[str, list] = {k: [] for k in imgs}
        dl: list[tuple[int, float]] = []
        noops, walls, creates, starts = [], [], [], []
        stolen: list[float] = []  # each kept unpack's CPU steal
        retried: list[str] = []
        try:
            ctr.fetch(run_ref)  # warm-up (a daemon's first pull is slower), and the run image
            ctr.unpack(run_ref)
            for _ in range(3):  # a pull with nothing left to do: ctr's own fixed cost
                t = time.monotonic()
                noops.append(ctr.unpack(run_ref))
                walls.append(time.monotonic() - t)
            noop = _median(noops)
            fetch_noops = [ctr.fetch(run_ref) for _ in range(3)]
            for name, ref, layers in runs:
                fetched, up, stolen_share, layers = _quiet_unpack(ctr, addr, ref, layers, imgs[name], noop, log,
                                                                  retried)
                stolen.append(stolen_share)
                obs[name].extend([up / len(layers)] * len(layers) if name == "layers" else [up])
                if name in ("bin-none", "bin-gz"):
                    dl.append((len(layers[0].blob), max(1e-6, fetched - _median(fetch_noops))))
                log(f"calibrate: ctr {name}: fetch {fetched:.2f} s, unpack {up:.3f} s"
                    + (f" ({100 * stolen_share:.0f} % CPU steal)" if stolen_share > steal.QUIET else ""))
            noisy = sum(1 for x in stolen if x > steal.QUIET)
            if noisy:
                log(f"calibrate: warning: {noisy} of {len(stolen)} unpacks lost more than {100 * steal.QUIET:.0f} % "
                    f"of the CPU to the hypervisor ({steal.ATTEMPTS} attempts each); the profile is pessimistic: "
                    "calibrate again when the machine is quieter")
            for k in range(max(3, opts.reps)):
                c, s = ctr.create_start(run_ref, f"calib-{time.time_ns()}-{k}")
                creates.append(c)
                starts.append(s)
            log(f"calibrate: container create {1e3 * _median(creates):.0f} ms, start {1e3 * _median(starts):.0f} ms")
        finally:
            if opts.cleanup:
                ctr.remove_all()
    f = C.fit(obs, {k: v[0] for k, v in imgs.items() if k != "layers"})
    extract_bps = f["extract_bps"]
    gzip_bps = f["gzip_bps"] or codecs["gzip"]
    # no measurable difference to bin-none: inflating is (nearly) free, 10 GB/s
    zstd_bps = 1 / max(1e-10, (_median(obs["bin-zstd"]) - _median(obs["bin-none"])) / len(bn.tar))
    ingest = max(b / t for b, t in dl) if dl else 1e9
    doc = {
        "description": f"calibrated with containerd {ctr.version} through ctr (content fetch, then unpack)",
        "decompress_mb_s": {"gzip": round(gzip_bps / C.MB, 1), "zstd": round(zstd_bps / C.MB, 1)},
        "extract": {"mb_s": round(extract_bps / C.MB, 1), "per_file_us": round(f["per_file"] * 1e6, 2),
                    "per_layer_ms": round(f["per_layer"] * 1e3, 2)},
        "ingest_mb_s": round(ingest / C.MB, 1),
        "pull_overhead_ms": round(1e3 * _median(walls), 1),
        "container": {"create_ms": round(1e3 * _median(creates), 1), "start_ms": round(1e3 * _median(starts), 1)},
    }
    calib = {
        "method": "ctr content fetch, then ctr images pull (its reported unpack time) from a loopback registry",
        "containerd_version": ctr.version,
        "reps": opts.reps,
        "client_pulls_zstd": True,
        "zstd_source": "client",
        "noop_unpack_ms": round(1e3 * noop, 2),
        "cpu_steal_pct": {"median": round(100 * (_median(stolen) or 0.0), 1),
                          "max": round(100 * max(stolen, default=0.0), 1)},
        "unpack_s": {k: [round(x, 4) for x in v] for k, v in obs.items() if v},
        "layer_tar_bytes": {k: len(v[0].tar) for k, v in imgs.items()},
        "layer_entries": {k: v[0].entries for k, v in imgs.items()},
    }
    return doc, calib
