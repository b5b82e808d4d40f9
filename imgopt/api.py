"""The library under every command: one function per pipeline, typed options in, a typed result out.

Each takes an image reference (``"docker-archive:app.tar"``, ``"docker://..."``,
a path) or an open :class:`~imgopt.image.model.Image`, and ``source``
(:class:`~imgopt.image.transports.SourceOptions`: platform, insecure, keychain)
for opening it.  The results are the documents the commands print
(``result.to_json()``; render them with :mod:`imgopt.formats`)::

    import imgopt
    from imgopt.analyze import AnalyzeOptions

    result = imgopt.analyze("docker-archive:app.tar", AnalyzeOptions(top=10))
    print(result.summary.removable_junk_bytes)

They are also ``imgopt.inspect``, ``imgopt.analyze``, ``imgopt.trace``,
``imgopt.minify``, ``imgopt.slim``, ``imgopt.simulate``, ``imgopt.gate``,
``imgopt.report``, ``imgopt.copy`` and ``imgopt.scan`` (see :mod:`imgopt`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from imgopt.analyze import AnalyzeOptions
    from imgopt.analyze.result import AnalysisResult
    from imgopt.gate import GateOptions
    from imgopt.gate.result import GateResult
    from imgopt.report import ReportOptions
    from imgopt.report.result import ReportResult
    from imgopt.image.inspect import InspectOptions, InspectResult
    from imgopt.image.transports import SinkOptions, SourceOptions
    from imgopt.minify.pipeline import SlimOptions
    from imgopt.cache.result import CacheInfo, CachePruned
    from imgopt.minify.result import MinifyResult
    from imgopt.scan.pipeline import ScanOptions
    from imgopt.scan.result import ScanResult
    from imgopt.simulate.api import SimulateOptions
    from imgopt.simulate.result import SimulationResult
    from imgopt.trace.profile import AccessProfile
    from imgopt.trace.result import TraceResult
    from imgopt.trace.options import TraceOptions


def inspect(image, options: InspectOptions | None = None, *, source: SourceOptions | None = None) -> InspectResult:
    """Manifest, config and layers (``imgopt inspect``)."""
    from imgopt.image.inspect import InspectOptions, inspect_image
    from imgopt.image.transports import opened

    opts = options or InspectOptions()
    with opened(image, source) as img:
        return inspect_image(img, deep=opts.deep, progress=opts.progress)


def analyze(image, options: AnalyzeOptions | None = None, *, source: SourceOptions | None = None) -> AnalysisResult:
    """Sizes, waste, junk, duplicates, what the entrypoint needs (``imgopt analyze``)."""
    from imgopt.analyze import analyze as analyze_image
    from imgopt.image.transports import opened

    with opened(image, source) as img:
        return analyze_image(img, options)


def trace(image, options: TraceOptions | None = None, *, probes: list | None = None, output: str | None = None,
          source: SourceOptions | None = None) -> TraceResult:
    """Run the entrypoint in a sandbox and record what it touches (``imgopt trace``); ``output``: save the profile."""
    from imgopt.image.transports import opened
    from imgopt.trace.run import trace_image

    with opened(image, source) as img:
        result = trace_image(img, probes, options)
    if output:
        result.profile.save(output)
        result.profile_path = output
    return result


def minify(image, profile: AccessProfile | str | None, options: SlimOptions, *,
           source: SourceOptions | None = None) -> MinifyResult:
    """Write a slim image from an access profile (``imgopt minify``); ``profile``: an AccessProfile or its path."""
    from imgopt.image.transports import opened
    from imgopt.minify.pipeline import run
    from imgopt.trace.profile import AccessProfile

    prof = AccessProfile.load(profile) if isinstance(profile, str) else profile
    with opened(image, source) as img:
        return run(img, prof, options)


def slim(image, options: SlimOptions, *, source: SourceOptions | None = None) -> MinifyResult:
    """Trace, minify and verify in one go (``imgopt slim``)."""
    from imgopt.image.transports import opened
    from imgopt.minify.pipeline import run

    with opened(image, source) as img:
        return run(img, None, options, trace_first=True)


def simulate(image, options: SimulateOptions | None = None, *, source: SourceOptions | None = None,
             warn: Callable[[str], None] | None = None) -> SimulationResult:
    """Predict cold pull + start latency per registry and client (``imgopt simulate``)."""
    from imgopt.simulate.api import simulate_images

    return simulate_images(image, options, source=source, warn=warn)


def gate(image, options: GateOptions | None = None, *, source: SourceOptions | None = None) -> GateResult:
    """Check the image against the gate's thresholds (``imgopt gate``); ``result.passed`` says if it passes."""
    from imgopt.gate import run_gate

    return run_gate(image, options, source=source)


def report(image, options: ReportOptions | None = None, *, source: SourceOptions | None = None) -> ReportResult:
    """Everything a report shows, with ranked recommendations (``imgopt report``); render it as html/markdown."""
    from imgopt.report import build_report

    return build_report(image, options, source=source)


@dataclass
class CopyResult:
    """What ``imgopt copy`` wrote."""

    source: str
    destination: str
    manifest_digest: str
    layers: int
    bytes: int  # compressed layer bytes as written
    seconds: float


def copy(src, dest, options: SinkOptions | None = None, *, source: SourceOptions | None = None) -> CopyResult:
    """Copy an image between transports (``imgopt copy``); unchanged layers keep their digests."""
    from imgopt.image.transports import opened, write_image

    t0 = time.monotonic()
    with opened(src, source) as img:
        res = write_image(img, dest, options)
        written = res.image
        return CopyResult(img.name, res.ref, res.manifest_digest, len(written.layers),
                          sum(l.size for l in written.layers), time.monotonic() - t0)


def scan(sources: list[str], options: ScanOptions | None = None) -> ScanResult:
    """Audit registries, repositories or local images, each distinct layer read once (``imgopt scan``)."""
    from imgopt.scan.pipeline import run

    return run(list(sources), options)


def scan_merge(paths: list[str], top: int = 10) -> ScanResult:
    """Combine the results of a split scan (``--shard I/N``) into one (``imgopt scan merge``)."""
    from imgopt.scan.shards import merge_files

    return merge_files(list(paths), top=top)


def cache_info(cache: str | None = None) -> CacheInfo:
    """What the layer cache holds (``imgopt cache info``)."""
    from imgopt.cache.result import info

    return info(cache)


def cache_prune(cache: str | None = None, *, max_bytes: int | None = None, older_than: float | None = None,
                everything: bool = False) -> CachePruned:
    """Shrink the layer cache (``imgopt cache prune``)."""
    from imgopt.cache.result import prune

    return prune(cache, max_bytes=max_bytes, older_than=older_than, everything=everything)


__all__ = ["inspect", "analyze", "trace", "minify", "slim", "simulate", "gate", "report", "copy", "scan", "scan_merge",
           "cache_info", "cache_prune", "CopyResult"]
