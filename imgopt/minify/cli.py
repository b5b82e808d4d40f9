"""``imgopt minify`` and ``imgopt slim``: parse the arguments, call :mod:`imgopt.minify.pipeline`, render."""

from __future__ import annotations

import click

from imgopt.cli_options import (format_option, handle_errors, insecure_option, limit_options, platform_option,
                                source_options)


def _common(fn):
    opts = [
        click.option("-o", "--output", "dest", required=True, metavar="DEST",
                     help="Where to write the slim image (any transport: docker-archive:F, oci:DIR, "
                          "docker-daemon:NAME, docker://HOST/REPO:TAG, a path)."),
        click.option("--layout", type=click.Choice(["startup-first", "keep-base", "original", "single"]),
                     default="startup-first", show_default=True,
                     help="startup-first: startup files first in their own layer; keep-base: base layers "
                          "byte-identical (re-encoded for estargz); original: same layer boundaries; single: one layer."),
        click.option("--compress", "codec", type=click.Choice(["gzip", "zstd", "estargz", "none"]), default=None,
                     help="Layer codec (default: gzip); estargz = lazily pullable gzip (prefetch = startup files)."),
        click.option("--level", type=int, default=None, help="Compression level (gzip/estargz 1-9, zstd 1-22)."),
        click.option("--optimize-for", "optimize_for", metavar="REGISTRY[,CLIENT]", default=None,
                     help="Choose codec, level and split (startup files as 1, 2 or n layers, the rest as 1, 2, n or "
                          "2n; n = the client's download concurrency; small layers first) by the least pull + "
                          "start `imgopt simulate` predicts for this registry and client profile (client default "
                          "docker), e.g. vpc,docker, public,docker, public,containerd, vpc,lazy. Replaces "
                          "--compress/--level; startup-first layout only."),
        click.option("--min-gain", "min_gain", type=float, default=10.0,
                     show_default=True, metavar="PCT",
                     help="--optimize-for keeps the default layout unless a candidate is predicted at least PCT % "
                          "faster (the simulator's error budget; 0: take the least predicted whatever the gain)."),
        click.option("--split", "split", metavar="STARTUP,REST", default=None,
                     help="startup-first: the startup files as STARTUP layers and the rest as REST layers, sizes "
                          "growing 1 : 2 : ... so the first layers arrive and extract early (default 1,1). "
                          "--optimize-for chooses it instead."),
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
        click.option("--kept", "kept_file", type=click.Path(dir_okay=False), default=None,
                     help="Write every kept path with its size and the reason it was kept (trace, ELF closure, "
                          "language closure with the importing file, keep rule...) and the loads the language "
                          "closure could not resolve (JSON) here."),
        click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
                     metavar="report.html|report.md",
                     help="Also write the before/after report (imgopt report) of the original and the slim image."),
        format_option("minify"),
        click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per probe run."),
        limit_options,
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
    _run_pipeline(image, profile, trace_first=False, **kw)


@click.command()
@click.argument("image")
@_common
@handle_errors
def slim(image: str, **kw) -> None:
    """Analyze, trace, minify and verify IMAGE in one go, and write the slim image."""
    _run_pipeline(image, None, trace_first=True, **kw)


def _run_pipeline(image: str, profile, *, trace_first: bool, fmt: str, platform: str | None, quiet: bool,
                  **kw) -> None:
    """The options as :class:`~imgopt.minify.pipeline.SlimOptions`, the pipeline, the chosen format."""
    from imgopt import api
    from imgopt.formats import emit, render
    from imgopt.minify import MinifyOptions
    from imgopt.minify.pipeline import SlimOptions
    from imgopt.trace.probes import load_probes

    from imgopt.errors import BadInput

    if kw["optimize_for"] is not None:
        for flag, v in (("--compress", kw["codec"]), ("--level", kw["level"])):
            if v is not None:
                raise BadInput(flag, "--optimize-for chooses the codec and level; give one or the other")
        if kw["split"] is not None:
            raise BadInput("--split", "--optimize-for chooses the split; give one or the other")
    startup_layers, rest_layers = _parse_split(kw["split"], kw["layout"])
    options = SlimOptions(
        output=kw["dest"],
        minify=MinifyOptions(layout=kw["layout"], codec=kw["codec"] or "gzip", level=kw["level"],
                             keep_all=kw["keep_all"], includes=list(kw["include"]), excludes=list(kw["exclude"]),
                             base_layers=kw["base_layers"], optimize_for=kw["optimize_for"],
                             min_gain=kw["min_gain"] / 100.0,
                             startup_layers=startup_layers, rest_layers=rest_layers),
        probes=load_probes(kw["probe_file"]) if kw["probe_file"] else None,
        verify={"both": ["native", "docker"], "none": []}.get(kw["backends"], [kw["backends"]]),
        max_rounds=kw["max_rounds"], timeout=kw["timeout"], force=kw["force"], removed=kw["removed_file"], kept=kw["kept_file"],
        insecure=kw["insecure"], progress=None if quiet else (lambda m: click.echo(m, err=True)),
        limits={"pids": kw["pids"], "memory": kw["memory"], "cpu_limit": kw["cpu_limit"]},
        report=kw["report_file"])
    options.minify.check()
    if options.report:
        from imgopt.report import format_for

        format_for(options.report)  # a bad suffix fails before the work, not after
    source = source_options(platform, kw["insecure"])
    result = api.slim(image, options, source=source) if trace_first else api.minify(image, profile, options,
                                                                                     source=source)
    emit(render("minify", fmt, result))


def _parse_split(spec: str | None, layout: str) -> tuple[int, int]:
    """``--split 3,6`` -> (3, 6); the default one startup layer and one for the rest."""
    from imgopt.errors import BadInput

    if spec is None:
        return 1, 1
    if layout != "startup-first":
        raise BadInput("--split", f"splits the startup-first layout; it cannot be combined with --layout {layout}")
    parts = spec.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and 1 <= int(p) <= 64 for p in parts):
        raise BadInput("--split", f"{spec!r}: expected STARTUP,REST, two layer counts from 1 to 64 (e.g. 3,6)")
    return int(parts[0]), int(parts[1])


__all__ = ["minify", "slim"]
