"""``imgopt analyze`` command."""

from __future__ import annotations

import json

import click

from imgopt.cli import _insecure_opt, _platform_opt, _source_opts, handle_errors


@click.command()
@click.argument("image")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
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
@_platform_opt
@_insecure_opt
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@handle_errors
def analyze(image: str, fmt: str, dockerfile: str | None, target: str | None, top: int, output: str | None,
            paths: tuple[str, ...], no_verify: bool, platform: str | None, insecure: bool, quiet: bool) -> None:
    """Where an image's bytes go: per-layer sizes, exact and dive-compatible waste,
    junk classes, duplicates, largest files and what the entrypoint needs.

    Leads with the three numbers to act on: total size, removable junk, exact waste.
    """
    from imgopt.analyze import AnalyzeOptions
    from imgopt.analyze import analyze as run
    from imgopt.analyze.report import format_markdown, format_text
    from imgopt.image.sources import open_image
    from imgopt.progress import Progress

    prog = Progress("analyzing", enabled=False if quiet else None)
    with open_image(image, _source_opts(platform, insecure)) as img:
        result = run(img, AnalyzeOptions(dockerfile=dockerfile, target=target, top=top, progress=prog,
                                          verify=not no_verify, paths=list(paths)))
    prog.finish()
    if fmt == "json":
        text = json.dumps(result.to_json(), indent=2) + "\n"
    elif fmt == "markdown":
        text = format_markdown(result)
    else:
        text = format_text(result) + "\n"
    from imgopt.formats import emit

    emit(text, output)  # file names that are not UTF-8 come out as the bytes they are
