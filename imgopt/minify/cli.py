"""``imgopt minify`` and ``imgopt slim``."""

from __future__ import annotations

import os
import shutil
import sys
import time

import click

from imgopt.cli_options import format_option, handle_errors, insecure_option, platform_option, source_options


def _common(fn):
    opts = [
        click.option("-o", "--output", "dest", required=True, metavar="DEST",
                     help="Where to write the slim image (any transport: docker-archive:F, oci:DIR, "
                          "docker-daemon:NAME, docker://HOST/REPO:TAG, a path)."),
        click.option("--layout", type=click.Choice(["startup-first", "keep-base", "original", "single"]),
                     default="startup-first", show_default=True,
                     help="startup-first: startup files first in their own layer; keep-base: base layers "
                          "byte-identical; original: same layer boundaries; single: one layer."),
        click.option("--compress", "codec", type=click.Choice(["gzip", "zstd", "estargz", "none"]), default="gzip",
                     show_default=True, help="Layer codec; estargz = lazily pullable gzip (prefetch = startup files)."),
        click.option("--level", type=int, default=None, help="Compression level (gzip/estargz 1-9, zstd 1-22)."),
        click.option("--keep-all", is_flag=True, help="Reorder only: remove nothing, change only layout and codec."),
        click.option("--include", multiple=True, metavar="PATH|GLOB", help="Always keep these (repeatable)."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="Never keep these (repeatable)."),
        click.option("--base-layers", type=int, default=None, help="keep-base: number of base layers (default: guessed)."),
        click.option("--probe", "probe_file", type=click.Path(dir_okay=False), default=None,
                     help="Probe file (YAML/JSON) to verify with; default: GET / on EXPOSEd ports, else wait for exit."),
        click.option("--verify", "backends", type=click.Choice(["native", "docker", "both", "none"]), default="native",
                     show_default=True, help="Where to run the probes against the slim image."),
        click.option("--max-rounds", type=click.IntRange(1, 10), default=4, show_default=True,
                     help="Verification rounds (each adds what the failing run looked for)."),
        click.option("--force", is_flag=True, help="Write the image even if verification fails (marked in its history)."),
        click.option("--removed", "removed_file", type=click.Path(dir_okay=False), default=None,
                     help="Write every removed path with its size and junk class (JSON) here."),
        format_option("minify"),
        click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per probe run."),
        platform_option, insecure_option,
        click.option("-q", "--quiet", is_flag=True, help="No progress output."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.command()
@click.argument("image")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              help="Access profile from `imgopt trace` (required unless --keep-all).")
@_common
@handle_errors
def minify(image: str, profile_path: str | None, **kw) -> None:
    """Write a slim IMAGE that keeps what the access profile and the static
    closure need, startup files first, verified against the same probes."""
    from imgopt.errors import BadInput
    from imgopt.trace.profile import AccessProfile

    if profile_path is None and not kw["keep_all"]:
        raise BadInput("--profile", "minify needs an access profile (imgopt trace IMAGE -o profile.json), "
                                    "or --keep-all to only reorder")
    profile = AccessProfile.load(profile_path) if profile_path else None
    _run(image, profile, trace_first=False, **kw)


@click.command()
@click.argument("image")
@_common
@handle_errors
def slim(image: str, **kw) -> None:
    """Analyze, trace, minify and verify IMAGE in one go, and write the slim image."""
    _run(image, None, trace_first=True, **kw)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        click.echo(msg, err=True)


def _run(image: str, profile, *, trace_first: bool, dest: str, layout: str, codec: str, level: int | None,
         keep_all: bool, include: tuple, exclude: tuple, base_layers: int | None, probe_file: str | None,
         backends: str, max_rounds: int, force: bool, removed_file: str | None, fmt: str, timeout: float,
         platform: str | None, insecure: bool, quiet: bool) -> None:
    from imgopt.analyze.scan import scan_image
    from imgopt.errors import BadInput
    from imgopt.formats import emit, render
    from imgopt.image.transports import SinkOptions, open_image, parse, write_image
    from imgopt.minify import MinifyOptions, new_workdir
    from imgopt.minify.result import minify_result, removed_files
    from imgopt.minify.verify import VerificationFailed, VerifyOptions, minify_verified
    from imgopt.trace.probes import load_probes

    t0 = time.monotonic()
    opts = MinifyOptions(layout=layout, codec=codec, level=level, keep_all=keep_all, includes=list(include),
                         excludes=list(exclude), base_layers=base_layers)
    opts.check()
    probes = load_probes(probe_file) if probe_file else None
    chosen = {"both": ["native", "docker"], "none": []}.get(backends, [backends])
    with open_image(image, source_options(platform, insecure)) as img:
        if trace_first:
            from imgopt.trace.run import TraceOptions, trace_image

            _say(quiet, f"tracing {image} ({chosen[0] if chosen else 'native'} sandbox)...")
            res = trace_image(img, probes, TraceOptions(backend=chosen[0] if chosen else "native", timeout=timeout))
            if not res.passed:
                from imgopt.errors import Failed

                raise Failed(image, f"the original image fails its own probes: {res.failure}")
            profile = res.profile
            _say(quiet, f"traced: ready in {profile.ready_time:.2f} s, {len(profile.startup_files())} startup files")
        if profile is not None and profile.image_digest and profile.image_digest != img.digest \
                and profile.config_digest != img.config_digest:
            raise BadInput(image, f"the access profile was recorded for another image ({profile.image_digest})")
        scan = scan_image(img)
        dest_ref = parse(dest, for_writing=True)
        work = new_workdir(dest_ref.path or None)  # beside a local destination (same filesystem)
        try:
            if chosen:
                slim_img, ver = minify_verified(scan, profile, opts, VerifyOptions(chosen, max_rounds, timeout, probes),
                                                work, progress=None if quiet else (lambda m: _say(False, m)))
            else:
                from imgopt.minify import plan_and_build

                slim_img, ver = plan_and_build(scan, profile, opts, work), None
            if ver is not None and not ver.passed and not force:
                last = ver.rounds[-1]
                fail = next((r.failure for r in last.results if not r.passed), "; ".join(ver.mismatches))
                missing = next((r.missing for r in last.results if not r.passed), [])
                raise VerificationFailed(image, f"slim image fails verification after {len(ver.rounds)} rounds: "
                                                f"{fail}; last missing paths: {', '.join(missing[:8]) or 'none'} "
                                                f"(nothing written; --force writes it anyway)")
            out_image = slim_img.image
            if ver is not None and not ver.passed:
                out_image = _mark_unverified(out_image)
            written = write_image(out_image, dest_ref, SinkOptions(compress="keep", insecure=insecure))
            if removed_file:
                emit(render("removed", "json", removed_files(img.name, slim_img)), removed_file)
            report = minify_result(img, scan, slim_img, ver, written.manifest_digest, dest, time.monotonic() - t0)
        finally:
            scan.close()
            shutil.rmtree(work, ignore_errors=True)
    emit(render("minify", fmt, report))


def _mark_unverified(image):
    from imgopt.image.model import ImageConfig, Image, Manifest, canonical_json, descriptor_for
    from imgopt.image import mediatypes as mt

    raw = dict(image.config.raw)
    raw["history"] = list(raw.get("history") or []) + [{
        "created_by": "imgopt minify --force: WARNING: this image FAILED verification", "empty_layer": True}]
    labels = dict((raw.get("config") or {}).get("Labels") or {})
    labels["org.imgopt.verification"] = "failed"
    raw["config"] = {**(raw.get("config") or {}), "Labels": labels}
    cfg = ImageConfig(raw)
    blob = cfg.serialize()
    man = Manifest(image.manifest.media_type, descriptor_for(blob, mt.OCI_CONFIG), image.manifest.layers,
                   dict(image.manifest.annotations))
    man.raw = canonical_json(man.to_json())
    return Image(man, cfg, blob, image.layers, image.name, image.repo_tags, None, image._closers)


__all__ = ["minify", "slim"]
_ = (os, sys)
