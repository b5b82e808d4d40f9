"""What a pull has to move and unpack: per-layer sizes, codecs and file counts.

From an :class:`~imgopt.image.model.Image`: the compressed size a registry
serves (the descriptor size; for layers stored uncompressed, as ``docker
save`` writes them, the gzip size a push would produce, measured by
compressing the tar; an OCI layer whose media type says uncompressed tar is
served as it is), the uncompressed tar size, the number of entries to
create, and (for lazy pulls) where each file sits in its layer.

Reading layers is the slow part, so results are cached per layer digest in
``~/.cache/imgopt/simulate/layers.json``.  What-ifs (``compress=zstd``,
``slim``) derive new workloads from measured ones.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from imgopt.cache.location import default_dir, disabled
from imgopt.errors import BadInput
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK, Compression
from imgopt.image.model import Image, Layer
from imgopt.image.tarstream import Kind, iter_entries

_lock = threading.Lock()
TAR_HEADER = 512

# what a push writes for an uncompressed layer: gzip level 6 (Go's
# compress/gzip DefaultCompression in docker push; pgzip default in skopeo)
PUSH_CODEC = "gzip"
LEVELS = {"gzip": 6, "zstd": 3}


@dataclass
class FileLoc:
    layer: int
    offset: int  # content offset in the uncompressed layer tar
    size: int


@dataclass
class LayerWork:
    index: int
    digest: str
    codec: str  # gzip | zstd | none, as served by the registry
    compressed: int  # bytes downloaded
    uncompressed: int  # bytes of tar to unpack
    entries: int  # tar members created (files, dirs, links, whiteouts)
    files: int  # regular files
    estimated: bool = False  # compressed size estimated, not read from a descriptor

    @property
    def ratio(self) -> float:
        return self.compressed / self.uncompressed if self.uncompressed else 1.0


@dataclass
class Workload:
    name: str
    digest: str
    config_digest: str
    manifest_bytes: int
    config_bytes: int
    layers: list[LayerWork]
    variant: str = ""  # what-if label
    notes: list[str] = field(default_factory=list)
    files: dict[str, FileLoc] | None = None  # merged view: path -> topmost regular file

    @property
    def compressed(self) -> int:
        return sum(l.compressed for l in self.layers)

    @property
    def uncompressed(self) -> int:
        return sum(l.uncompressed for l in self.layers)

    @property
    def entries(self) -> int:
        return sum(l.entries for l in self.layers)

    @property
    def label(self) -> str:
        return f"{self.name} [{self.variant}]" if self.variant else self.name


# -------------------------------------------------------------------- cache


def _cache_path() -> Path | None:
    """The measured-layer cache (``simulate/layers.json`` in imgopt's cache directory), None when off."""
    return None if disabled() else Path(default_dir()) / "simulate" / "layers.json"


def _cache_load() -> dict:
    path = _cache_path()
    if path is None:
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _cache_put(key: str, value: dict) -> None:
    path = _cache_path()
    if path is None:
        return
    with _lock:
        data = _cache_load()
        data[key] = value
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.part")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache is optional


# ------------------------------------------------------------------ measure


class _Counter:
    """Compressed size of a stream, without keeping the output."""

    def __init__(self, codec: str, level: int | None):
        self.codec = codec
        self.n = 0
        if codec == "gzip":
            try:
                from zlib_ng import zlib_ng as zmod  # type: ignore
            except ImportError:  # pragma: no cover
                zmod = zlib
            self._c = zmod.compressobj(level or 6, zlib.DEFLATED, 31)
            self._flush = self._c.flush
        elif codec == "zstd":
            import zstandard

            self._c = zstandard.ZstdCompressor(level=level or 3).compressobj()
            self._flush = self._c.flush
        else:
            self._c = None

    def update(self, b: bytes) -> None:
        if self._c is None:
            self.n += len(b)
        else:
            self.n += len(self._c.compress(b))

    def finish(self) -> int:
        if self._c is not None:
            self.n += len(self._flush())
            self._c = None
        return self.n


class _Tee:
    """A read-only stream that feeds what it reads to counters."""

    def __init__(self, f, sinks):
        self._f, self._sinks = f, sinks

    def read(self, n: int = -1) -> bytes:
        b = self._f.read(n)
        for s in self._sinks:
            s.update(b)
        return b

    def readinto(self, buf) -> int:
        b = self.read(len(buf))
        buf[: len(b)] = b
        return len(b)


def measure_layer(layer: Layer, *, want_codecs: tuple[str, ...] = (), want_files: bool = False) -> dict:
    """Uncompressed size, entry and file counts, and compressed sizes in ``want_codecs``.

    Reads the layer once.  Returns a dict (JSON-able, cached by digest).
    """
    key = layer.digest
    cache = _cache_load().get(key) if not want_files else None
    codecs = tuple(c for c in want_codecs if c != "none")
    if cache and all(f"size_{c}" in cache for c in codecs):
        return cache
    counters = {c: _Counter(c, LEVELS.get(c)) for c in codecs}
    stored = layer.compression
    entries = files = 0
    locs: list[tuple[str, int, int]] = []
    stream = layer.open_tar()
    try:
        src = _Tee(stream, list(counters.values())) if counters else stream
        for e, m, _r in iter_entries(src, layer.subject, seekable=False):
            entries += 1
            if e.kind is Kind.FILE:
                files += 1
                if want_files:
                    locs.append((e.path, m.offset_data, e.size))
        # rest of the stream (end-of-archive blocks) so sizes are exact
        while True:
            b = src.read(CHUNK)
            if not b:
                break
        stream.verify()
        u = stream.uncompressed_bytes
    finally:
        stream.close()
    out = dict(cache or {})
    out.update({"uncompressed": u, "entries": entries, "files": files, "codec": stored.value,
                "compressed": layer.size})
    for c, ctr in counters.items():
        out[f"size_{c}"] = ctr.finish()
    out["size_none"] = u
    out[f"size_{stored.value}"] = layer.size if stored is not Compression.NONE else u
    _cache_put(key, out)
    if want_files:
        out = dict(out)
        out["locs"] = locs
    return out


def from_image(image: Image, *, want_codecs: tuple[str, ...] = (), want_files: bool = False,
               progress=None) -> Workload:
    """The workload of pulling ``image`` as a registry serves it."""
    layers: list[LayerWork] = []
    merged: dict[str, FileLoc] | None = {} if want_files else None
    notes: list[str] = []
    for i, layer in enumerate(image.layers):
        stored = layer.compression.value
        need = set(want_codecs)
        # docker save / the daemon store every layer as a plain tar that a push compresses; an
        # OCI descriptor that says "uncompressed tar" was chosen so (minify --compress none) and
        # is pushed and served as it is
        pushed_as_is = layer.descriptor.media_type == mt.OCI_LAYER_TAR
        if stored == "none" and not pushed_as_is:
            need.add(PUSH_CODEC)  # what a push would serve
        st = measure_layer(layer, want_codecs=tuple(sorted(need)), want_files=want_files)
        if stored == "none" and pushed_as_is:
            codec, size, est = "none", st["uncompressed"], False
        elif stored == "none":
            codec, size, est = PUSH_CODEC, st[f"size_{PUSH_CODEC}"], True
        else:
            codec, size, est = stored, layer.size, False
        lw = LayerWork(i, layer.digest, codec, size, st["uncompressed"], st["entries"], st["files"], est)
        lw.sizes = {c: st.get(f"size_{c}") for c in ("gzip", "zstd", "none")}  # type: ignore[attr-defined]
        layers.append(lw)
        if merged is not None:
            for path, off, size_ in st["locs"]:
                merged["/" + path] = FileLoc(i, off, size_)
        if progress:
            progress(i + 1, len(image.layers))
    if any(l.estimated for l in layers):
        notes.append(f"{image.name}: layers stored uncompressed; sizes are those of a gzip-6 push (measured)")
    return Workload(
        name=image.name, digest=image.digest, config_digest=image.config_digest,
        manifest_bytes=len(image.manifest.serialize()), config_bytes=len(image.config_blob),
        layers=layers, notes=notes, files=merged,
    )


# ----------------------------------------------------------------- what-ifs

WHAT_IF_KEYS = ("compress", "slim")


def parse_what_if(spec: str) -> dict[str, str]:
    """``compress=zstd,slim`` -> {"compress": "zstd", "slim": "profile"}."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        k, eq, v = part.partition("=")
        k = k.strip()
        if k not in WHAT_IF_KEYS:
            raise BadInput("--what-if", f"unknown what-if {k!r} (known: compress=gzip|zstd|none, slim)")
        if k == "compress":
            if v not in ("gzip", "zstd", "none"):
                raise BadInput("--what-if", f"compress={v!r}: expected gzip, zstd or none")
        elif k == "slim":
            v = v or "profile"
            if v != "profile":
                raise BadInput("--what-if", f"slim={v!r}: only slim (keep the traced startup files) is known")
        out[k] = v
    if not out:
        raise BadInput("--what-if", f"empty what-if {spec!r}")
    return out


def needed_codecs(what_ifs: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(sorted({w["compress"] for w in what_ifs if "compress" in w}))


def apply_what_if(w: Workload, what: dict[str, str], startup: list[tuple[str, int]] | None) -> Workload:
    """A new workload with the what-if applied (recompressed, slimmed)."""
    layers = [replace(l) for l in w.layers]
    for l, src in zip(layers, w.layers):
        l.sizes = dict(getattr(src, "sizes", {}))  # type: ignore[attr-defined]
    notes = list(w.notes)
    if "slim" in what:
        if not startup or w.files is None:
            raise BadInput("--what-if", "slim needs a trace profile (--profile) listing the startup files")
        keep_bytes = [0] * len(layers)
        keep_files = [0] * len(layers)
        missing = 0
        for path, size in startup:
            loc = w.files.get(path)
            if loc is None:
                missing += 1
                continue
            keep_bytes[loc.layer] += loc.size
            keep_files[loc.layer] += 1
        for l in layers:
            u_old = l.uncompressed
            files_old = max(l.files, 1)
            # keep the startup files, their headers, and the non-file entries (dirs, links) pro rata
            dirs = (l.entries - l.files) * keep_files[l.index] / files_old
            u_new = keep_bytes[l.index] + (keep_files[l.index] + dirs) * TAR_HEADER + 1024
            ratio = l.ratio
            l.uncompressed = int(min(u_old, u_new))
            l.entries = int(keep_files[l.index] + dirs)
            l.files = keep_files[l.index]
            l.compressed = int(l.uncompressed * ratio)
            l.sizes = {c: (int(s * l.uncompressed / u_old) if s and u_old else s)  # type: ignore[attr-defined]
                       for c, s in l.sizes.items()}
            l.estimated = True
        if missing:
            notes.append(f"slim: {missing} startup files of the profile are not in the image")
        notes.append("slim: layers keep only the traced startup files; compressed sizes scaled by each layer's ratio")
    if "compress" in what:
        c = what["compress"]
        for l in layers:
            size = l.sizes.get(c)  # type: ignore[attr-defined]
            if size is None:
                raise AssertionError(f"no {c} size measured for layer {l.index}")
            l.codec, l.compressed = c, int(size)
            l.estimated = True
        notes.append(f"compress={c}: every layer re-encoded ({'level ' + str(LEVELS[c]) if c in LEVELS else 'tar'}),"
                     f" sizes measured by compressing each layer")
    label = ",".join(f"{k}={v}" if k != "slim" else "slim" for k, v in what.items())
    return Workload(w.name, w.digest, w.config_digest, w.manifest_bytes, w.config_bytes, layers,
                    variant=label, notes=notes, files=w.files)


__all__ = ["Workload", "LayerWork", "FileLoc", "from_image", "measure_layer", "parse_what_if", "apply_what_if",
           "needed_codecs"]
