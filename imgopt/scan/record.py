"""One image's scan record: its analysis boiled down, its layers, its simulated cold start.

The cold start is imgopt simulate's model (:mod:`imgopt.simulate.model`) on the
workload the summaries already describe (layer codecs and sizes, tar sizes,
entry counts), for each registry profile asked for (default ``vpc`` and
``public``) and the ``docker`` client, with no trace: the app is assumed
ready 1 s after start, as ``imgopt simulate`` assumes without ``--profile``.
Layers stored uncompressed (``docker-daemon:``, docker archives) are counted
at the gzip-6 size a push would serve, measured when they were read.
"""

from __future__ import annotations

import functools

from imgopt.analyze.result import AnalysisResult
from imgopt.analyze.summary import BlobFacts, LayerSummary
from imgopt.scan.result import ColdStart, ImageLayer, ImageRecord


def record_of(result: AnalysisResult, spec, summaries: list[LayerSummary], facts: dict[str, BlobFacts],
              env) -> ImageRecord:
    s = result.summary
    junk_layers: dict[int, dict[str, int]] = {}
    for c in result.junk:
        for idx, b in c.layers.items():
            if b:
                junk_layers.setdefault(int(idx), {})[c.id] = b
    layers = [ImageLayer(l.index, l.digest, l.diff_id, l.compressed_bytes, l.uncompressed_bytes, l.entries,
                         junk_layers.get(l.index, {}), l.created_by) for l in result.layers]
    cfg = spec.image().config
    return ImageRecord(
        reference=spec.reference, repository=spec.repository, tag=spec.tag, status="ok", error=None,
        manifest_digest=result.image.manifest_digest, config_digest=result.image.config_digest,
        created=spec.created, platform=str(cfg.platform),
        compressed_bytes=s.compressed_bytes, uncompressed_bytes=s.uncompressed_bytes, final_bytes=s.final_bytes,
        final_files=s.final_files, removable_junk_bytes=s.removable_junk_bytes,
        possibly_removable_bytes=s.possibly_removable_bytes, exact_waste_bytes=s.exact_waste_bytes,
        removable_bytes=s.removable_junk_bytes + s.exact_waste_bytes, duplicate_bytes=s.duplicate_bytes,
        entrypoint_bytes=s.entrypoint_bytes, entrypoint_missing=len(result.entrypoint.missing),
        dive_efficiency=s.dive_efficiency, dive_wasted_bytes=s.dive_wasted_bytes, problems=len(result.problems),
        junk={c.id: c.bytes for c in result.junk if c.bytes}, layers=layers,
        cold_start=cold_starts(spec, summaries, facts, env.registries, env.client),
        analysis=result.to_json() if env.details else None,
    )


def failed_record(reference: str, repository: str, tag: str, error: str) -> ImageRecord:
    return ImageRecord(reference, repository, tag, "failed", error, None, None, None, None)


@functools.lru_cache(maxsize=None)
def _profiles(registries: tuple[str, ...], client: str):
    from imgopt.simulate import profiles as P

    return ([P.load("registry", r) for r in registries], P.load("client", client),
            P.load("host", P.default_host_name()))


def cold_starts(spec, summaries: list[LayerSummary], facts: dict[str, BlobFacts], registries: list[str],
                client: str) -> list[ColdStart]:
    if not registries:
        return []
    from imgopt.simulate.api import DEFAULT_READY_TIME
    from imgopt.simulate.model import Startup, simulate
    from imgopt.simulate.workload import PUSH_CODEC, LayerWork, Workload

    regs, cl, host = _profiles(tuple(registries), client)
    works = []
    notes = []
    for l, s in zip(spec.layers, summaries):
        codec, size, est = l.compression, l.size, False
        if codec == "none":
            f = facts.get(l.digest)
            gz = f.push_gzip_bytes if f is not None else None
            if gz is None:
                return []  # the push size was not measured: no prediction rather than a wrong one
            codec, size, est = PUSH_CODEC, gz, True
        works.append(LayerWork(l.index, l.digest, codec, size, s.tar_bytes, s.entries, s.files, est))
    if any(w.estimated for w in works):
        notes.append("layers stored uncompressed; sizes are those of a gzip-6 push (measured)")
    w = Workload(spec.reference, "", "", len(spec.manifest_raw), len(spec.config_raw), works, notes=notes)
    startup = Startup(DEFAULT_READY_TIME, [], "assumed")
    out = []
    for reg in regs:
        r = simulate(w, reg, cl, host, startup)
        out.append(ColdStart(reg.name, cl.name, round(r.pull, 4), round(r.total, 4)))
    return out


__all__ = ["record_of", "failed_record", "cold_starts"]
