"""``imgopt minify``: a slim image that keeps what the app needs, startup files first.

    scan ─► keep plan ─► layer layout ─► writers (gzip / zstd / eStargz) ─► slim Image
                ▲                                                          │
                └──── paths the failing probe looked up ◄── verify ◄───────┘

Library entry points: ``imgopt.minify(image, profile, SlimOptions(...))`` /
``imgopt.slim(...)`` (the whole command: :mod:`imgopt.minify.pipeline`),
:func:`plan_and_build` (no verification) and
:func:`imgopt.minify.verify.minify_verified` (the loop above).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from imgopt import __version__
from imgopt.atomic import scratch_dir
from imgopt.analyze.junk import find_junk
from imgopt.analyze.scan import Scan
from imgopt.errors import BadInput
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import Compression
from imgopt.image.model import Image, ImageConfig, Layer, Manifest, canonical_json, descriptor_for
from imgopt.image.tarstream import Kind
from imgopt.minify.keep import KeepPlan, plan_keep
from imgopt.minify.optimize import MIN_GAIN
from imgopt.minify.layout import LAYOUTS, ContentStore, PlannedLayer, plan_layers, wanted_content
from imgopt.minify.writer import write_estargz_layer, write_plain_layer
from imgopt.trace.profile import AccessProfile

CODECS = ("gzip", "zstd", "estargz", "none")


@dataclass
class MinifyOptions:
    layout: str = "startup-first"
    codec: str = "gzip"
    level: int | None = None
    keep_all: bool = False  # reorder only: nothing removed
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    base_layers: int | None = None  # keep-base: how many leading layers are the base
    startup_layers: int = 1  # startup-first: the startup files as this many layers, small first
    rest_layers: int = 1  # startup-first: the files after the startup files as this many layers, small first
    # "REGISTRY[,CLIENT]" (simulator profiles): codec, level and rest_layers are chosen by
    # predicting each candidate's pull + start (imgopt.minify.optimize); the three above are ignored
    optimize_for: str | None = None
    # --optimize-for keeps the default layout unless a candidate is predicted this much faster (a fraction)
    min_gain: float = MIN_GAIN

    def check(self) -> None:
        if self.optimize_for is not None:
            from imgopt.minify.optimize import parse_target

            parse_target(self.optimize_for)
            if self.layout != "startup-first":
                raise BadInput("--optimize-for", f"chooses the split of the startup-first layout; "
                                                 f"it cannot be combined with --layout {self.layout}")
        if not 0.0 <= self.min_gain < 1.0:
            raise BadInput("--min-gain", f"{100 * self.min_gain:g} %: must be at least 0 and below 100")
        if self.rest_layers < 1 or self.startup_layers < 1:
            raise BadInput("startup_layers/rest_layers", "must be at least 1")
        if self.layout not in LAYOUTS:
            raise BadInput("--layout", f"unknown layout {self.layout!r} (choose from {', '.join(LAYOUTS)})")
        if self.codec not in CODECS:
            raise BadInput("--compress", f"unknown codec {self.codec!r} (choose from {', '.join(CODECS)})")
        if self.level is not None:
            Compression("gzip" if self.codec == "estargz" else self.codec).check_level(self.level)


@dataclass
class Removed:
    path: str  # absolute
    size: int
    layer: int
    junk_class: str | None


@dataclass
class SlimImage:
    image: Image
    plan: KeepPlan
    removed: list[Removed]
    kept_files: int
    kept_bytes: int
    original_files: int
    original_bytes: int
    optimization: object = None  # imgopt.minify.result.Optimization when --optimize-for chose the layout


def removed_paths(scan: Scan, plan: KeepPlan) -> list[Removed]:
    junk = find_junk(scan.tree, scan.image.config.env_dict)
    out = []
    for p, node in scan.tree.walk():
        if p in plan.keep or node.is_dir:
            continue
        out.append(Removed("/" + p, node.size if node.kind is Kind.FILE else 0, node.layer, junk.assignment.get(p)))
    return out


def plan_and_build(scan: Scan, profile: AccessProfile | None, opts: MinifyOptions, workdir: str,
                   extra_includes: list[str] | None = None) -> SlimImage:
    """Plan the keep set, lay out and write the layers; return the slim image."""
    opts.check()
    plan = plan_keep(scan, profile, keep_all=opts.keep_all, includes=opts.includes, excludes=opts.excludes,
                     repairs=extra_includes or [])
    store = ContentStore(scan, workdir)
    optimization = None
    if opts.optimize_for is not None:
        from imgopt.minify.optimize import optimize

        optimization, opts = optimize(scan, plan, profile, opts, store)
    # eStargz: every layer must carry a TOC and its startup files before the prefetch
    # landmark, so keep-base cannot pass the base through as it is
    planned = plan_layers(scan, plan, opts.layout, store, base_layers=opts.base_layers,
                          reencode_base=opts.codec == "estargz", startup_layers=opts.startup_layers,
                          rest_layers=opts.rest_layers)
    kept = [p for p in plan.keep]
    store.prepare(wanted_content(scan.tree, kept) | store.requested)
    image = assemble(scan, planned, opts, workdir)
    files = [(p, n) for p, n in scan.tree.walk() if not n.is_dir]
    kept_files = [(p, n) for p, n in files if p in plan.keep]
    return SlimImage(image, plan, removed_paths(scan, plan), len(kept_files),
                     sum(n.size for _, n in kept_files if n.kind is Kind.FILE), len(files),
                     sum(n.size for _, n in files if n.kind is Kind.FILE), optimization)


def _write(pl: PlannedLayer, opts: MinifyOptions, workdir: str, subject: str) -> Layer:
    if opts.codec == "estargz":
        return write_estargz_layer(pl.entries, pl.prioritized, opts.level, workdir, subject).layer
    return write_plain_layer(pl.entries, Compression(opts.codec), opts.level, workdir, subject).layer


def assemble(scan: Scan, planned: list[PlannedLayer], opts: MinifyOptions, workdir: str) -> Image:
    src = scan.image
    layers: list[Layer] = []
    history: list[dict] = []
    orig_hist = [h for h in (src.config.raw.get("history") or []) if isinstance(h, dict)]
    created = src.config.raw.get("created")
    # the base's layers (passed through, or re-encoded with every entry): their history
    # entries stay, empty ones between them too; a re-encoded one's comment says so
    base = [pl for pl in planned if pl.passthrough is not None or pl.reencoded is not None]
    seen = 0
    for h in orig_hist:
        if seen == len(base):
            break
        if not h.get("empty_layer"):
            if base[seen].reencoded is not None:
                h = {**h, "comment": f"re-encoded by imgopt {__version__} as eStargz, startup files first"}
            seen += 1
        history.append(h)
    for pl in base[seen:]:  # the source had fewer history entries than layers: one per layer still
        history.append({"created_by": "base layer without a history entry in the source image",
                         "comment": f"imgopt {__version__}"})
    for i, pl in enumerate(planned):
        if pl.passthrough is not None:
            layers.append(pl.passthrough)
            continue
        layers.append(_write(pl, opts, workdir, f"slim layer {i}"))
        if pl.reencoded is not None:
            continue
        how = f"--optimize-for {opts.optimize_for} (chose --compress {opts.codec}" + \
            (f" --level {opts.level}" if opts.level is not None else "") + ")" if opts.optimize_for \
            else f"--compress {opts.codec}"
        h = {"created_by": f"imgopt minify --layout {opts.layout} {how}: {pl.comment}",
             "comment": f"imgopt {__version__}"}
        if created:
            h = {"created": created, **h}
        history.append(h)
    raw = copy.deepcopy(src.config.raw)
    raw["rootfs"] = {"type": "layers", "diff_ids": [l.diff_id for l in layers]}
    raw["history"] = history
    cfg = ImageConfig(raw)
    blob = cfg.serialize()
    descs = []
    for l in layers:
        d = l.descriptor
        if d.media_type not in (mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.OCI_LAYER_TAR):
            d = descriptor_for(b"", mt.layer_media_type("oci", l.compression))
            d = type(l.descriptor)(mt.layer_media_type("oci", l.compression), l.digest, l.size,
                                   dict(l.descriptor.annotations))
            l = _same_layer(l, d)
        descs.append(d)
    man = Manifest(mt.OCI_MANIFEST, descriptor_for(blob, mt.OCI_CONFIG), descs, dict(src.manifest.annotations))
    man.raw = canonical_json(man.to_json())
    final_layers = []
    for l, d in zip(layers, descs):
        if d is not l.descriptor:
            l = _same_layer(l, d)
        final_layers.append(l)
    from imgopt.minify.naming import slim_tags

    # never the source's tags: `docker load` would move them to the slim image
    return Image(man, cfg, blob, final_layers, f"{src.name} (slim)", slim_tags(src), None, src._closers)


def _same_layer(l: Layer, d) -> Layer:
    """``l`` under another descriptor (same bytes): what is known about it carries over."""
    nl = Layer(d, l.diff_id, l._opener, l.subject, l._compression, l.uncompressed_size)
    nl.local, nl.verified = l.local, l.verified
    return nl


def new_workdir(near: str | None = None) -> str:
    """Where minify builds layers: beside the destination ``near`` when possible (see :func:`imgopt.atomic.scratch_dir`)."""
    return scratch_dir(near, ".imgopt-minify-")


__all__ = ["MinifyOptions", "SlimImage", "plan_and_build", "assemble", "CODECS", "LAYOUTS"]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.minify(...) runs imgopt.api.minify
