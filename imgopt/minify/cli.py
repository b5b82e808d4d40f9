"""``imgopt minify`` and ``imgopt slim``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import defaultdict

import click

from imgopt.cli import _insecure_opt, _platform_opt, _source_opts, handle_errors


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
                     help="Probe file (YAML/JSON) to trace and verify with; default: the probes found automatically "
                          "(listening ports, HTTP and a crawl or a TCP greeting; a job runs to exit), replayed."),
        click.option("--verify", "backends", type=click.Choice(["native", "docker", "both", "none"]), default="native",
                     show_default=True, help="Where to run the probes against the slim image."),
        click.option("--max-rounds", type=click.IntRange(1, 10), default=4, show_default=True,
                     help="Verification rounds (each adds what the failing run looked for)."),
        click.option("--force", is_flag=True, help="Write the image even if verification fails (marked in its history)."),
        click.option("--removed", "removed_file", type=click.Path(dir_okay=False), default=None,
                     help="Write every removed path with its size and junk class (JSON) here."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True),
        click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per probe run."),
        _platform_opt, _insecure_opt,
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
    from imgopt.image.sinks import SinkOptions, write_image
    from imgopt.image.sources import open_image
    from imgopt.minify import MinifyOptions, new_workdir
    from imgopt.minify.verify import VerificationFailed, VerifyOptions, minify_verified
    from imgopt.trace.probes import load_probes

    t0 = time.monotonic()
    opts = MinifyOptions(layout=layout, codec=codec, level=level, keep_all=keep_all, includes=list(include),
                         excludes=list(exclude), base_layers=base_layers)
    opts.check()
    probes = load_probes(probe_file) if probe_file else None
    chosen = {"both": ["native", "docker"], "none": []}.get(backends, [backends])
    with open_image(image, _source_opts(platform, insecure)) as img:
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
        work = new_workdir(dest if ":" not in dest or dest.startswith(("oci:", "docker-archive:", "oci-archive:"))
                           else None)
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
            written = write_image(out_image, dest, SinkOptions(compress="keep", insecure=insecure))
            if removed_file:
                _write_removed(removed_file, slim_img)
            report = _report(img, scan, slim_img, ver, written.manifest_digest, dest, time.monotonic() - t0,
                             profile)
        finally:
            scan.close()
            shutil.rmtree(work, ignore_errors=True)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_text(report))


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


def _write_removed(path: str, slim_img) -> None:
    from imgopt.image.sinks import atomic_file

    doc = [{"path": r.path, "size": r.size, "layer": r.layer, "junk_class": r.junk_class} for r in slim_img.removed]
    with atomic_file(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)


def _report(img, scan, slim_img, ver, digest: str, dest: str, seconds: float, profile=None) -> dict:
    from dataclasses import asdict

    from imgopt.minify.naming import written_names
    from imgopt.trace.autoprobe import report as probing_report

    by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_dir: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in slim_img.removed:
        c = by_class[r.junk_class or "(not junk: unused)"]
        c[0] += r.size
        c[1] += 1
        top = "/" + "/".join(r.path.strip("/").split("/")[:3])
        d = by_dir[top]
        d[0] += r.size
        d[1] += 1
    new = slim_img.image
    return {
        "schema": "imgopt.minify/v1",
        "image": img.name, "output": dest, "manifest_digest": digest,
        "original": {"compressed_bytes": sum(l.size for l in img.layers),
                     "uncompressed_bytes": sum(ls.tar_bytes for ls in scan.layers),
                     "files": slim_img.original_files, "file_bytes": slim_img.original_bytes, "layers": len(img.layers)},
        "slim": {"compressed_bytes": sum(l.size for l in new.layers),
                 "uncompressed_bytes": sum(l.uncompressed_size or 0 for l in new.layers),
                 "files": slim_img.kept_files, "file_bytes": slim_img.kept_bytes, "layers": len(new.layers),
                 "startup_files": len(slim_img.plan.startup)},
        "removed_by_class": {k: {"bytes": v[0], "files": v[1]} for k, v in sorted(by_class.items(), key=lambda x: -x[1][0])},
        "removed_by_dir": {k: {"bytes": v[0], "files": v[1]} for k, v in sorted(by_dir.items(), key=lambda x: -x[1][0])[:15]},
        "keep_rules": slim_img.plan.rules_applied,
        "tags": written_names(dest, new),
        "probing": probing_report(profile),
        "dirs": [asdict(d) for d in slim_img.plan.dirs],
        "verification": None if ver is None else {
            "passed": ver.passed, "rounds": len(ver.rounds),
            "added": [{"path": p, "why": w} for p, w in ver.added],
            "results": [{"round": r.number, "backend": b.backend, "passed": b.passed, "failure": b.failure,
                         "ready_time": b.ready_time} for r in ver.rounds for b in r.results],
            "mismatches": ver.mismatches},
        "seconds": round(seconds, 2),
    }


def _text(rep: dict) -> str:
    from imgopt.progress import human

    o, s = rep["original"], rep["slim"]
    ratio = o["compressed_bytes"] / s["compressed_bytes"] if s["compressed_bytes"] else float("inf")
    lines = [
        f"imgopt minify  {rep['image']} -> {rep['output']}",
        f"  {rep['manifest_digest']}",
        "",
        f"  compressed      {human(o['compressed_bytes']):>10} -> {human(s['compressed_bytes']):>10}   ({ratio:.1f}x smaller)",
        f"  uncompressed    {human(o['uncompressed_bytes']):>10} -> {human(s['uncompressed_bytes']):>10}",
        f"  files           {o['files']:>10,} -> {s['files']:>10,}   ({s['startup_files']} startup files first)",
        f"  layers          {o['layers']:>10} -> {s['layers']:>10}",
    ]
    v = rep["verification"]
    if v is not None:
        state = "PASSED" if v["passed"] else "FAILED (written with --force)"
        lines.append(f"  verification    {state} after {v['rounds']} round(s)")
        for r in v["results"]:
            lines.append(f"    round {r['round']} {r['backend']:<7} {'pass' if r['passed'] else 'FAIL: ' + r['failure']}"
                         + (f", ready in {r['ready_time']:.2f} s" if r["ready_time"] else ""))
        for a in v["added"][:10]:
            lines.append(f"    added {a['path']}: {a['why']}")
    from imgopt.minify.summary import probing_lines

    lines += probing_lines(rep)
    lines += ["", "  removed by junk class:"]
    for k, v2 in list(rep["removed_by_class"].items())[:10]:
        lines.append(f"    {k:<28} {human(v2['bytes']):>10} in {v2['files']:,} files")
    lines += ["", "  removed by directory:"]
    for k, v2 in list(rep["removed_by_dir"].items())[:10]:
        lines.append(f"    {k:<40} {human(v2['bytes']):>10} in {v2['files']:,} files")
    lines.append(f"\n  done in {rep['seconds']:.1f} s")
    return "\n".join(lines)


__all__ = ["minify", "slim"]
_ = (os, sys)
