"""``imgopt analyze``: where an image's bytes go, what is waste, what is junk.

Library entry point::

    import imgopt

    result = imgopt.analyze("docker-archive:app.tar")   # AnalysisResult, schema imgopt.analysis/v1

or, on an image already open, :func:`analyze` here (``imgopt.analyze.analyze(img, AnalyzeOptions())``).

Every layer is read once into a summary (:mod:`imgopt.analyze.summary`),
kept in the layer cache (:mod:`imgopt.cache`) by diffID; an image's scan is
merged from its layers' summaries (:mod:`imgopt.analyze.merge`) and the
analyses are walks over the merged tree and records.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from imgopt.analyze import result as R

if TYPE_CHECKING:  # the analyses are imported where they run: a cached analysis needs none of them
    from imgopt.analyze.junk import JunkRule
    from imgopt.analyze.scan import Scan
    from imgopt.image.model import Image

# bump when build_result's output changes for the same input (cached analyses are then recomputed)
RESULT_VERSION = 1


@dataclass
class AnalyzeOptions:
    dockerfile: str | None = None  # path, to tie layers to lines
    target: str | None = None  # Dockerfile stage (default: last)
    top: int = 20  # largest files / duplicate groups / hidden files listed
    rules: list[JunkRule] | None = None  # default: imgopt/data/junk/*.yaml
    jobs: int = 2
    progress: object | None = None
    verify: bool = True  # SHA-256 of layers read in place (streamed ones are always verified)
    paths: list[str] = field(default_factory=list)  # report the history of these paths
    # the layer cache (imgopt.cache): None or True -> the default directory, a path, False -> none,
    # or an open imgopt.cache.store.LayerCache
    cache: object = None


def analyze(image: Image, opts: AnalyzeOptions | None = None, *, counter=None) -> R.AnalysisResult:
    """Summarize each layer once (or take its summary from the layer cache), merge, then run the analyses.

    A finished analysis is cached too, keyed by the image's manifest and the
    options; ``counter(n)`` is told of every blob byte read.
    """
    from imgopt.analyze.layers import image_summaries

    opts = opts or AnalyzeOptions()
    cache = _cache(opts.cache)
    key = result_key(image, opts) if cache is not None else None
    if key is not None:
        doc = cache.get_result(key)  # type: ignore[union-attr]
        if doc is not None:
            return result_from_json(doc, image.name)
    from imgopt.analyze.scan import worker_pool

    pool = worker_pool(opts.jobs)
    try:
        summaries = image_summaries(image, cache=cache, pool=pool, verify=opts.verify,
                                    progress=opts.progress, counter=counter)  # type: ignore[arg-type]
        result = analyze_summaries(image, summaries, opts, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if key is not None and all(s.verified for s in summaries):
        doc = result.to_json()
        doc["image"]["reference"] = ""
        cache.put_result(key, doc)  # type: ignore[union-attr]
    return result


def analyze_summaries(image: Image, summaries, opts: AnalyzeOptions, pool=None) -> R.AnalysisResult:
    """The analysis of ``image`` merged from its layer summaries (no blob is read)."""
    from imgopt.analyze.merge import Done, dive_from_summaries, merged_scan

    links = [l.archive_link for l in image.layers]
    dive = pool.submit(dive_from_summaries, summaries, links) if pool is not None else None
    scan = merged_scan(image, summaries)
    if dive is None:
        dive = Done(dive_from_summaries(summaries, links))
    return build_result(scan, opts, dive)


def _cache(option):
    if option is False:
        return None
    if hasattr(option, "get_layer"):
        return option
    from imgopt.cache import open_cache

    return open_cache(option)  # type: ignore[arg-type]


def result_key(image: Image, opts: AnalyzeOptions) -> str | None:
    """What an analysis depends on, hashed: the image's manifest and config, how its layers are stored,
    the options that shape the result, the junk classes and the code's versions.  None: do not cache."""
    return key_of(image.manifest.digest, image.manifest.config.digest,
                  [(l.digest, l.compression.value, l.archive_link, l.descriptor.media_type) for l in image.layers],
                  opts)


def key_of(manifest_digest: str, config_digest: str, layers: list[tuple[str, str, bool, str]],
           opts: AnalyzeOptions) -> str | None:
    """:func:`result_key` from the manifest alone: its digest, the config's, and per layer (digest, codec,
    stored as a link to an identical layer, media type) -- what a scan knows before it reads a config."""
    from imgopt import __version__
    from imgopt.analyze.summary import SUMMARY_SCHEMA

    parts: dict[str, object] = {
        "result": RESULT_VERSION, "summary": SUMMARY_SCHEMA, "schema": R.SCHEMA, "imgopt": __version__,
        "manifest": manifest_digest, "config": config_digest, "layers": [list(l) for l in layers],
        "top": opts.top, "paths": list(opts.paths), "rules": _rules_fingerprint(opts.rules),
    }
    if opts.dockerfile:
        try:
            with open(opts.dockerfile, "rb") as f:
                parts["dockerfile"] = [hashlib.sha256(f.read()).hexdigest(), opts.target]
        except OSError:
            return None  # build_result reports it
    return "analysis:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


_BUILTIN_RULES_FINGERPRINT: list[str] = []


def _rules_fingerprint(rules: list[JunkRule] | None) -> str:
    if rules is None and _BUILTIN_RULES_FINGERPRINT:
        return _BUILTIN_RULES_FINGERPRINT[0]
    h = hashlib.sha256()
    if rules is None:
        from imgopt.data import data_dir  # the built-in classes' files (imgopt.analyze.junk.RULES_DIR)

        for f in sorted(data_dir("junk").iterdir(), key=lambda p: p.name):
            if f.name.endswith((".yaml", ".yml")):
                h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    else:
        for r in rules:
            h.update(json.dumps([r.id, r.title, r.group, r.why, r.safe_to_remove, r.paths, r.exclude, r.detector]
                                ).encode())
    if rules is None:
        _BUILTIN_RULES_FINGERPRINT.append(h.hexdigest())
    return h.hexdigest()


def result_from_json(doc: dict, reference: str) -> R.AnalysisResult:
    from imgopt.schema import from_json

    res = from_json(R.AnalysisResult, doc)
    res.image.reference = reference
    return res


def _abs(path: str) -> str:
    """Paths in results are absolute, as inside a container."""
    return "/" + path if not path.startswith("/") else path


def build_result(scan: Scan, opts: AnalyzeOptions, dive_future=None) -> R.AnalysisResult:
    from imgopt.analyze.dive_compat import dive_compat
    from imgopt.analyze.duplicates import find_duplicates
    from imgopt.analyze.entrypoint import analyze_entrypoint
    from imgopt.analyze.treestats import tree_stats

    image = scan.image
    tree = scan.tree
    cfg = image.config
    env = cfg.env_dict

    stats = tree_stats(tree, env, opts.rules, top=opts.top)
    ep = analyze_entrypoint(scan)
    dups = find_duplicates(scan)
    dive = dive_future.result() if dive_future is not None else dive_compat([ls.dive for ls in scan.layers])

    hidden_from: dict[int, int] = defaultdict(int)
    hidden_by: dict[int, int] = defaultdict(int)
    by_reason: dict[str, int] = defaultdict(int)
    for h in tree.hidden:
        hidden_from[h.origin] += h.size
        hidden_by[h.by] += h.size
        by_reason[h.reason.value] += h.size
    junk_by_layer: dict[int, int] = defaultdict(int)
    for c in stats.junk:
        for layer, b in c.layers.items():
            junk_by_layer[layer] += b

    origins = _dockerfile_origins(opts, image)
    history = image.layer_history()
    layers = []
    for ls, layer, h in zip(scan.layers, image.layers, history):
        ch = ls.changes
        layers.append(R.LayerReport(
            index=ls.index, digest=layer.digest, diff_id=layer.diff_id, media_type=layer.descriptor.media_type,
            compression=layer.compression.value, compressed_bytes=layer.size, uncompressed_bytes=ls.tar_bytes,
            file_bytes=ch.file_bytes, entries=ch.entries, added=ch.added, modified=ch.modified, removed=ch.removed,
            hidden_later_bytes=hidden_from[ls.index], hides_bytes=hidden_by[ls.index],
            junk_bytes=junk_by_layer[ls.index], created_by=h.created_by if h else None,
            instruction=h.instruction if h else None, dockerfile=origins[ls.index] if origins else None,
            dive_size_bytes=dive.layer_sizes[ls.index],
        ))

    hidden_top = sorted(tree.hidden, key=lambda h: (-h.size, h.path))[: opts.top]

    summary = R.Summary(
        compressed_bytes=sum(l.size for l in image.layers),
        uncompressed_bytes=sum(ls.tar_bytes for ls in scan.layers),
        stored_file_bytes=sum(ls.changes.file_bytes for ls in scan.layers),
        final_bytes=stats.final_bytes, final_files=stats.final_entries,
        removable_junk_bytes=stats.removable_junk_bytes, possibly_removable_bytes=stats.possibly_removable_bytes,
        exact_waste_bytes=sum(h.size for h in tree.hidden), duplicate_bytes=dups.visible_duplicate_bytes,
        entrypoint_bytes=ep.bytes, dive_efficiency=dive.efficiency, dive_wasted_bytes=dive.wasted_bytes,
    )
    problems = [R.Problem(layer, _abs(path), prob) for layer, path, prob in scan.problems]
    for ch in tree.layers:
        problems += [R.Problem(ch.index, _abs(p), prob) for p, prob in ch.problems]

    return R.AnalysisResult(
        image=R.ImageInfo(
            reference=image.name, manifest_digest=image.manifest.digest, config_digest=image.config_digest,
            platform=str(cfg.platform), layers=len(image.layers), entrypoint=cfg.entrypoint, cmd=cfg.cmd,
            workdir=cfg.workdir, user=cfg.user, env=cfg.env, exposed_ports=cfg.exposed_ports,
        ),
        summary=summary,
        layers=layers,
        waste=R.Waste(
            exact_bytes=summary.exact_waste_bytes, by_reason=dict(sorted(by_reason.items())),
            top=[R.HiddenFile(_abs(h.path), h.size, h.origin, h.by, h.reason.value) for h in hidden_top],
            dive_efficiency=dive.efficiency, dive_wasted_bytes=dive.wasted_bytes,
            dive_user_wasted_ratio=dive.user_wasted_percent, dive_size_bytes=dive.size_bytes,
            dive_files=[{"count": f.count, "size_bytes": f.size_bytes, "path": f.path} for f in dive.files[: opts.top]],
        ),
        junk=[R.JunkClassReport(c.id, c.title, c.group, c.why, c.safe_to_remove, c.bytes, c.files,
                                [R.JunkExample(_abs(e.path), e.size, e.layer) for e in c.examples],
                                {str(k): v for k, v in sorted(c.layers.items())})
              for c in stats.junk],
        duplicates=R.Duplicates(
            reclaimable_bytes=dups.reclaimable_bytes, visible_duplicate_bytes=dups.visible_duplicate_bytes,
            groups=[R.DuplicateGroupReport(g.size, g.digest, [R.DuplicateCopy(_abs(c.path), c.layer, c.visible)
                                                               for c in g.copies], g.reclaimable)
                    for g in dups.groups[: opts.top]],
            files_hashed=dups.files_hashed, bytes_hashed=dups.bytes_hashed,
        ),
        largest=[R.LargeFile(_abs(p), size, layer, cls) for p, size, layer, cls in stats.largest],
        entrypoint=R.Entrypoint(
            argv=ep.argv, shell_form=ep.shell_form, executable=ep.executable, bytes=ep.bytes,
            files=[R.EntrypointFile(f.path, f.size, f.reason, f.by) for f in ep.files],
            missing=[R.EntrypointMissing(m.name, m.reason, m.by) for m in ep.missing],
            edges=[list(e) for e in ep.edges],
        ),
        problems=problems,
        paths={_abs(p): path_history(scan, p) for p in opts.paths},
        directories=stats.directories,
    )


def path_history(scan: Scan, path: str) -> list[R.PathEvent]:
    """Which layer added, changed, deleted or hid ``path`` (from each layer's own entries)."""
    from imgopt.image.tarstream import OPAQUE_MARKER, WHITEOUT_PREFIX

    rel = path.strip("/")
    ancestors = [rel[:i] for i, c in enumerate(rel) if c == "/"]
    history = scan.image.layer_history()
    events: list[R.PathEvent] = []
    present = False
    for ls, h in zip(scan.layers, history):
        instr = h.instruction if h else None
        touched = None
        size = 0
        for p, sz, isdir in ls.dive:
            d, _, base = p.rpartition("/")
            if p == rel:
                touched, size = ("modified" if present else "added"), (0 if isdir else sz)
            elif base.startswith(WHITEOUT_PREFIX) and base != OPAQUE_MARKER:
                target = f"{d}/{base[len(WHITEOUT_PREFIX):]}" if d else base[len(WHITEOUT_PREFIX):]
                if present and (target == rel or rel.startswith(target + "/")):
                    touched, size = "deleted", 0
            elif base == OPAQUE_MARKER and present and (d in ancestors or (not d and rel)) and touched is None:
                touched, size = "hidden (opaque directory)", 0
        if touched:
            events.append(R.PathEvent(ls.index, touched, size, instr))
            present = touched in ("added", "modified")
    return events


def _dockerfile_origins(opts: AnalyzeOptions, image: Image) -> list[R.DockerfileRef | None] | None:
    if not opts.dockerfile:
        return None
    from imgopt.dockerfile import map_layers, parse_dockerfile
    from imgopt.errors import BadInput

    try:
        text = open(opts.dockerfile, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        raise BadInput(opts.dockerfile, "no such file") from None
    except IsADirectoryError:
        raise BadInput(opts.dockerfile, "is a directory, not a Dockerfile") from None
    df = parse_dockerfile(text, opts.dockerfile)
    origins = map_layers(df, image.config.history, len(image.layers), opts.target)
    out: list[R.DockerfileRef | None] = []
    for o in origins:
        if o is None:
            out.append(None)
        else:
            out.append(R.DockerfileRef(o.line, o.end_line, o.text))
    return out


__all__ = ["analyze", "analyze_summaries", "AnalyzeOptions", "build_result", "result_key", "key_of", "result_from_json"]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.analyze(...) runs imgopt.api.analyze
