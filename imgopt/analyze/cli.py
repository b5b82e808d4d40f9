"""``imgopt analyze`` command."""

from __future__ import annotations

import click

from imgopt.cli_options import cache_options, cache_value, format_option, handle_errors, insecure_option, platform_option, quiet_option, \
    source_options


@click.command()
@click.argument("image")
@format_option("analysis")
@click.option("--dockerfile", type=click.Path(dir_okay=False), default=None,
              help="Tie each layer to the Dockerfile line that made it.")
@click.option("--target", default=None, help="Dockerfile stage the image was built from (default: the last).")
@click.option("--top", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Largest files, duplicate groups and hidden files listed.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file (atomically).")
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="Also show which layers added, changed, deleted or hid PATH (repeatable).")
@click.option("--no-verify", is_flag=True,
              help="Skip the SHA-256 of layers read in place from local archives (trusted input; faster).")
@cache_options
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes reading layers (and running dive's walk) beside this one.")
@platform_option
@insecure_option
@quiet_option
@handle_errors
def analyze(image: str, fmt: str, dockerfile: str | None, target: str | None, top: int, output: str | None,
            paths: tuple[str, ...], no_verify: bool, cache_dir: str | None, no_cache: bool, jobs: int,
            platform: str | None, insecure: bool, quiet: bool) -> None:
    """Where an image's bytes go: per-layer sizes, exact and dive-compatible waste,
    junk classes, duplicates, largest files and what the entrypoint needs.

    Leads with the three numbers to act on: total size, removable junk, exact waste.
    Each layer is read once into the layer cache (by diffID): layers seen before, in
    this image or any other, are not read again.
    """
    from imgopt import api
    from imgopt.analyze import AnalyzeOptions
    from imgopt.formats import emit, render
    from imgopt.progress import Progress

    prog = Progress("analyzing", enabled=False if quiet else None)
    result = api.analyze(image, AnalyzeOptions(dockerfile=dockerfile, target=target, top=top, progress=prog,
                                               verify=not no_verify, paths=list(paths),
                                               cache=cache_value(cache_dir, no_cache), jobs=jobs),
                         source=source_options(platform, insecure))
    prog.finish()
    emit(render("analysis", fmt, result), output)
