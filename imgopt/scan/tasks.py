"""The scan's tasks: plain functions of picklable values, run by either engine (:mod:`imgopt.scan.engine`).

* :func:`layer_task` -- summarize one registry layer (by diffID), unless the
  worker's cache has it;
* :func:`open_task` -- open one image from a local source (``docker-daemon:``,
  archives, layouts: where a layer can only be read through its image) and
  summarize the layers assigned to it;
* :func:`merge_task` -- one image's analysis and scan record, merged from its
  layers' summaries (from the arguments, else the cache; a summary that went
  missing, evicted say, is read again here rather than failing the image).

Every task returns its worker's peak RSS so the scan can report memory per worker.
"""

from __future__ import annotations

import resource
import threading
from dataclasses import dataclass, field
from typing import Any

from imgopt.analyze.summary import FORMAT, SUMMARY_SCHEMA, BlobFacts, LayerSummary, summarize_layer
from imgopt.image.model import Image


@dataclass
class LayerSpec:
    index: int
    digest: str
    size: int
    media_type: str
    diff_id: str
    compression: str  # the codec (from the media type, or sniffed)
    archive_link: bool = False


@dataclass
class ImageSpec:
    """Everything a merge needs about an image, read from its manifest and config (no blob)."""

    reference: str
    repository: str
    tag: str
    name: str
    manifest_raw: bytes
    manifest_media_type: str
    config_raw: bytes
    layers: list[LayerSpec]
    registry: tuple[str, str] | None = None  # (host, repository): layers are registry blobs

    def image(self) -> Image:
        """The image, whose layers cannot be opened (a merge must not read blobs)."""
        from imgopt.image.codecs import Compression
        from imgopt.image.model import build_image

        def no_blobs(d):
            raise AssertionError(f"a merge read blob {d.digest}")

        img = build_image(self.name, self.manifest_raw, self.config_raw, no_blobs, self.manifest_media_type,
                          verify_config_digest=False)
        for layer, spec in zip(img.layers, self.layers):
            layer._compression = Compression(spec.compression)
            layer.archive_link = spec.archive_link
        return img

    @property
    def created(self) -> str | None:
        import json

        try:
            v = json.loads(self.config_raw).get("created")
        except ValueError:
            return None
        return v if isinstance(v, str) else None


def spec_of(image: Image, reference: str, repository: str, tag: str,
            registry: tuple[str, str] | None = None) -> ImageSpec:
    layers = [LayerSpec(i, l.digest, l.size, l.descriptor.media_type, l.diff_id, l.compression.value, l.archive_link)
              for i, l in enumerate(image.layers)]
    return ImageSpec(reference, repository, tag, image.name, image.manifest.serialize(), image.manifest.media_type,
                     image.config_blob, layers, registry)


@dataclass
class Env:
    """What every task needs to know besides its subject."""

    cache: Any = None  # a cache directory, None (the default one) or False
    verify: bool = True
    insecure: bool = False
    platform: Any = None  # imgopt.image.model.Platform
    keychain: Any = None
    return_summaries: bool = False  # send summaries back (Dask: workers do not share a cache)
    push_gzip: bool = False  # measure the push size of uncompressed layers (for the simulation)
    top: int = 20
    details: bool = False  # keep each image's whole analysis in its record
    registries: list[str] = field(default_factory=lambda: ["vpc", "public"])  # simulated; [] for none
    client: str = "docker"

    def open_cache(self):
        """This process's cache (one connection per process and directory, reused by every task)."""
        from imgopt.cache import default_dir, disabled, open_cache

        if self.cache is False or (self.cache in (None, True) and disabled()):
            return None
        where = default_dir() if self.cache in (None, True) else str(self.cache)
        c = _CACHES.get(where)
        if c is None:
            c = _CACHES[where] = open_cache(where)
        return c

    def source(self):
        from imgopt.image.transports import SourceOptions

        return SourceOptions(platform=self.platform, insecure=self.insecure, keychain=self.keychain)


@dataclass
class LayerDone:
    diff_id: str
    blob: BlobFacts | None
    summary: LayerSummary | None  # when asked for (or when no cache could keep it)
    read_bytes: int  # blob bytes read (0: it was in the cache)
    rss: int


@dataclass
class OpenDone:
    spec: ImageSpec
    layers: list[LayerDone]
    rss: int


@dataclass
class MergeDone:
    reference: str
    record: dict  # ImageRecord.to_json()
    read_bytes: int  # summaries that had to be read again
    rss: int


_CACHES: dict[str, Any] = {}
_CLIENTS: dict[tuple, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def registry_client(registry: tuple[str, str], env: Env):
    """This process's client for a repository (one ping, one token, one connection pool for all its tasks)."""
    from imgopt.image.registry_client import RegistryClient

    host, repo = registry
    key = (host, repo, env.insecure, id(env.keychain) if env.keychain is not None else None)
    with _CLIENTS_LOCK:
        c = _CLIENTS.get(key)
        if c is None:
            c = _CLIENTS[key] = RegistryClient(host, repo, insecure=env.insecure, subject=f"docker://{host}/{repo}",
                                               keychain=env.keychain)
    return c


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def registry_layer(spec: LayerSpec, registry: tuple[str, str], env: Env):
    """A Layer that streams the blob from the registry (no manifest request needed)."""
    from imgopt.image.codecs import Compression
    from imgopt.image.model import Descriptor, Layer

    host, repo = registry
    client = registry_client(registry, env)
    desc = Descriptor(spec.media_type, spec.digest, spec.size)
    return Layer(desc, spec.diff_id, lambda: client.open_blob(spec.digest),
                 f"docker://{host}/{repo} layer {spec.index} ({spec.digest[:19]})", Compression(spec.compression))


def _cached(cache, diff_id: str, digest: str, need_gzip: bool) -> tuple[LayerSummary | None, BlobFacts | None]:
    if cache is None:
        return None, None
    s = cache.get_layer(diff_id, SUMMARY_SCHEMA, FORMAT)
    if s is None:
        return None, None
    b = cache.get_blob(digest)
    facts = BlobFacts(digest, b["size"], b["compression"], b["push_gzip_bytes"]) if b else None
    if need_gzip and (facts is None or facts.push_gzip_bytes is None):
        return None, None
    return s, facts


def _done(s: LayerSummary, cache, env: Env, read: int) -> LayerDone:
    keep = env.return_summaries or cache is None or cache.disabled or not s.verified
    return LayerDone(s.diff_id, s.blob, s if keep else None, read, peak_rss())


def layer_task(spec: LayerSpec, registry: tuple[str, str], env: Env) -> LayerDone:
    cache = env.open_cache()
    need_gzip = env.push_gzip and spec.compression == "none"
    s, facts = _cached(cache, spec.diff_id, spec.digest, need_gzip)
    if s is not None:
        return LayerDone(spec.diff_id, facts, s if env.return_summaries else None, 0, peak_rss())
    s = summarize_layer(registry_layer(spec, registry, env), verify=env.verify, push_gzip=need_gzip)
    if cache is not None:
        cache.put_layer(s, FORMAT)
    return _done(s, cache, env, spec.size)


def open_task(reference: str, repository: str, tag: str, diff_ids: list[str], env: Env) -> OpenDone:
    """Open a local image once: its spec, and summaries of the layers this task was given."""
    from imgopt.image.transports import open_image

    cache = env.open_cache()
    done: list[LayerDone] = []
    with open_image(reference, env.source()) as img:
        spec = spec_of(img, reference, repository, tag)
        todo = set(diff_ids)
        for layer in img.layers:
            if layer.diff_id not in todo:
                continue
            todo.discard(layer.diff_id)
            need_gzip = env.push_gzip and layer.compression.value == "none"
            s, facts = _cached(cache, layer.diff_id, layer.digest, need_gzip)
            if s is not None:
                done.append(LayerDone(layer.diff_id, facts, s if env.return_summaries else None, 0, 0))
                continue
            s = summarize_layer(layer, verify=env.verify, push_gzip=need_gzip)
            if cache is not None:
                cache.put_layer(s, FORMAT)
            done.append(_done(s, cache, env, layer.size))
    return OpenDone(spec, done, peak_rss())


def merge_task(spec: ImageSpec, summaries: dict[str, LayerSummary], facts: dict[str, BlobFacts],
               env: Env) -> MergeDone:
    from imgopt.analyze import AnalyzeOptions, analyze_summaries, result_key
    from imgopt.scan.record import record_of

    cache = env.open_cache()
    image = spec.image()
    got: dict[str, LayerSummary] = dict(summaries)
    read = 0
    for l in spec.layers:
        if l.diff_id in got:
            continue
        s, f = _cached(cache, l.diff_id, l.digest, False)
        if s is None:
            s = _read_again(spec, l, env)
            read += l.size
            if cache is not None:
                cache.put_layer(s, FORMAT)
            f = s.blob
        got[l.diff_id] = s
        if f is not None:
            facts.setdefault(f.digest, f)
    opts = AnalyzeOptions(top=env.top, cache=False)
    summ = [got[l.diff_id] for l in spec.layers]
    result = analyze_summaries(image, summ, opts)
    if cache is not None and all(s.verified for s in summ):
        doc = result.to_json()
        key = result_key(image, opts)
        if key:
            doc["image"]["reference"] = ""
            cache.put_result(key, doc)
    record = record_of(result, spec, summ, facts, env)
    return MergeDone(spec.reference, record.to_json(), read, peak_rss())


def _read_again(spec: ImageSpec, l: LayerSpec, env: Env) -> LayerSummary:
    if spec.registry is not None:
        return summarize_layer(registry_layer(l, spec.registry, env), verify=env.verify)
    from imgopt.image.transports import open_image

    with open_image(spec.reference, env.source()) as img:
        return summarize_layer(img.layers[l.index], verify=env.verify)


__all__ = ["LayerSpec", "ImageSpec", "Env", "LayerDone", "OpenDone", "MergeDone", "spec_of", "layer_task",
           "open_task", "merge_task", "peak_rss"]
