"""``--optimize-for REGISTRY[,CLIENT]``: the slim image's codec, level and split, chosen by simulation.

For the kept files and their startup set, a small fixed set of candidate
layouts is predicted with :mod:`imgopt.simulate` (registry and client profiles
by name, the default host profile) and the one with the least predicted
pull + start wins:

* codec x level: gzip 6, 9, 1; zstd 3, 9 where the client's profile lists
  zstd; uncompressed where it lists ``none``; for a lazy client only eStargz
  (gzip 6, 9, 1) -- anything else would be pulled whole;
* split: the startup files as 1, 2 or the client's ``max_concurrent_downloads``
  n layers, then the rest as 1, 2, n or 2n layers, each run's sizes growing
  1 : 2 : ... (:func:`imgopt.minify.layout.split_sizes`): small layers first,
  so extraction starts while the larger ones download; startup files always
  before the rest, so a lazy client finds them in the leading layers.

No candidate image is written.  Each layer's tar size and entry count are
exact (computed from the planned entries); its compressed size is estimated
from the kept files' tar stream cut into granules (~1/32 of the bytes each):
every ``stride``-th 256 KiB block of the stream (all of it up to
:data:`SAMPLE_BUDGET`) is compressed with each codec and level, and a layer's
size is the sum over its entries of their bytes times their granule's ratio.
eStargz adds a gzip member per file and its TOC.  The best is the least
predicted total rounded to the millisecond, then fewer layers, then the order
of :data:`CODECS`; nothing else (no clock, no thread count) enters, so the
same inputs give the same layout and the same digests.

The best replaces the default layout (:data:`DEFAULT`) only if it is predicted
at least ``min_gain`` faster (:data:`MIN_GAIN`, 10 %: the error the simulator is
held to at every link rate).  A smaller predicted gain is within the model's
error, and the lab measured such choices slower than the default
(reports/layout-optimization.md), so the default is kept.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import zstandard

from imgopt.errors import BadInput, NotFound
from imgopt.image.codecs import _deflate_mod
from imgopt.image.tarstream import Kind
from imgopt.minify.layout import ContentStore, PlannedLayer, plan_layers, wanted_content
from imgopt.minify.result import LayerEstimate, LayoutCandidate, Optimization, predicted_gain
from imgopt.minify.writer import OutEntry, content_chunks, tar_header

# search order = tie-break order: the default slim codec first
CODECS: tuple[tuple[str, int | None], ...] = (
    ("gzip", 6), ("gzip", 9), ("gzip", 1), ("zstd", 3), ("zstd", 9), ("none", None),
    ("estargz", 6), ("estargz", 9), ("estargz", 1))
DEFAULT = ("gzip", 6, 1, 1)  # imgopt slim without --optimize-for: gzip-6, one startup layer, one for the rest
# the least predicted gain (fraction of the default's pull + start) for which --optimize-for replaces the
# default layout: the error the simulator is held to at every link rate (beats); MinifyOptions' default
MIN_GAIN = 0.10
SAMPLE_BUDGET = 48 << 20  # tar bytes compressed per codec and level, at most (about)
BLOCK = 1 << 20  # reads
SAMPLE_BLOCK = 256 << 10  # the unit of the sample
GRANULES = 32
ESTARGZ_PER_FILE = 30  # bytes: a gzip member per non-empty file (header, trailer, final block)
ESTARGZ_TOC_PER_ENTRY = 100  # bytes of compressed TOC per entry (as the lazy client profile assumes)


@dataclass
class Target:
    spec: str
    registry: object  # imgopt.simulate.profiles.RegistryProfile
    client: object  # imgopt.simulate.profiles.ClientProfile


def parse_target(spec: str) -> Target:
    """``vpc,docker`` -> the two loaded profiles; the client defaults to docker."""
    from imgopt.simulate import profiles as P

    parts = [p.strip() for p in (spec or "").split(",")]
    if not spec or not spec.strip() or len(parts) > 2 or not all(parts):
        raise BadInput("--optimize-for", f"{spec!r}: expected REGISTRY[,CLIENT], e.g. vpc,docker or "
                                         f"public,containerd (registries: {', '.join(P.available('registry'))}; "
                                         f"clients: {', '.join(P.available('client'))})")
    client = parts[1] if len(parts) == 2 else "docker"
    try:
        return Target(spec, P.load("registry", parts[0]), P.load("client", client))
    except NotFound as e:
        raise BadInput("--optimize-for", e.problem) from None


def codec_candidates(client) -> list[tuple[str, int | None]]:
    if client.unpack == "lazy":
        if "gzip" not in client.codecs:
            raise BadInput("--optimize-for", f"lazy client {client.name} cannot pull gzip, so no eStargz either")
        return [c for c in CODECS if c[0] == "estargz"]
    return [c for c in CODECS if c[0] in client.codecs]


# a run's layer count n is the client's download concurrency, at most this: ctr requests every blob at
# once, and past a few layers per run each layer's request and commit cost more than its overlap gains
MAX_RUN_LAYERS = 4


def split_candidates(client) -> list[tuple[int, int]]:
    """(startup layers, rest layers): 1, 2 or the download concurrency n for the startup files; 1, 2, n or 2n
    for the rest.  More layers start extraction sooner but each costs a request and a layer commit."""
    n = min(client.max_concurrent_downloads, MAX_RUN_LAYERS)
    return [(s, r) for s in sorted({1, 2, n}) for r in sorted({1, 2, n, 2 * n})]


# ---------------------------------------------------------------- sizes


def _configs(codecs) -> list[tuple[str, int]]:
    """The (compressor, level) pairs to measure: eStargz is gzip."""
    out = []
    for c, lvl in codecs:
        k = ("gzip" if c == "estargz" else c, lvl)
        if c != "none" and k not in out:
            out.append(k)
    return out


def _compressor(kind: str, level: int):
    if kind == "gzip":
        return _deflate_mod.compressobj(level, _deflate_mod.DEFLATED, 31)
    return zstandard.ZstdCompressor(level=level).compressobj()


def _entry_stream(e: OutEntry):
    """The tar bytes of one entry, in pieces."""
    yield tar_header(e)
    if e.kind is Kind.FILE and e.size:
        yield from content_chunks(e, BLOCK)
        if e.size % 512:
            yield b"\0" * (512 - e.size % 512)


class Ratios:
    """Compressed / uncompressed per granule of the kept files' tar stream, per (codec, level)."""

    def __init__(self, layers: list[PlannedLayer], configs: list[tuple[str, int]]):
        total = sum(_entry_size(e) for pl in layers for e in pl.entries)
        self.total = total
        self.stride = max(1, math.ceil(total / SAMPLE_BUDGET))
        self.granule_bytes = max(math.ceil(total / GRANULES), self.stride * SAMPLE_BLOCK)
        self.span: dict[str, tuple[int, int]] = {}  # path -> its first entry's bytes in the stream
        self._of: dict[tuple[str, tuple[str, int]], float] = {}
        self.n = n = max(1, math.ceil(total / self.granule_bytes))
        self.sampled = 0
        comp = {(g, c): _compressor(*c) for g in range(n) for c in configs}
        out = {k: 0 for k in comp}
        raw = [0] * n
        pos = 0  # position in the stream
        block = bytearray()
        block_start = 0

        def flush() -> None:
            nonlocal block
            b = block_start // SAMPLE_BLOCK
            if block and b % self.stride == 0:
                g = min(block_start // self.granule_bytes, n - 1)
                raw[g] += len(block)
                self.sampled += len(block)
                for c in configs:
                    out[(g, c)] += len(comp[(g, c)].compress(bytes(block)))
            block = bytearray()

        for pl in layers:
            for e in pl.entries:
                start = pos
                for piece in _entry_stream(e):
                    pos += len(piece)
                    mv = memoryview(piece)
                    while mv:
                        room = SAMPLE_BLOCK - len(block)
                        block += mv[:room]
                        mv = mv[room:]
                        if len(block) == SAMPLE_BLOCK:
                            flush()
                            block_start += SAMPLE_BLOCK
                self.span.setdefault(e.path, (start, pos))
        flush()
        for k, c in comp.items():
            out[k] += len(c.flush())
        self.ratio: dict[tuple[int, tuple[str, int]], float] = {}
        glob = {c: sum(out[(g, c)] for g in range(n)) / max(1, sum(raw)) for c in configs}
        for g in range(n):
            for c in configs:
                self.ratio[(g, c)] = out[(g, c)] / raw[g] if raw[g] else glob[c]
        self.glob = glob

    def of(self, path: str, config: tuple[str, int]) -> float:
        """The ratio for ``path``'s bytes: its granules' ratios weighted by how much of it each holds."""
        key = (path, config)
        r = self._of.get(key)
        if r is None:
            span = self.span.get(path)
            if span is None:
                r = self.glob[config]
            else:
                a, b = span
                b = max(b, a + 1)
                acc = 0.0
                for g in range(a // self.granule_bytes, min((b - 1) // self.granule_bytes, self.n - 1) + 1):
                    lo, hi = max(a, g * self.granule_bytes), min(b, (g + 1) * self.granule_bytes)
                    if g == self.n - 1:
                        hi = b
                    acc += max(0, hi - lo) * self.ratio[(g, config)]
                r = acc / (b - a)
            self._of[key] = r
        return r

    def describe(self) -> str:
        if self.stride == 1:
            return (f"every byte of the kept files' tar stream ({self.total / 1e6:.1f} MB) compressed per codec and "
                    f"level in {math.ceil(self.total / self.granule_bytes)} granules; layer sizes summed per entry")
        return (f"a deterministic sample: every {self.stride}th 256 KiB block of the kept files' tar stream "
                f"({self.sampled / 1e6:.1f} of {self.total / 1e6:.1f} MB) compressed per codec and level, ratios per "
                f"granule of {self.granule_bytes / 1e6:.1f} MB; layer sizes summed per entry")


_HEADER_LEN: dict[tuple, int] = {}


def _header_len(e: OutEntry) -> int:
    key = (e.path, e.kind, e.size, e.linkname, bool(e.xattrs), e.uname, e.gname, e.mtime)
    n = _HEADER_LEN.get(key)
    if n is None:
        n = _HEADER_LEN[key] = len(tar_header(e))
    return n


def _entry_size(e: OutEntry) -> int:
    size = e.size if e.kind is Kind.FILE else 0
    return _header_len(e) + size + (-size % 512)


# ---------------------------------------------------------------- search


def _layer_estimate(pl: PlannedLayer, codec: str, level: int | None, ratios: Ratios) -> tuple[LayerEstimate, list]:
    """The layer's sizes, and (path, content offset, size) of its regular files."""
    u = 0
    comp = 0.0
    files = 0
    locs = []
    cfg = ("gzip" if codec == "estargz" else codec, level)
    for e in pl.entries:
        s = _entry_size(e)
        if e.kind is Kind.FILE:
            files += 1
            locs.append((e.path, u + _header_len(e), e.size))
        if codec != "none":
            comp += s * ratios.of(e.path, cfg)  # type: ignore[arg-type]
        u += s
    u += 1024  # end-of-archive blocks
    if codec == "none":
        comp = u
    else:
        comp += 64  # header, trailer and the end blocks compressed
    if codec == "estargz":
        comp += ESTARGZ_PER_FILE * files + ESTARGZ_TOC_PER_ENTRY * (len(pl.entries) + 2) + 51
    return LayerEstimate(int(round(comp)), u, len(pl.entries), files), locs


def _startup(profile):
    from imgopt.simulate.api import DEFAULT_READY_TIME
    from imgopt.simulate.model import Startup

    if profile is None or profile.ready_time is None:
        return Startup(DEFAULT_READY_TIME, [], "assumed")
    files = sorted(((f.path, float(f.first_access), int(f.size or 0)) for f in profile.startup_files()),
                   key=lambda x: (x[1], x[0]))
    return Startup(float(profile.ready_time), files, "profile")


def predict(scan, layers: list[LayerEstimate], locs: list[list] | None, codec: str, target: Target, host,
            startup) -> tuple[float, float, float, float]:
    """(pull, total, network, cpu) seconds the simulator predicts for these layers."""
    from imgopt.simulate.model import simulate
    from imgopt.simulate.workload import FileLoc, LayerWork, Workload

    sim_codec = "gzip" if codec == "estargz" else codec
    lw = [LayerWork(i, "", sim_codec, l.compressed_bytes, l.uncompressed_bytes, l.entries, l.files, True)
          for i, l in enumerate(layers)]
    files = None
    if locs is not None:
        files = {"/" + p: FileLoc(i, off, size) for i, ll in enumerate(locs) for p, off, size in ll}
    img = scan.image
    w = Workload(img.name, "", "", 300 + 150 * len(layers), len(img.config_blob), lw, "candidate", [], files)
    r = simulate(w, target.registry, target.client, host, startup)
    return r.pull, r.total, r.breakdown.get("network", 0.0), r.breakdown.get("cpu", 0.0)


def _key(c: LayoutCandidate) -> tuple:
    return (round(c.total_seconds, 3), len(c.layers), CODECS.index((c.codec, c.level)))


def search(scan, plan, profile, target: Target, store: ContentStore, host=None,
           min_gain: float = MIN_GAIN) -> Optimization:
    """Every candidate predicted; the least pull + start chosen if it beats the default by ``min_gain``."""
    from imgopt.simulate import profiles as P

    host = host or P.load("host", P.default_host_name())
    client = target.client
    startup = _startup(profile)
    lazy = client.unpack == "lazy"
    if lazy and not startup.files:
        raise BadInput("--optimize-for", f"the lazy client {client.name} needs the startup files of a trace profile")
    codecs = codec_candidates(client)
    splits = split_candidates(client)
    plans = {}
    for s, r in splits:
        layers = plan_layers(scan, plan, "startup-first", store, startup_layers=s, rest_layers=r)
        got = (sum(1 for pl in layers if pl.prioritized), sum(1 for pl in layers if not pl.prioritized))
        if got == (s, r):  # fewer files than layers asked for: the same as a smaller split
            plans[(s, r)] = layers
    store.prepare(wanted_content(scan.tree, list(plan.keep)) | store.requested)
    ratios = Ratios(plans[(1, 1)], _configs(codecs))
    candidates: list[LayoutCandidate] = []
    for codec, level in codecs:
        for (s, k), planned in plans.items():
            ests = [_layer_estimate(pl, codec, level, ratios) for pl in planned]
            layers = [e for e, _ in ests]
            pull, total, net, cpu = predict(scan, layers, [l for _, l in ests] if lazy else None, codec, target,
                                            host, startup)
            candidates.append(LayoutCandidate(codec, level, s, k, layers, sum(l.compressed_bytes for l in layers),
                                              round(pull, 4), round(total, 4), round(net, 4), round(cpu, 4)))
    best = min(candidates, key=_key)
    default = next((c for c in candidates if (c.codec, c.level, c.startup_layers, c.rest_layers) == DEFAULT), None)
    chosen = best if default is None or best is default or \
        beats(best.total_seconds, default.total_seconds, min_gain) else default
    gain = round(default.total_seconds - chosen.total_seconds, 4) if default else None
    return Optimization(target.spec, target.registry.name, client.name, host.name, startup.ready_time,
                        ratios.describe(), candidates, chosen, default, gain,
                        _why(best, chosen, default, candidates, min_gain), best, min_gain)


def beats(predicted: float, default_predicted: float, min_gain: float) -> bool:
    """Whether a layout predicted ``predicted`` s replaces the default predicted ``default_predicted`` s: at least
    ``min_gain`` (a fraction) faster, to the half millisecond."""
    return predicted <= default_predicted * (1.0 - min_gain) + 5e-4


def _why(best: LayoutCandidate, chosen: LayoutCandidate, default: LayoutCandidate | None,
         candidates: list[LayoutCandidate], min_gain: float) -> str:
    ties = [c for c in candidates if c is not best and round(c.total_seconds, 3) == round(best.total_seconds, 3)]
    s = (f"{best.label}: the least predicted pull + start of {len(candidates)} candidates, "
         f"{best.total_seconds:.3f} s; its critical path waits {best.network_seconds:.3f} s on the network and "
         f"{best.cpu_seconds:.3f} s on decompress+extract")
    if default is not None and default is not best:
        s += (f" (default {default.label}: {default.total_seconds:.3f} s, {default.network_seconds:.3f} s network, "
              f"{default.cpu_seconds:.3f} s CPU)")
    elif default is best:
        s += "; the default layout is already the best predicted"
    if ties:
        s += f"; tied with {len(ties)} other(s) within 1 ms, broken by fewer layers, then codec order"
    if default is not None and chosen is default and best is not default:
        s += (f"; the default is kept: {100 * predicted_gain(best, default):.1f} % predicted gain is less than "
              f"the {100 * min_gain:.0f} % the prediction must win by (--min-gain)")
    return s


def optimize(scan, plan, profile, opts, store: ContentStore):
    """(Optimization, the MinifyOptions with the chosen codec, level and split)."""
    o = search(scan, plan, profile, parse_target(opts.optimize_for), store, min_gain=opts.min_gain)
    c = o.chosen
    return o, dataclasses.replace(opts, codec=c.codec, level=c.level, startup_layers=c.startup_layers,
                                  rest_layers=c.rest_layers)


__all__ = ["parse_target", "search", "optimize", "predict", "codec_candidates", "split_candidates", "Target",
           "CODECS", "DEFAULT", "SAMPLE_BUDGET", "MIN_GAIN", "beats"]
