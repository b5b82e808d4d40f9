"""``imgopt analyze``: where an image's bytes go, what is waste, what is junk.

Library entry point::

    import imgopt

    result = imgopt.analyze("docker-archive:app.tar")   # AnalysisResult, schema imgopt.analysis/v1

or, on an image already open, :func:`analyze` here (``imgopt.analyze.analyze(img, AnalyzeOptions())``).

Every layer is read once (see :mod:`imgopt.analyze.scan`); the analyses are
walks over the resulting tree and records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from imgopt.analyze import result as R
from imgopt.analyze.directories import directory_sizes
from imgopt.analyze.dive_compat import dive_compat
from imgopt.analyze.duplicates import find_duplicates, hash_in_workers
from imgopt.analyze.entrypoint import analyze_entrypoint
from imgopt.analyze.junk import JunkRule, find_junk
from imgopt.analyze.scan import Scan, scan_image, worker_pool
from imgopt.image.model import Image
from imgopt.image.tarstream import Kind


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


def analyze(image: Image, opts: AnalyzeOptions | None = None) -> R.AnalysisResult:
    """Scan once, then run the analyses; dive's walk runs in a worker process
    beside the others (it only needs the per-layer entry lists)."""
    opts = opts or AnalyzeOptions()
    pool = worker_pool(opts.jobs)
    try:
        scan = scan_image(image, progress=opts.progress, jobs=opts.jobs, pool=pool,  # type: ignore[arg-type]
                          verify=opts.verify)
        try:
            dive = pool.submit(dive_compat, [ls.dive for ls in scan.layers]) if pool else None
            hashes = hash_in_workers(scan, pool)
            return build_result(scan, opts, dive, hashes)
        finally:
            scan.close()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _abs(path: str) -> str:
    """Paths in results are absolute, as inside a container."""
    return "/" + path if not path.startswith("/") else path


def build_result(scan: Scan, opts: AnalyzeOptions, dive_future=None, hashes=None) -> R.AnalysisResult:
    image = scan.image
    tree = scan.tree
    cfg = image.config
    env = cfg.env_dict

    junk = find_junk(tree, env, opts.rules)
    ep = analyze_entrypoint(scan)
    if hashes is not None:
        hashes()  # digests computed by the workers meanwhile
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
    for c in junk.classes:
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

    files = [(p, n) for p, n in tree.walk() if n.kind is not Kind.DIR]
    final_bytes = sum(n.size for _, n in files if n.kind is Kind.FILE)
    largest = sorted(((p, n) for p, n in files if n.kind is Kind.FILE), key=lambda x: (-x[1].size, x[0]))[: opts.top]
    hidden_top = sorted(tree.hidden, key=lambda h: (-h.size, h.path))[: opts.top]

    summary = R.Summary(
        compressed_bytes=sum(l.size for l in image.layers),
        uncompressed_bytes=sum(ls.tar_bytes for ls in scan.layers),
        stored_file_bytes=sum(ls.changes.file_bytes for ls in scan.layers),
        final_bytes=final_bytes, final_files=len(files) + sum(1 for _, n in tree.walk() if n.kind is Kind.DIR),
        removable_junk_bytes=junk.removable_bytes, possibly_removable_bytes=junk.possibly_removable_bytes,
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
              for c in junk.classes],
        duplicates=R.Duplicates(
            reclaimable_bytes=dups.reclaimable_bytes, visible_duplicate_bytes=dups.visible_duplicate_bytes,
            groups=[R.DuplicateGroupReport(g.size, g.digest, [R.DuplicateCopy(_abs(c.path), c.layer, c.visible)
                                                               for c in g.copies], g.reclaimable)
                    for g in dups.groups[: opts.top]],
            files_hashed=dups.files_hashed, bytes_hashed=dups.bytes_hashed,
        ),
        largest=[R.LargeFile(_abs(p), n.size, n.layer, junk.assignment.get(p)) for p, n in largest],
        entrypoint=R.Entrypoint(
            argv=ep.argv, shell_form=ep.shell_form, executable=ep.executable, bytes=ep.bytes,
            files=[R.EntrypointFile(f.path, f.size, f.reason, f.by) for f in ep.files],
            missing=[R.EntrypointMissing(m.name, m.reason, m.by) for m in ep.missing],
            edges=[list(e) for e in ep.edges],
        ),
        problems=problems,
        paths={_abs(p): path_history(scan, p) for p in opts.paths},
        directories=directory_sizes(tree, junk.assignment),
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


__all__ = ["analyze", "AnalyzeOptions", "build_result"]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.analyze(...) runs imgopt.api.analyze
