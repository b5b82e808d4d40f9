"""`imgopt calibrate`: measure this host's pull pipeline, write a host profile.

With a Docker daemon (the default) the real client is measured: small
synthetic images are pushed to a loopback registry (a temporary
``docker-registry`` unless ``--registry`` names one) and pulled cold, several
times each; the daemon's progress stream (``Download complete`` / ``Pull
complete`` per layer) is timestamped as it arrives, so each layer's unpack
time is ``Pull complete`` minus the later of its own ``Download complete``
and the previous layer's ``Pull complete``.  Images:

* ``bin-gz`` / ``bin-none``: one layer of real binaries from this host
  (``/usr/lib``), gzip and uncompressed: extraction per byte, and gzip
  decompression per byte as the difference;
* ``files-gz``: 5 000 small files copied from this host's /usr/share and /usr/lib: cost per file;
* ``layers``: many near-empty layers: cost per layer;
* ``run``: ``/bin/true`` and its libraries: container create and start;
* ``bin-zstd``: whether the client can pull zstd layers at all (Docker 20.10
  cannot); if not, zstd decompression is measured in-process.

Effective costs are fitted from these (they include the pipelining inside the
client, e.g. Go gzip in dockerd feeding docker-untar through a pipe).  With
``--no-docker`` only in-process measurements are made (Python zlib/zstd
inflate, tarfile extraction into a temporary directory).
"""

from __future__ import annotations

import datetime
import gzip as _gzip
import hashlib
import io
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import yaml

from imgopt.errors import BadInput, DaemonError, ImgoptError, NotFound
from imgopt.proc import stop_process
from imgopt.simulate import profiles as P
from imgopt.simulate import steal

if TYPE_CHECKING:
    from imgopt.image.model import Image

REPO = "imgopt-sim/calib"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MB = 1e6


@dataclass
class CalibrateOptions:
    output: str | None = None
    docker_host: str | None = None
    containerd: str | None = None  # a containerd socket: calibrate_ctr.run_ctr_calibration measures through `ctr`
    registry: str = "auto"
    use_docker: bool = True
    reps: int = 3
    payload_mb: int = 48
    name: str | None = None
    quiet: bool = False
    cleanup: bool = True  # remove the calibration images afterwards (False: leave them for the caller)


# ------------------------------------------------------------- synthetic data


def _host_binaries(limit: int) -> list[tuple[str, bytes]]:
    """Real ELF/shared-object bytes from this host, up to ``limit`` bytes."""
    out, total = [], 0
    roots = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/bin", "/usr/libexec"]
    seen = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, _dirs, names in os.walk(root):
            for n in sorted(names):
                p = os.path.join(dirpath, n)
                try:
                    if os.path.islink(p) or not os.path.isfile(p):
                        continue
                    st = os.stat(p)
                    if st.st_size < 64 << 10 or st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                    with open(p, "rb") as f:
                        data = f.read(min(st.st_size, 4 << 20, limit - total))
                except OSError:
                    continue
                out.append((f"payload/{len(out):04d}-{n}", data))
                total += len(data)
                if total >= limit:
                    return out
    if total < limit // 4:  # pragma: no cover - odd host
        import random

        rnd = random.Random(1)
        out.append(("payload/synthetic", bytes(rnd.getrandbits(8) for _ in range(limit - total))))
    return out


def _host_tree(n_files: int) -> list[tuple[str, bytes]]:
    """Up to ``n_files`` small files (< 64 KiB) from this host's /usr/share and /usr/lib trees, as found.

    Real packages' mix of sizes and directory fan-out (docs, locales, Python and Perl
    modules), so the cost per file is measured on files like those of real layers.
    """
    out: list[tuple[str, bytes]] = []
    for root in ("/usr/share", "/usr/lib/python3", "/usr/lib/python3.11", "/usr/share/perl", "/usr/lib"):
        if not os.path.isdir(root):
            continue
        for dirpath, dirs, names in os.walk(root):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(dirpath, n)
                try:
                    if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) >= 64 << 10:
                        continue
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                out.append((f"tree{p}", data))
                if len(out) >= n_files:
                    return out
    k = 0
    while len(out) < n_files:  # pragma: no cover - a bare host: synthetic small files
        out.append((f"tree/synthetic/{k // 100:03d}/f{k:05d}", os.urandom(64) * (5 + k % 40)))
        k += 1
    return out


def _tar(members: list[tuple[str, bytes]], mode: int = 0o644) -> bytes:
    from imgopt.image.mutate import tar_of

    return tar_of(members, mode=mode)


def _gz(data: bytes) -> bytes:
    return _gzip.compress(data, compresslevel=6, mtime=0)


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


@dataclass
class SynthLayer:
    tar: bytes
    blob: bytes
    media_type: str
    files: int
    entries: int
    diff_id: str | None = None  # sha256 of the uncompressed stream (default: of ``tar``)
    _tar_hash: object = None

    @property
    def digest(self) -> str:
        return _sha(self.blob)

    def diffid(self) -> str:
        return self.diff_id or _sha(self.tar)

    def salted(self, salt: str) -> "SynthLayer":
        """The same layer with 512 salt bytes after the tar's end: a new blob and diffID, same unpack work.

        gzip: the salt is a second gzip member appended to the blob (no re-compression); a
        client decompresses the whole stream and discards what follows the end-of-archive
        (Docker drains it to verify the diffID).  So every pull of a salted copy is cold
        without deleting anything first: deletions just before a pull slow it down (ext4
        online discard: measured up to 2x on the reference machine).
        """
        pad = salt.encode()[:512].ljust(512, b"\0")
        if self._tar_hash is None:
            self._tar_hash = hashlib.sha256(self.tar)
        h = self._tar_hash.copy()
        h.update(pad)
        if self.media_type.endswith("+gzip"):
            blob = self.blob + _gzip.compress(pad, compresslevel=6, mtime=0)
        elif self.media_type.endswith("+zstd"):
            blob = self.blob + _zstd(pad)
        else:
            blob = self.blob + pad
        return SynthLayer(self.tar, blob, self.media_type, self.files, self.entries, "sha256:" + h.hexdigest())


def _layer(members: list[tuple[str, bytes]], codec: str, mode: int = 0o644) -> SynthLayer:
    t = _tar(members, mode)
    entries = len(tarfile.open(fileobj=io.BytesIO(t)).getmembers())
    if codec == "gzip":
        blob, mt = _gz(t), OCI_LAYER + "+gzip"
    elif codec == "zstd":
        blob, mt = _zstd(t), OCI_LAYER + "+zstd"
    else:
        blob, mt = t, OCI_LAYER
    return SynthLayer(t, blob, mt, len(members), entries)


def _run_members() -> list[tuple[str, bytes]]:
    """/bin/true and the libraries it loads (from ldd), at their own paths."""
    true = shutil.which("true") or "/bin/true"
    paths = [os.path.realpath(true)]
    try:
        out = subprocess.run(["ldd", true], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        for tok in line.split():
            if tok.startswith("/") and os.path.exists(tok):
                paths.append(tok)
    members = []
    for p in paths:
        with open(p, "rb") as f:
            members.append((p.lstrip("/"), f.read()))
        rp = os.path.realpath(p)
        if rp != p:
            with open(rp, "rb") as f:
                members.append((rp.lstrip("/"), f.read()))
    members.append(("true", open(paths[0], "rb").read()))
    return members


def synthetic_images(payload_mb: int, salt: str) -> dict[str, list[SynthLayer]]:
    """The calibration images: name -> layers (each layer carries a salt file so no layer is shared)."""
    bins = _host_binaries(payload_mb * (1 << 20))
    small = _host_tree(5000)
    def salted(members, tag):
        return members + [(f"salt-{tag}", f"{salt}-{tag}".encode())]

    imgs = {
        "bin-gz": [_layer(salted(bins, "bg"), "gzip")],
        "bin-none": [_layer(salted(bins, "bn"), "none")],
        "files-gz": [_layer(salted(small, "fg"), "gzip")],
        "layers": [_layer(salted([(f"l{k}/x", b"x" * 100)], f"l{k}"), "gzip") for k in range(10)],
        "run": [_layer(salted(_run_members(), "run"), "gzip", mode=0o755)],
        "bin-zstd": [_layer(salted(bins[: max(1, len(bins) // 8)], "bz"), "zstd")],
    }
    return imgs


# ---------------------------------------------------------------- registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempRegistry:
    """A docker-registry (distribution) on a free loopback port, storage in a temp dir."""

    def __init__(self):
        exe = shutil.which("docker-registry") or shutil.which("registry")
        if not exe:
            raise NotFound("--registry auto", "docker-registry is not installed; install it or pass --registry "
                                              "127.0.0.1:PORT of a running registry")
        self.exe = exe
        self.dir = tempfile.mkdtemp(prefix="imgopt-calib-reg-")
        self.port = _free_port()
        self.addr = f"127.0.0.1:{self.port}"
        cfg = {"version": 0.1, "log": {"level": "error"},
               "storage": {"filesystem": {"rootdirectory": f"{self.dir}/data"}, "delete": {"enabled": True}},
               "http": {"addr": self.addr}}
        with open(f"{self.dir}/config.yml", "w") as f:
            yaml.safe_dump(cfg, f)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "TempRegistry":
        from imgopt.image.registry_client import RegistryClient

        self.proc = subprocess.Popen([self.exe, "serve", f"{self.dir}/config.yml"], stdout=subprocess.DEVNULL,
                                     stderr=open(f"{self.dir}/log", "w"))
        for _ in range(100):
            client = RegistryClient(self.addr, REPO, timeout=(1.0, 1.0))
            try:
                client.base_url  # GET /v2/ answered
                return self
            except ImgoptError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
            finally:
                client.close()
        self.__exit__()
        raise ImgoptError("--registry auto", "temporary docker-registry did not start")

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def synthetic_image(name: str, layers: list[SynthLayer], config: dict | None = None) -> Image:
    """An OCI image of ``layers`` (bytes in memory); its config is ``config`` (diff_ids set), else one running /true."""
    from imgopt.image import mediatypes as mt
    from imgopt.image.model import Descriptor, Manifest, Platform, build_image, canonical_json, descriptor_for

    if config is None:
        config = {"architecture": Platform.host().architecture, "os": "linux", "config": {"Cmd": ["/true"]},
                  "history": [{"created_by": "imgopt calibrate"} for _ in layers]}
    config = {**config, "rootfs": {"type": "layers", "diff_ids": [l.diffid() for l in layers]}}
    cfg = canonical_json(config)
    man = Manifest(mt.OCI_MANIFEST, descriptor_for(cfg, mt.OCI_CONFIG),
                   [Descriptor(l.media_type, l.digest, len(l.blob)) for l in layers])
    blobs = {l.digest: l.blob for l in layers}
    return build_image(name, canonical_json(man.to_json()), cfg, lambda d: io.BytesIO(blobs[d.digest]))


def push(addr: str, repo: str, tag: str, layers: list[SynthLayer], config: dict | None = None, *,
         insecure: bool = False) -> str:
    """Push an OCI image of ``layers`` (see :func:`synthetic_image`) to the registry ``addr``; its manifest digest.

    ``insecure``: plain HTTP to a registry that is not on loopback (a lab's own network namespace).
    """
    from imgopt.image.transports import SinkOptions, write_image

    ref = f"docker://{addr}/{repo}:{tag}"
    with synthetic_image(ref, layers, config) as img:
        return write_image(img, ref, SinkOptions(compress="keep", insecure=insecure)).manifest_digest


# ------------------------------------------------------------------- pulls


@dataclass
class PullTiming:
    total: float
    first_event: float  # first layer event since the request
    layers: list[dict]  # per layer (manifest order): dl_start, dl_end, done
    error: str | None = None
    steal: float = 0.0  # share of CPU time the hypervisor stole during the pull (see steal.py)


def timed_pull(api, ref: str, layer_digests: list[str], timeout: float = 3600) -> PullTiming:
    """Pull through the daemon API, timestamping progress messages; times relative to the request."""
    repo, _, tag = ref.rpartition(":")
    short = [d.split(":", 1)[1][:12] for d in layer_digests]
    ev: dict[str, dict[str, float]] = {s: {} for s in short}
    t0 = time.monotonic()
    first = None
    err = None
    with steal.StealMeter() as meter:
        for msg in api.pull(repo, tag=tag, stream=True, decode=True):
            now = time.monotonic() - t0
            if "error" in msg:
                err = msg["error"]
                break
            lid = msg.get("id")
            st = msg.get("status", "")
            if lid in ev:
                first = now if first is None else first
                e = ev[lid]
                key = {"Pulling fs layer": "queued", "Downloading": "dl_start", "Verifying Checksum": "verify",
                       "Download complete": "dl_end", "Extracting": "ex_first", "Pull complete": "done",
                       "Already exists": "exists"}.get(st)
                if key and key not in e:
                    e[key] = now
    total = time.monotonic() - t0
    layers = []
    for s in short:
        e = ev[s]
        layers.append({"queued": e.get("queued"), "dl_start": e.get("dl_start", e.get("queued")),
                       "dl_end": e.get("dl_end", e.get("verify")), "ex_first": e.get("ex_first"),
                       "done": e.get("done"), "exists": "exists" in e})
    return PullTiming(total, first or 0.0, layers, err, meter.fraction)


def _quiet_pull(api, addr: str, ref: str, layers: list[SynthLayer], base: list[SynthLayer], log,
                pushed: list[str]) -> tuple[PullTiming, list[SynthLayer]]:
    """A cold pull of ``ref`` (``layers``: ``base`` salted), taken again while the hypervisor stole more than
    steal.QUIET of the CPU, at most steal.ATTEMPTS times, each time on ``base`` salted anew (its ref added
    to ``pushed``); the least-stolen attempt is kept.  Nothing is deleted in between: a deletion slows the
    next pull down."""
    best: tuple[PullTiming, list[SynthLayer]] | None = None
    repo, _, tag = ref.removeprefix(addr + "/").rpartition(":")
    for attempt in range(steal.ATTEMPTS):
        if attempt:
            layers = [l.salted(f"retry-{time.time_ns()}-{k}") for k, l in enumerate(base)]
            push(addr, repo, f"{tag}-a{attempt}", layers)
            ref = f"{addr}/{repo}:{tag}-a{attempt}"
            pushed.append(ref)
        quiesce()
        pt = timed_pull(api, ref, [l.digest for l in layers])
        if pt.error:
            raise DaemonError(ref, f"pull failed: {pt.error}")
        if best is None or pt.steal < best[0].steal:
            best = (pt, layers)
        if steal.quiet(pt.steal):
            break
        log(f"calibrate: {100 * pt.steal:.0f} % of the CPU stolen during a pull: measuring it again")
    assert best is not None
    return best


def unpack_durations(pt: PullTiming) -> list[float | None]:
    """Per layer: Pull complete minus max(own Download complete, previous Pull complete)."""
    out: list[float | None] = []
    prev_done = 0.0
    for l in pt.layers:
        if l["done"] is None or l["dl_end"] is None:
            out.append(None)
            continue
        start = max(l["dl_end"], prev_done)
        out.append(max(0.0, l["done"] - start))
        prev_done = l["done"]
    return out


def quiesce() -> None:
    """Write back dirty data of earlier pulls so a measured pull starts on a quiet disk."""
    os.sync()


def remove_image(api, ref: str) -> None:
    try:
        api.remove_image(ref, force=True)
    except Exception:  # noqa: BLE001
        pass


# ------------------------------------------------------------------ fitting


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fit(obs: dict[str, list], sizes: dict[str, SynthLayer | list[SynthLayer]]) -> dict:
    """Effective per-layer / per-byte / per-file costs from the unpack durations."""
    layer_cost = _median(obs["layers"]) or 0.0
    bn, bg, fg = sizes["bin-none"], sizes["bin-gz"], sizes["files-gz"]
    t_bn, t_bg, t_fg = _median(obs["bin-none"]), _median(obs["bin-gz"]), _median(obs["files-gz"])
    per_file = 0.0
    extract_spb = 0.0
    for _ in range(5):  # the two equations share per_file and the per-byte cost: iterate
        extract_spb = max(1e-12, (t_bn - layer_cost - bn.entries * per_file) / len(bn.tar))
        gz_spb = max(0.0, (t_bg - t_bn) / len(bg.tar))
        per_file = max(0.0, (t_fg - layer_cost - len(fg.tar) * (extract_spb + gz_spb)) / fg.entries)
    return {"per_layer": layer_cost, "extract_bps": 1 / extract_spb,
            "gzip_bps": (1 / gz_spb) if gz_spb > 0 else None, "per_file": per_file}


# ---------------------------------------------------------- in-process only


def inprocess_codecs(sample: bytes) -> dict[str, float]:
    """Uncompressed bytes/s of inflating ``sample`` with stdlib zlib and zstandard (one core)."""
    import zstandard

    out = {}
    gz = _gz(sample)
    t = time.perf_counter()
    for _ in range(3):
        d = zlib.decompressobj(31)
        d.decompress(gz)
    out["gzip"] = 3 * len(sample) / (time.perf_counter() - t)
    zs = _zstd(sample)
    dctx = zstandard.ZstdDecompressor()
    t = time.perf_counter()
    for _ in range(3):
        dctx.decompressobj().decompress(zs)
    out["zstd"] = 3 * len(sample) / (time.perf_counter() - t)
    return out


def inprocess_extract(layers: dict[str, list[SynthLayer]]) -> dict[str, float]:
    """tarfile extraction of the byte-heavy and the many-files layers into a temp dir."""
    res = {}
    for name in ("bin-none", "files-gz"):
        tar = layers[name][0].tar
        d = tempfile.mkdtemp(prefix="imgopt-calib-x-")
        try:
            t = time.perf_counter()
            with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
                tf.extractall(d, filter="fully_trusted") if hasattr(tarfile, "data_filter") else tf.extractall(d)
            os.sync()
            res[name] = time.perf_counter() - t
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return res


# -------------------------------------------------------------------- main


@dataclass
class CalibrationResult:
    """What ``imgopt calibrate`` wrote: the host profile (YAML) and its content."""

    path: str
    profile: dict


def run_calibration(opts: CalibrateOptions, log: Callable[[str], None] = print,
                    measure: Callable | None = None) -> CalibrationResult:
    """Build the synthetic images, measure them with ``measure(opts, imgs, codecs, log) -> (profile fields,
    calibration record)`` (default: through the Docker daemon; containerd's is
    :func:`imgopt.simulate.calibrate_ctr.run_ctr_calibration`), write the host profile."""
    if opts.containerd and measure is None:
        raise ValueError("CalibrateOptions.containerd: use calibrate_ctr.run_ctr_calibration")
    salt = f"{socket.gethostname()}-{time.time_ns()}"
    log("calibrate: building synthetic images")
    imgs = synthetic_images(opts.payload_mb, salt)
    bins_tar = imgs["bin-none"][0].tar
    codecs = inprocess_codecs(bins_tar[: 16 << 20])
    doc: dict = {
        "kind": "host",
        "name": opts.name or socket.gethostname(),
        "cores": os.cpu_count() or 1,
        "unpigz": bool(shutil.which("unpigz")),
    }
    calib: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
                   "inprocess_mb_s": {k: round(v / MB, 1) for k, v in codecs.items()}}
    if not opts.use_docker:
        ex = inprocess_extract(imgs)
        bn, fg = imgs["bin-none"][0], imgs["files-gz"][0]
        extract_bps = len(bn.tar) / ex["bin-none"]
        per_file = max(0.0, (ex["files-gz"] - len(fg.tar) / extract_bps) / fg.entries)
        doc.update({
            "description": "in-process calibration (Python zlib/zstd inflate, tarfile extraction): less faithful "
                           "than a real client",
            "decompress_mb_s": {"gzip": round(codecs["gzip"] / MB, 1), "zstd": round(codecs["zstd"] / MB, 1)},
            "extract": {"mb_s": round(extract_bps / MB, 1), "per_file_us": round(per_file * 1e6, 2),
                        "per_layer_ms": 5.0},
            "ingest_mb_s": 1000, "pull_overhead_ms": 50, "container": {"create_ms": 60, "start_ms": 250},
        })
        calib["method"] = "in-process"
    else:
        doc_update, calib_update = (measure or _docker_calibration)(opts, imgs, codecs, log)
        doc.update(doc_update)
        calib.update(calib_update)
    doc["calibration"] = calib
    out = Path(opts.output) if opts.output else P.CALIBRATED_HOST
    out.parent.mkdir(parents=True, exist_ok=True)
    P.parse_host(doc, str(out))  # validate before writing
    header = ("# Host profile written by `imgopt calibrate` (see docs/simulate.md).\n"
              "# Costs are effective wall-clock costs measured through the real client.\n")
    from imgopt.atomic import atomic_file

    with atomic_file(str(out)) as tmp:
        Path(tmp).write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return CalibrationResult(str(out), doc)


def _docker_client(host: str | None):
    from imgopt.image.docker_engine import docker_client

    try:
        return docker_client(host or "docker", host=host)
    except DaemonError as e:
        raise DaemonError(host or "docker", f"daemon not reachable ({e.problem}); use --docker-host or --no-docker") \
            from None


def _docker_calibration(opts: CalibrateOptions, imgs, codecs, log) -> tuple[dict, dict]:
    client = _docker_client(opts.docker_host)
    api = client.api
    import contextlib

    reg_ctx = TempRegistry() if opts.registry == "auto" else contextlib.nullcontext()
    with reg_ctx as reg:
        addr = reg.addr if reg is not None else opts.registry
        if not addr.startswith(("127.", "localhost")):
            raise BadInput("--registry", f"{addr}: use a loopback registry (the daemon treats 127.0.0.0/8 as "
                                         "insecure; others need daemon configuration)")
        measured = ("layers", "bin-none", "bin-gz", "files-gz", "run")
        salt = f"{socket.gethostname()}-{time.time_ns()}"
        refs: dict[str, str] = {}
        for name, layers in imgs.items():
            push(addr, REPO, name, layers)
            refs[name] = f"{addr}/{REPO}:{name}"
        # one salted copy per image and rep: every measured pull is cold without deleting anything
        # first (a deletion slows the next pulls down for a while: ext4 online discard)
        runs: list[tuple[str, int, str, list[SynthLayer]]] = []
        for rep in range(opts.reps):
            for name in measured:
                layers = [l.salted(f"{salt}-{name}-{rep}-{k}") for k, l in enumerate(imgs[name])]
                tag = f"{name}-r{rep}"
                push(addr, REPO, tag, layers)
                runs.append((name, rep, f"{addr}/{REPO}:{tag}", layers))
        obs: dict[str, list] = {k: [] for k in imgs}
        totals: dict[str, list] = {k: [] for k in imgs}
        dl: list[tuple[int, float]] = []
        heads: list[float] = []
        tails: list[float] = []
        zstd_ok = None
        retried: list[str] = []  # salted copies pushed again for pulls the hypervisor disturbed
        stolen: list[float] = []  # each kept pull's CPU steal
        try:
            # warm-up (a fresh daemon's first pull is slower): not measured
            timed_pull(api, refs["layers"], [])
            for name, rep, ref, layers in runs:
                pt, layers = _quiet_pull(api, addr, ref, layers, imgs[name], log, retried)
                stolen.append(pt.steal)
                ups = unpack_durations(pt)
                obs[name].extend(u for u in ups if u is not None)
                totals[name].append(pt.total)
                heads.append(pt.first_event)
                last_done = max((l["done"] or 0) for l in pt.layers)
                tails.append(pt.total - last_done)
                if name in ("bin-none", "bin-gz"):
                    l0 = pt.layers[0]
                    if l0["dl_end"] and l0["dl_start"] is not None:
                        dl.append((len(layers[0].blob), l0["dl_end"] - l0["dl_start"]))
                log(f"calibrate: pull {name} #{rep + 1}: {pt.total:.2f} s" +
                    (f" ({100 * pt.steal:.0f} % CPU steal)" if pt.steal > steal.QUIET else ""))
            noisy = sum(1 for x in stolen if x > steal.QUIET)
            if noisy:
                log(f"calibrate: warning: {noisy} of {len(stolen)} pulls lost more than {100 * steal.QUIET:.0f} % "
                    f"of the CPU to the hypervisor ({steal.ATTEMPTS} attempts each); the profile is pessimistic: "
                    "calibrate again when the machine is quieter")
            # container create / start on the run image
            run_ref = runs[-1][2]
            creates, starts = [], []
            for _ in range(max(3, opts.reps)):
                t = time.monotonic()
                # network "none" still creates a network namespace (loopback), as every real run does
                cid = api.create_container(run_ref, command=["/true"],
                                           host_config=api.create_host_config(network_mode="none"))["Id"]
                t1 = time.monotonic()
                api.start(cid)
                t2 = time.monotonic()
                creates.append(t1 - t)
                starts.append(t2 - t1)
                api.wait(cid, timeout=60)
                api.remove_container(cid, force=True)
            log(f"calibrate: container create {1e3 * _median(creates):.0f} ms, start {1e3 * _median(starts):.0f} ms")
            # can the client pull zstd layers?
            pt = timed_pull(api, refs["bin-zstd"], [l.digest for l in imgs["bin-zstd"]])
            zstd_ok = pt.error is None
            zstd_unpack = _median(unpack_durations(pt)) if zstd_ok else None
        finally:
            if opts.cleanup:
                for ref in list(refs.values()) + [r[2] for r in runs] + retried:
                    remove_image(api, ref)
    f = fit(obs, {k: v[0] for k, v in imgs.items() if k != "layers"})
    extract_bps = f["extract_bps"]
    gzip_bps = f["gzip_bps"] or codecs["gzip"]
    zstd_bps = codecs["zstd"]
    if zstd_ok and zstd_unpack:
        zl = imgs["bin-zstd"][0]
        spb = (zstd_unpack - f["per_layer"] - zl.entries * f["per_file"]) / len(zl.tar) - 1 / extract_bps
        if spb > 0:
            zstd_bps = 1 / spb
    ingest = max(b / t for b, t in dl) if dl else 1e9
    info = client.version()
    doc = {
        "description": f"calibrated with Docker {info.get('Version', '?')} ({info.get('Os', '')}/"
                       f"{info.get('Arch', '')}), storage driver {client.info().get('Driver', '?')}",
        "decompress_mb_s": {"gzip": round(gzip_bps / MB, 1), "zstd": round(zstd_bps / MB, 1)},
        "extract": {"mb_s": round(extract_bps / MB, 1), "per_file_us": round(f["per_file"] * 1e6, 2),
                    "per_layer_ms": round(f["per_layer"] * 1e3, 2)},
        "ingest_mb_s": round(ingest / MB, 1),
        "pull_overhead_ms": round(1e3 * ((_median(tails) or 0) + (_median(heads) or 0)), 1),
        "container": {"create_ms": round(1e3 * _median(creates), 1), "start_ms": round(1e3 * _median(starts), 1)},
    }
    calib = {
        "method": "docker pulls from a loopback registry, progress events timestamped",
        "docker_version": info.get("Version"),
        "reps": opts.reps,
        "client_pulls_zstd": zstd_ok,
        "zstd_source": "client" if zstd_ok else "in-process zstandard (client cannot pull zstd)",
        "head_ms": round(1e3 * (_median(heads) or 0), 1),
        "cpu_steal_pct": {"median": round(100 * (_median(stolen) or 0.0), 1),
                          "max": round(100 * max(stolen, default=0.0), 1)},
        "unpack_s": {k: [round(x, 4) for x in v] for k, v in obs.items() if v},
        "pull_total_s": {k: [round(x, 3) for x in v] for k, v in totals.items() if v},
        "layer_tar_bytes": {k: len(v[0].tar) for k, v in imgs.items()},
        "layer_entries": {k: v[0].entries for k, v in imgs.items()},
    }
    return doc, calib


__all__ = ["run_calibration", "CalibrateOptions", "CalibrationResult", "timed_pull", "unpack_durations", "push", "TempRegistry",
           "synthetic_images", "fit"]
