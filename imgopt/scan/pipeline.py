"""``imgopt scan`` as a function: sources -> images -> distinct layers -> merges -> :class:`ScanResult`.

1. **List** the images behind the sources (:mod:`imgopt.scan.sources`), filter
   them (globs, newest N) and keep this shard's share (``--shard I/N``).
2. **Resolve** each image's manifest and config (threads; small requests), or
   take its finished record from the cache (keyed by manifest, options and
   versions: an unchanged registry is re-scanned from manifests alone, each
   asked for with the digest it had, ``If-None-Match``: :mod:`imgopt.cache.manifests`).
3. **Plan** (:mod:`imgopt.scan.engine`): the distinct layers not in the cache,
   deduplicated by diffID before anything runs (one :func:`~imgopt.scan.tasks.layer_task`
   each; local images, whose layers can only be read through the image, get one
   :func:`~imgopt.scan.tasks.open_task` for the layers they are first to hold),
   then one :func:`~imgopt.scan.tasks.merge_task` per distinct image.
4. **Run** the plan on the process pool or the Dask cluster; record failures
   per image (a layer that fails fails the images that use it, no more).
5. **Assemble** per-layer records and fleet totals (:mod:`imgopt.scan.fleet`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from imgopt.errors import BadInput, ImgoptError
from imgopt.scan import sources as S
from imgopt.scan.engine import DaskEngine, LocalEngine, Task
from imgopt.scan.fleet import assemble
from imgopt.scan.record import failed_record
from imgopt.scan.result import ImageRecord, ScanResult, ScanStats
from imgopt.scan.tasks import Env, ImageSpec, LayerDone, MergeDone, OpenDone, layer_task, merge_task, open_task, \
    spec_of

RECORD_VERSION = 1  # bump when a record's content changes for the same image and options
RESOLVE_THREADS = 8


@dataclass
class ScanOptions:
    from_file: str | None = None  # more sources, one per line
    repositories: list[str] = field(default_factory=list)  # repository globs (default: all)
    tags: list[str] = field(default_factory=list)  # tag globs (default: all)
    newest: int | None = None  # only the N most recently created tags of each repository
    shard: str | None = None  # "I/N": this shard's share of the images
    jobs: int = 0  # local worker processes (0: one per CPU)
    scheduler: str | None = None  # a Dask scheduler address (tcp://HOST:8786): run there instead
    cache: Any = None  # None/True: the default cache directory, a path, False: none
    worker_cache: Any = None  # Dask workers' cache (default: each worker's default directory)
    verify: bool = True
    top: int = 20  # per image analysis lists (as imgopt analyze --top)
    fleet_top: int = 10  # images and layers ranked in the fleet totals
    details: bool = False  # keep each image's whole analysis in its record
    registries: list[str] = field(default_factory=lambda: ["vpc", "public"])  # cold starts simulated ([]: none)
    client: str = "docker"
    platform: Any = None
    insecure: bool = False
    keychain: Any = None
    page_size: int | None = None  # registry list pages
    progress: Callable[[str, int, int], None] | None = None  # (what, done, total)
    warn: Callable[[str], None] | None = None


def run(sources: list[str], opts: ScanOptions | None = None) -> ScanResult:
    opts = opts or ScanOptions()
    t0 = time.monotonic()
    shard = S.parse_shard(opts.shard)
    if opts.newest is not None and opts.newest < 1:
        raise BadInput("--newest", "must be at least 1")
    names = S.expand(sources, opts.from_file)
    cands, errors = S.list_candidates(names, S.SourceOptions(opts.insecure, opts.keychain, opts.page_size))
    cands = S.filter_globs(cands, opts.repositories, opts.tags)
    if opts.newest is None:
        cands = [c for c in cands if S.in_shard(c, shard)]
    env = Env(cache=opts.cache, verify=opts.verify, insecure=opts.insecure, platform=opts.platform,
              keychain=opts.keychain, top=opts.top, details=opts.details, registries=list(opts.registries),
              client=opts.client)
    from imgopt.cache import open_cache

    cache = open_cache(opts.cache, warn=opts.warn)
    scheduler = opts.scheduler
    if scheduler:
        engine: Any = DaskEngine(scheduler, f"imgopt-scan-{uuid.uuid4().hex[:12]}")
    else:
        engine = LocalEngine(opts.jobs or os.cpu_count() or 2)
    try:
        return _run(names, cands, errors, shard, env, cache, engine, opts, t0)
    finally:
        engine.close()


def _run(names, cands, errors, shard, env: Env, cache, engine, opts: ScanOptions, t0: float) -> ScanResult:
    # the first image that is not in the cache starts the workers, while the rest are resolved
    specs, records, keys, cached = _resolve(cands, env, cache, on_miss=engine.prestart)
    if opts.newest is not None:
        created = {r: s.created for r, s in specs.items() if isinstance(s, ImageSpec)}
        created.update({r: d.get("created") for r, d in cached.items()})
        keep = {c.reference for c in S.newest(cands, opts.newest, lambda c: created.get(c.reference))}
        cands = [c for c in cands if c.reference in keep and S.in_shard(c, shard)]
        kept = {c.reference for c in cands}
        specs = {k: v for k, v in specs.items() if k in kept}
        records = {k: v for k, v in records.items() if k in kept}
        cached = {k: v for k, v in cached.items() if k in kept}
    env.push_gzip = bool(opts.registries) and any(c.registry is None for c in cands)
    if opts.scheduler:
        env.cache = opts.worker_cache if opts.cache is not False else False
        env.return_summaries = True
    state = _Plan(cands, specs, records, env, cache, local_cache=not opts.scheduler, keys=keys, cached=cached)
    tasks = state.tasks()
    if opts.progress:
        opts.progress("images", len(state.records), len(cands))
    engine.run(tasks, lambda k, r, e: state.done(k, r, e, opts.progress))
    images = state.finish()
    stats = ScanStats(
        seconds=round(time.monotonic() - t0, 3), engine=engine.name, images_listed=len(cands),
        images_cached=state.images_cached, images_merged=state.images_merged, layers_distinct=len(state.distinct),
        layers_cached=state.layers_cached, layers_read=state.layers_read, blob_bytes_read=state.read_bytes,
        task_retries=engine.retries, worker_peak_rss_bytes=state.peak_rss)
    return assemble(images, errors, sources=names, shard=opts.shard, stats=stats, top=opts.fleet_top)


# ------------------------------------------------------------------ resolving


def _resolve(cands: list[S.Candidate], env: Env, cache, on_miss: Callable[[], None] = lambda: None) \
        -> tuple[dict[str, Any], dict[str, ImageRecord], dict[str, str | None], dict[str, dict]]:
    """Per candidate: its ImageSpec (or, for daemon images, the Candidate itself: their open task reads them),
    failed images as records, record keys, and the records found in the cache.

    A registry image's record key comes from its manifest alone, so an image already in the
    cache costs one manifest request: its config is read only when it has to be merged.
    """
    specs: dict[str, Any] = {}
    records: dict[str, ImageRecord] = {}
    keys: dict[str, str | None] = {}
    cached: dict[str, dict] = {}

    def one(c: S.Candidate):
        if c.image_id is not None:
            return c, daemon_key(c.image_id, env), None  # docker-daemon: diffIDs known, saved by its open task
        registry = _registry_of(c)
        if registry is not None:
            got = _resolve_registry(c, registry, env, cache)
            if got[2] is None:
                on_miss()
            return got
        from imgopt.image.transports import open_image

        with open_image(c.reference, env.source()) as img:
            spec = spec_of(img, c.reference, c.repository, c.tag)
        return spec, record_key(spec, env), None

    with ThreadPoolExecutor(RESOLVE_THREADS) as pool:
        futs = [(c, pool.submit(one, c)) for c in cands]
        for c, fut in futs:
            try:
                spec, key, doc = fut.result()
            except ImgoptError as e:
                records[c.reference] = failed_record(c.reference, c.repository, c.tag, str(e))
                continue
            specs[c.reference], keys[c.reference] = spec, key
            if doc is not None:
                cached[c.reference] = doc
    return specs, records, keys, cached


def _resolve_registry(c: S.Candidate, registry: tuple[str, str], env: Env, cache):
    from imgopt.analyze import AnalyzeOptions, key_of
    from imgopt.cache.manifests import ManifestMemo
    from imgopt.image import mediatypes as mt
    from imgopt.image.model import Manifest
    from imgopt.image.transports import parse
    from imgopt.image.transports.registry import image_from_manifest, resolve_manifest
    from imgopt.scan.tasks import registry_client

    client = registry_client(registry, env)
    memo = ManifestMemo(cache) if cache is not None else None
    raw, media_type, index = resolve_manifest(client, parse(c.reference), env.platform, memo)
    man = Manifest.parse(raw, f"{c.reference} manifest", media_type or None)
    layers = [(d.digest, mt.LAYER_CODEC[d.media_type].value, False, d.media_type) for d in man.layers]
    base = key_of(man.digest, man.config.digest, layers, AnalyzeOptions(top=env.top))
    key = _key(base, env) if base else None
    doc = cache.get_result(key) if cache is not None and key is not None else None
    if doc is not None:
        return None, key, doc
    with image_from_manifest(client, raw, media_type, index) as img:
        img.name = c.reference
        return spec_of(img, c.reference, c.repository, c.tag, registry), key, None


def _registry_of(c: S.Candidate) -> tuple[str, str] | None:
    if c.registry is not None:
        return c.registry
    if c.reference.startswith("docker://"):  # an image named in a list
        from imgopt.image.transports import parse

        ref = parse(c.reference)
        return ref.host, ref.name
    return None


def record_key(spec: ImageSpec, env: Env) -> str | None:
    from imgopt.analyze import AnalyzeOptions, result_key

    base = result_key(spec.image(), AnalyzeOptions(top=env.top))
    return _key(base, env) if base else None


def daemon_key(image_id: str, env: Env) -> str:
    return _key(f"daemon:{image_id}:{env.platform}", env)


def _key(base: str, env: Env) -> str:
    from imgopt.simulate.profiles import default_host_name

    parts = [RECORD_VERSION, base, env.registries, env.client, env.details, default_host_name() if env.registries
             else None]
    return "scan-record:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def record_from_json(doc: dict, spec_ref: str, repository: str, tag: str, *, fresh: bool = False) -> ImageRecord:
    """The record in ``doc`` under this reference; ``fresh``: the document is this record's alone (just read
    from the cache), else it is copied first (records of one image under several tags share nothing)."""
    import copy

    from imgopt.schema import from_json

    rec = from_json(ImageRecord, doc if fresh else copy.deepcopy(doc))
    rec.reference, rec.repository, rec.tag = spec_ref, repository, tag
    if rec.analysis is not None:
        rec.analysis["image"]["reference"] = spec_ref
    return rec


# ------------------------------------------------------------------ planning


class _Plan:
    def __init__(self, cands: list[S.Candidate], specs: dict[str, Any], records: dict[str, ImageRecord],
                 env: Env, cache, local_cache: bool, keys: dict[str, str | None], cached: dict[str, dict]):
        self.cands = {c.reference: c for c in cands}
        self.specs = specs
        self.records = dict(records)
        self.env = env
        self.cache = cache
        self.local_cache = local_cache and cache is not None
        self.keys = dict(keys)  # reference -> record key
        self.same: dict[str, list[str]] = {}  # the reference merged -> others with the same record key
        self.distinct: set[str] = set()
        self.images_cached = self.images_merged = self.layers_cached = self.layers_read = 0
        self.read_bytes = self.peak_rss = 0
        for ref, doc in cached.items():  # records the resolve step already found
            c = self.cands[ref]
            self.records[ref] = record_from_json(doc, ref, c.repository, c.tag, fresh=True)
            self.images_cached += 1

    def _cached_record(self, ref: str, key: str | None) -> bool:
        if key is None or self.cache is None:
            return False
        doc = self.cache.get_result(key)
        if doc is None:
            return False
        c = self.cands[ref]
        try:
            self.records[ref] = record_from_json(doc, ref, c.repository, c.tag, fresh=True)
        except (KeyError, TypeError, ValueError):
            return False
        self.images_cached += 1
        return True

    def tasks(self) -> list[Task]:
        from imgopt.analyze.summary import SUMMARY_SCHEMA

        env = self.env
        pending: list[str] = []  # references that need a merge, in catalog order
        by_key: dict[str, str] = {}
        for ref, spec in self.specs.items():
            if ref in self.records:
                continue
            key = self.keys.get(ref)
            if self._cached_record(ref, key):
                continue
            if key is not None and key in by_key:  # another tag of the same image: merged once
                self.same.setdefault(by_key[key], []).append(ref)
                continue
            if key is not None:
                by_key[key] = ref
            pending.append(ref)

        def diff_ids(ref: str) -> list[str]:
            s = self.specs[ref]
            return [l.diff_id for l in s.layers] if isinstance(s, ImageSpec) else list(s.diff_ids)

        wanted = list(dict.fromkeys(d for ref in pending for d in diff_ids(ref)))
        self.distinct = set(wanted)
        known = self.cache.known_layers(wanted, SUMMARY_SCHEMA) if self.local_cache else set()
        if self.env.push_gzip and known:  # uncompressed layers also need their push size measured
            plain = {l.diff_id: l.digest for sp in self.specs.values() if isinstance(sp, ImageSpec)
                     for l in sp.layers if l.compression == "none"}
            known = {d for d in known if d not in plain or self._gzip_known(plain[d])}
        self.layers_cached = len(known)
        tasks: list[Task] = []
        owner: dict[str, str] = {}  # diff_id -> key of the task that summarizes it
        layer_tasks: dict[str, Task] = {}
        for ref in pending:  # registry layers first: one task per distinct diffID
            spec = self.specs[ref]
            if not isinstance(spec, ImageSpec) or spec.registry is None:
                continue
            for l in spec.layers:
                if l.diff_id in known or l.diff_id in owner:
                    continue
                key = f"layer-{l.diff_id}"
                owner[l.diff_id] = key
                layer_tasks[key] = Task(key, layer_task, (l, spec.registry, env), priority=0)
        opens: dict[str, Task] = {}
        for ref in pending:  # local images: one open task each that holds a layer first (daemon: always)
            spec = self.specs[ref]
            if isinstance(spec, ImageSpec) and spec.registry is not None:
                continue
            mine = [d for d in dict.fromkeys(diff_ids(ref)) if d not in known and d not in owner]
            if mine or not isinstance(spec, ImageSpec):
                key = f"open-{ref}"
                for d in mine:
                    owner[d] = key
                opens[ref] = Task(key, open_task, (ref, self.cands[ref].repository, self.cands[ref].tag, mine, env),
                                  priority=1)
        tasks += list(layer_tasks.values()) + list(opens.values())
        for ref in pending:
            spec = self.specs[ref]
            deps = list(dict.fromkeys(owner[d] for d in diff_ids(ref) if d in owner))
            if ref in opens and opens[ref].key not in deps:
                deps.insert(0, opens[ref].key)
            tasks.append(Task(f"merge-{ref}", merge_after, (spec if isinstance(spec, ImageSpec) else None,
                                                             ref in opens, env), deps=deps, priority=2))
        return tasks

    def _gzip_known(self, digest: str) -> bool:
        b = self.cache.get_blob(digest)
        return bool(b and b["push_gzip_bytes"] is not None)

    def done(self, key: str, result: Any, error: BaseException | None, progress) -> None:
        kind, _, name = key.partition("-")
        if kind in ("layer", "open"):
            dones: list[LayerDone] = []
            if error is None:
                self.peak_rss = max(self.peak_rss, result.rss)
                dones = result.layers if isinstance(result, OpenDone) else [result]
            for d in dones:
                if d.read_bytes:
                    self.layers_read += 1
                    self.read_bytes += d.read_bytes
                elif kind == "layer":
                    self.layers_cached += 1  # a worker's own cache had it (Dask)
            return
        ref = name
        c = self.cands[ref]
        if error is not None:
            msg = str(error) if isinstance(error, ImgoptError) else f"{type(error).__name__}: {error}"
            for r in [ref, *self.same.get(ref, [])]:
                cc = self.cands[r]
                self.records[r] = failed_record(r, cc.repository, cc.tag, msg)
        else:
            assert isinstance(result, MergeDone)
            self.peak_rss = max(self.peak_rss, result.rss)
            self.read_bytes += result.read_bytes
            self.images_merged += 1
            doc = result.record
            self.records[ref] = record_from_json(doc, ref, c.repository, c.tag)
            key = self.keys.get(ref)
            if self.cache is not None:
                if key is not None:
                    self.cache.put_result(key, doc)
                spec = self.specs.get(ref)  # a daemon image is known by its ID next time (no save)
                if isinstance(spec, S.Candidate) and doc.get("config_digest") == spec.image_id:
                    self.cache.put_result(daemon_key(spec.image_id, self.env), doc)
            for r in self.same.get(ref, []):
                cc = self.cands[r]
                self.records[r] = record_from_json(doc, r, cc.repository, cc.tag)
        if progress:
            progress("images", len(self.records), len(self.cands))

    def finish(self) -> list[ImageRecord]:
        out = []
        for ref, c in self.cands.items():
            rec = self.records.get(ref)
            if rec is None:  # never reached (a task that did not report)
                rec = failed_record(ref, c.repository, c.tag, "not analysed (internal error)")
            out.append(rec)
        return out


def merge_after(spec: ImageSpec | None, opened: bool, env: Env, deps: list) -> MergeDone:
    """The merge task: its spec (or the open task's), and the summaries its dependencies sent."""
    summaries: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    for d in deps:
        layers = d.layers if isinstance(d, OpenDone) else [d]
        if isinstance(d, OpenDone) and spec is None:
            spec = d.spec
        for l in layers:
            if l.summary is not None:
                summaries[l.diff_id] = l.summary
            if l.blob is not None:
                facts[l.blob.digest] = l.blob
    assert spec is not None
    return merge_task(spec, summaries, facts, env)


__all__ = ["ScanOptions", "run", "record_key", "merge_after"]
