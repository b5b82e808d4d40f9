"""``imgopt minify`` and ``imgopt slim`` as library calls.

:func:`run` is the whole pipeline on an open image: (for slim) trace the
original with the probes, scan, plan the keep set and build the slim image,
verify it round by round (:mod:`imgopt.minify.verify`), write it to
``options.output`` (any transport) and report (:class:`MinifyResult`).  An
image that fails verification is not written unless ``options.force``, and
then it is marked (label ``org.imgopt.verification=failed``, a history entry).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from imgopt.errors import BadInput, Failed
from imgopt.image.model import HistoryEntry, Image
from imgopt.minify import MinifyOptions
from imgopt.minify.result import MinifyResult
from imgopt.scratch import remove_tree
from imgopt.trace.profile import AccessProfile

UNVERIFIED_LABEL = "org.imgopt.verification"


@dataclass
class SlimOptions:
    """Everything ``imgopt minify`` / ``imgopt slim`` take besides the image (and the profile)."""

    output: str  # where to write the slim image: any transport (docker-archive:F, oci:DIR, docker://...)
    minify: MinifyOptions = field(default_factory=MinifyOptions)  # layout, codec, keep-all, includes...
    probes: list | None = None  # imgopt.trace.probes.Probe list (None: the defaults)
    verify: list[str] = field(default_factory=lambda: ["native"])  # backends to verify in ([]: no verification)
    max_rounds: int = 4  # verification rounds (each adds what the failing run looked for)
    timeout: float = 300.0  # seconds per probe run
    force: bool = False  # write the image even if verification fails (marked as such)
    removed: str | None = None  # write the imgopt.removed/v1 document (every removed path) here
    kept: str | None = None  # write the imgopt.kept/v1 document (every kept path, its reason; unresolved loads) here
    insecure: bool = False  # the destination registry may be plain HTTP / unverified TLS
    progress: Callable[[str], None] | None = None  # one line per step (None: quiet)
    limits: dict = field(default_factory=dict)  # the sandbox's TraceOptions pids / memory / cpu_limit (trace, verify)
    report: str | None = None  # write the before/after report (imgopt.report) here: .html / .md / .json


def run(img: Image, profile: AccessProfile | None, options: SlimOptions, *, trace_first: bool = False) -> MinifyResult:
    """Minify the open image ``img`` (with ``profile``; ``trace_first``: record it now, as ``slim`` does)."""
    from imgopt.analyze.scan import scan_image
    from imgopt.formats import emit, render
    from imgopt.image.transports import SinkOptions, parse, write_image
    from imgopt.minify import new_workdir, plan_and_build
    from imgopt.minify.result import kept_files, minify_result, removed_files
    from imgopt.minify.verify import VerificationFailed, VerifyOptions, minify_verified

    t0 = time.monotonic()
    opts = options.minify
    opts.check()
    say = options.progress or (lambda _m: None)
    backends = list(options.verify)
    if trace_first:
        from imgopt.trace.options import TraceOptions
        from imgopt.trace.run import trace_image

        say(f"tracing {img.name} ({backends[0] if backends else 'native'} sandbox)...")
        res = trace_image(img, options.probes, TraceOptions(backend=backends[0] if backends else "native",
                                                            timeout=options.timeout, **options.limits))
        if not res.passed:
            raise Failed(img.name, f"the original image fails its own probes: {res.failure}")
        profile = res.profile
        say(f"traced: ready in {profile.ready_time:.2f} s, {len(profile.startup_files())} startup files")
    if profile is not None and profile.image_digest and profile.image_digest != img.digest \
            and profile.config_digest != img.config_digest:
        raise BadInput(img.name, f"the access profile was recorded for another image ({profile.image_digest})")
    dest = parse(options.output, for_writing=True)
    scan = scan_image(img)
    work = new_workdir(dest.path or None)  # beside a local destination (same filesystem)
    try:
        if backends:
            slim, ver = minify_verified(scan, profile, opts, VerifyOptions(backends, options.max_rounds,
                                                                           options.timeout, options.probes,
                                                                           dict(options.limits)),
                                        work, progress=options.progress)
        else:
            slim, ver = plan_and_build(scan, profile, opts, work), None
        if ver is not None and not ver.passed and not options.force:
            last = ver.rounds[-1]
            fail = next((r.failure for r in last.results if not r.passed), "; ".join(ver.mismatches))
            missing = next((r.missing for r in last.results if not r.passed), [])
            raise VerificationFailed(img.name, f"slim image fails verification after {len(ver.rounds)} rounds: "
                                               f"{fail}; last missing paths: {', '.join(missing[:8]) or 'none'} "
                                               f"(nothing written; --force writes it anyway)")
        out_image = slim.image
        if ver is not None and not ver.passed:
            out_image = mark_unverified(out_image)
        written = write_image(out_image, dest, SinkOptions(compress="keep", insecure=options.insecure))
        if options.removed:
            emit(render("removed", "json", removed_files(img.name, slim)), options.removed)
        if options.kept:
            emit(render("kept", "json", kept_files(img.name, scan, slim)), options.kept)
        if options.report:
            from imgopt.report import slim_report

            say(f"writing the report {options.report}...")
            slim_report(img, profile, options.output, options.report)
        return minify_result(img, scan, slim, ver, written.manifest_digest, options.output, time.monotonic() - t0,
                             profile)
    finally:
        scan.close()
        remove_tree(work)


def mark_unverified(image: Image) -> Image:
    """``image`` labelled as having FAILED verification, with a history entry saying so (``--force``)."""
    from imgopt.image.mutate import with_history, with_labels

    marked = with_history(image, HistoryEntry(created_by="imgopt minify --force: WARNING: this image FAILED "
                                                         "verification", empty_layer=True))
    return with_labels(marked, {UNVERIFIED_LABEL: "failed"})


__all__ = ["SlimOptions", "run", "mark_unverified"]
