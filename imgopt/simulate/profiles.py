"""Registry, client and host profiles: YAML data, validated into dataclasses.

Built-in profiles live in ``imgopt/data/simulate/{registry,client,host}/NAME.yaml``
(each default carries the source or assumption behind it in a comment).
Users add their own: a path to a YAML file, or a NAME found in a directory
of ``$IMGOPT_SIMULATE_PROFILES`` (colon-separated) or
``~/.config/imgopt/simulate/`` (same ``registry/ client/ host/`` layout).
See docs/simulate.md for every field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from imgopt.errors import BadInput, NotFound
from imgopt.data import data_dir, parse_yaml

KINDS = ("registry", "client", "host")
BUILTIN_DIR = data_dir("simulate")
USER_DIR = Path(os.path.expanduser("~/.config/imgopt/simulate"))
CALIBRATED_HOST = USER_DIR / "host" / "calibrated.yaml"
MB = 1e6
CODECS = ("gzip", "zstd", "none")


# ------------------------------------------------------------------ helpers


class _Reader:
    """Typed access to a YAML mapping, with one-line errors naming the field."""

    def __init__(self, doc: Any, subject: str, prefix: str = ""):
        if not isinstance(doc, dict):
            raise BadInput(subject, f"{prefix or 'profile'} is not a mapping")
        self.doc, self.subject, self.prefix = doc, subject, prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def has(self, key: str) -> bool:
        return key in self.doc and self.doc[key] is not None

    def num(self, key: str, default: float | None = None, *, positive: bool = False, min_: float | None = 0.0,
            max_: float | None = None, allow_none: bool = False) -> float | None:
        self.used.add(key)
        v = self.doc.get(key)
        if v is None:
            v = default
        if v is None:
            if allow_none:
                return None
            raise BadInput(self.subject, f"{self._name(key)} is required")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise BadInput(self.subject, f"{self._name(key)} must be a number, not {v!r}")
        if positive and not v > 0:
            raise BadInput(self.subject, f"{self._name(key)} must be positive, not {v!r}")
        if min_ is not None and v < min_:
            raise BadInput(self.subject, f"{self._name(key)} must be >= {min_:g}, not {v!r}")
        if max_ is not None and v > max_:
            raise BadInput(self.subject, f"{self._name(key)} must be <= {max_:g}, not {v!r}")
        return float(v)

    def int(self, key: str, default: int, *, min_: int = 0) -> int:
        v = self.num(key, default, min_=min_)
        if v != int(v):
            raise BadInput(self.subject, f"{self._name(key)} must be an integer, not {v!r}")
        return int(v)

    def bool(self, key: str, default: bool) -> bool:
        self.used.add(key)
        v = self.doc.get(key, default)
        if not isinstance(v, bool):
            raise BadInput(self.subject, f"{self._name(key)} must be true or false, not {v!r}")
        return v

    def str(self, key: str, default: str | None, choices: tuple[str, ...] | None = None) -> str:
        self.used.add(key)
        v = self.doc.get(key, default)
        if v is None:
            raise BadInput(self.subject, f"{self._name(key)} is required")
        if not isinstance(v, str):
            raise BadInput(self.subject, f"{self._name(key)} must be a string, not {v!r}")
        if choices and v not in choices:
            raise BadInput(self.subject, f"{self._name(key)} must be one of {', '.join(choices)}, not {v!r}")
        return v

    def sub(self, key: str) -> "_Reader":
        self.used.add(key)
        return _Reader(self.doc.get(key) or {}, self.subject, self._name(key))

    def check_unknown(self, extra_ok: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(self.doc) - self.used - set(extra_ok))
        if unknown:
            raise BadInput(self.subject, f"unknown field {self._name(unknown[0])!r}")


# ----------------------------------------------------------------- profiles


@dataclass
class RegistryProfile:
    name: str
    description: str
    rtt: float  # seconds, client <-> registry API endpoint
    per_connection_bps: float  # bytes/s one TCP connection can carry (payload)
    aggregate_bps: float  # bytes/s all connections together (payload)
    goodput: float  # payload fraction of the nominal link rate
    initcwnd_bytes: float  # TCP initial window (slow start), bytes
    tls: bool
    tcp_handshake_rtts: float
    tls_handshake_rtts: float
    https_probe: bool  # plain-HTTP registry the client first tries over TLS (docker --insecure-registry)
    server_time: float  # seconds the registry takes to answer an API request
    ping: bool  # GET /v2/ before anything (docker does)
    auth: str  # none | basic | token
    token_time: float  # seconds the token service takes
    token_new_connection: bool  # token service on another host: new TCP+TLS connection
    blob_redirect: bool  # blob GETs answer 307 to blob storage (S3 / CDN)
    redirect_rtt: float  # seconds, client <-> blob storage
    redirect_server_time: float  # blob storage time to first byte
    redirect_new_connection: bool  # every redirected blob opens a new TLS connection
    max_requests_per_s: float | None = None  # throttling (None: unlimited)
    source: str = ""

    def handshake(self, rtt: float | None = None) -> float:
        r = self.rtt if rtt is None else rtt
        return r * (self.tcp_handshake_rtts + (self.tls_handshake_rtts if self.tls else 0.0))


@dataclass
class LazyOptions:
    toc_bytes_per_file: float
    chunk_bytes: float
    prefetch: str  # startup | none
    mount_time: float  # per layer
    max_concurrent_fetches: int
    read_overhead: float  # seconds per on-demand miss inside the snapshotter (FUSE, lookup)


@dataclass
class ClientProfile:
    name: str
    description: str
    max_concurrent_downloads: int
    unpack: str  # sequential | after_fetch | streaming | lazy
    manifest_requests: int  # requests to resolve a tag (HEAD by tag + GET by digest = 2)
    reuse_connections: bool  # keep-alive; False: a new TCP (+TLS) connection for every request
    codecs: tuple[str, ...]  # layer codecs the client can pull
    stream_chunk_bytes: float  # streaming unpack: granularity of the download/extract pipeline
    lazy: LazyOptions | None = None
    source: str = ""


@dataclass
class HostProfile:
    name: str
    description: str
    cores: float
    decompress_bps: dict[str, float]  # uncompressed bytes/s one core inflates, per codec (inf: free)
    extract_bps: float  # uncompressed bytes/s written into the snapshot / graph driver
    per_file: float  # seconds per file created
    per_layer: float  # seconds per layer registered (mkdir, metadata, rename, tar-split)
    ingest_bps: float  # bytes/s one download can be hashed and written to disk
    pull_overhead: float  # seconds the client spends outside layers (resolve, config, tag)
    create_time: float  # container create (init layer, mounts, config)
    start_time: float  # container start (runc, namespaces) until the entrypoint runs
    unpigz: bool = False
    calibration: dict = field(default_factory=dict)
    source: str = ""

    def decompress(self, codec: str) -> float:
        return self.decompress_bps.get(codec, math.inf)


def _mbit(r: _Reader, key: str, default: float | None = None) -> float:
    v = r.num(key, default, positive=True)
    return v * 1e6 / 8  # Mbit/s -> bytes/s


def parse_registry(doc: Any, subject: str) -> RegistryProfile:
    r = _Reader(doc, subject)
    _kind(r, "registry")
    net, conn, api = r.sub("network"), r.sub("connection"), r.sub("api")
    goodput = net.num("goodput", 0.95, positive=True, max_=1.0)
    per_conn = _mbit(net, "per_connection_mbps") * goodput
    agg = _mbit(net, "aggregate_mbps") * goodput
    redirect = api.bool("blob_redirect", False)
    rtt = net.num("rtt_ms", None, min_=0.0) / 1e3
    p = RegistryProfile(
        name=r.str("name", None), description=r.str("description", ""),
        rtt=rtt, per_connection_bps=min(per_conn, agg), aggregate_bps=agg, goodput=goodput,
        initcwnd_bytes=net.num("initcwnd_segments", 10, positive=True) * net.num("mss_bytes", 1448, positive=True),
        tls=conn.bool("tls", True), tcp_handshake_rtts=conn.num("tcp_handshake_rtts", 1),
        tls_handshake_rtts=conn.num("tls_handshake_rtts", 1), https_probe=conn.bool("https_probe", False),
        server_time=api.num("server_ms", 0) / 1e3, ping=api.bool("ping", True),
        auth=api.str("auth", "none", ("none", "basic", "token")),
        token_time=api.num("token_ms", 0) / 1e3, token_new_connection=api.bool("token_new_connection", False),
        blob_redirect=redirect,
        redirect_rtt=(api.num("redirect_rtt_ms", rtt * 1e3) / 1e3),
        redirect_server_time=api.num("redirect_server_ms", 0) / 1e3,
        redirect_new_connection=api.bool("redirect_new_connection", True),
        max_requests_per_s=api.num("max_requests_per_s", None, positive=True, allow_none=True),
        source=subject,
    )
    for sub in (net, conn, api):
        sub.check_unknown()
    r.check_unknown(("kind",))
    return p


def parse_client(doc: Any, subject: str) -> ClientProfile:
    r = _Reader(doc, subject)
    _kind(r, "client")
    unpack = r.str("unpack", None, ("sequential", "after_fetch", "streaming", "lazy"))
    codecs = r.doc.get("codecs", list(CODECS))
    r.used.add("codecs")
    if not isinstance(codecs, list) or not codecs or any(c not in CODECS for c in codecs):
        raise BadInput(subject, f"codecs must be a list drawn from {', '.join(CODECS)}, not {codecs!r}")
    lazy = None
    if unpack == "lazy":
        lz = r.sub("lazy")
        lazy = LazyOptions(
            toc_bytes_per_file=lz.num("toc_bytes_per_file", 100),
            chunk_bytes=lz.num("chunk_kib", 4096, positive=True) * 1024,
            prefetch=lz.str("prefetch", "startup", ("startup", "none")),
            mount_time=lz.num("mount_ms", 10) / 1e3,
            max_concurrent_fetches=lz.int("max_concurrent_fetches", 8, min_=1),
            read_overhead=lz.num("read_overhead_ms", 0.5) / 1e3,
        )
        lz.check_unknown()
    elif r.has("lazy"):
        raise BadInput(subject, "lazy options given but unpack is not lazy")
    p = ClientProfile(
        name=r.str("name", None), description=r.str("description", ""),
        max_concurrent_downloads=r.int("max_concurrent_downloads", 3, min_=1), unpack=unpack,
        manifest_requests=r.int("manifest_requests", 2, min_=1),
        reuse_connections=r.bool("reuse_connections", True),
        codecs=tuple(codecs), stream_chunk_bytes=r.num("stream_chunk_kib", 4096, positive=True) * 1024,
        lazy=lazy, source=subject,
    )
    r.check_unknown(("kind",))
    return p


def parse_host(doc: Any, subject: str) -> HostProfile:
    r = _Reader(doc, subject)
    _kind(r, "host")
    dec = r.sub("decompress_mb_s")
    decompress = {}
    for c in CODECS:
        v = dec.num(c, None, positive=True, allow_none=True)
        decompress[c] = math.inf if v is None else v * MB
    dec.check_unknown()
    ex, ct = r.sub("extract"), r.sub("container")
    calib = r.doc.get("calibration") or {}
    r.used.add("calibration")
    if not isinstance(calib, dict):
        raise BadInput(subject, "calibration must be a mapping")
    p = HostProfile(
        name=r.str("name", None), description=r.str("description", ""),
        cores=r.num("cores", 2, positive=True),
        decompress_bps=decompress,
        extract_bps=ex.num("mb_s", None, positive=True) * MB,
        per_file=ex.num("per_file_us", 0) / 1e6,
        per_layer=ex.num("per_layer_ms", 0) / 1e3,
        ingest_bps=r.num("ingest_mb_s", 1000, positive=True) * MB,
        pull_overhead=r.num("pull_overhead_ms", 0) / 1e3,
        create_time=ct.num("create_ms", 0) / 1e3,
        start_time=ct.num("start_ms", 0) / 1e3,
        unpigz=r.bool("unpigz", False),
        calibration=calib, source=subject,
    )
    ex.check_unknown()
    ct.check_unknown()
    r.check_unknown(("kind",))
    return p


PARSERS = {"registry": parse_registry, "client": parse_client, "host": parse_host}


def _kind(r: _Reader, kind: str) -> None:
    k = r.doc.get("kind", kind)
    r.used.add("kind")
    if k != kind:
        raise BadInput(r.subject, f"is a {k!r} profile, expected a {kind} profile")


# ------------------------------------------------------------------ lookup


def search_dirs() -> list[Traversable]:
    """Where profiles are looked up by name, first match wins: $IMGOPT_SIMULATE_PROFILES, the user's, the built-ins."""
    dirs: list[Traversable] = [Path(d) for d in os.environ.get("IMGOPT_SIMULATE_PROFILES", "").split(":") if d]
    return dirs + [USER_DIR, BUILTIN_DIR]


def available(kind: str) -> list[str]:
    names: set[str] = set()
    for d in search_dirs():
        sub = d / kind
        if sub.is_dir():
            names.update(p.name[: -len(".yaml")] for p in sub.iterdir() if p.name.endswith(".yaml"))
    return sorted(names)


def _is_path(name: str) -> bool:
    return "/" in name or name.endswith((".yaml", ".yml"))


def find(kind: str, name: str) -> Traversable:
    if not name or not name.strip():
        raise BadInput(f"--{kind}", "empty profile name")
    if _is_path(name):
        p = Path(name)
        if not p.is_file():
            raise NotFound(name, f"no such {kind} profile file")
        return p
    for d in search_dirs():
        p = d / kind / f"{name}.yaml"
        if p.is_file():
            return p
    have = ", ".join(available(kind)) or "none"
    raise NotFound(f"--{kind}", f"unknown {kind} profile {name!r} (available: {have}; or give a YAML file path)")


def load_doc(path: Traversable) -> Any:
    import yaml  # here: a warm scan keys its records by the host profile's name without parsing YAML

    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise BadInput(str(path), "not a text file") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BadInput(str(path), f"malformed YAML{where}: {problem}") from None


def load(kind: str, name: str):
    """A validated profile of ``kind`` by name or path."""
    if kind not in KINDS:
        raise ValueError(kind)
    path = find(kind, name)
    return PARSERS[kind](load_doc(path), str(path))


def load_many(kind: str, names: str) -> list:
    out = []
    for n in names.split(","):
        n = n.strip()
        if not n:
            raise BadInput(f"--{kind}", f"empty name in {names!r}")
        out.append(load(kind, n))
    return out


def default_host_name() -> str:
    """The calibrated host profile when `imgopt calibrate` wrote one, else the reference host."""
    return str(CALIBRATED_HOST) if CALIBRATED_HOST.is_file() else "reference"


__all__ = ["RegistryProfile", "ClientProfile", "HostProfile", "LazyOptions", "load", "load_many", "available",
           "parse_registry", "parse_client", "parse_host", "default_host_name", "CALIBRATED_HOST", "BUILTIN_DIR"]
