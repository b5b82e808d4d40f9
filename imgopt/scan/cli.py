"""``imgopt scan SOURCE...`` and ``imgopt scan merge RESULTS...``."""

from __future__ import annotations

import sys

import click

from imgopt.cli_options import cache_options, cache_value, format_option, handle_errors, insecure_option, \
    platform_option, quiet_option


class ScanGroup(click.Group):
    """``imgopt scan SOURCE...`` runs a scan; ``imgopt scan merge ...`` is the one subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]  # the scan itself (also for --help: its options are the ones to show)
        return super().parse_args(ctx, args)


class _Default(click.Command):
    """The scan itself: shown as ``imgopt scan [OPTIONS] SOURCE...`` (its name ``run`` is internal)."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path.rsplit(" ", 1)[0], " ".join(self.collect_usage_pieces(ctx)))


@click.group(cls=ScanGroup)
def scan() -> None:
    """Audit registries: every image, each distinct layer analysed once."""


class _Line:
    """One self-rewriting progress line on stderr (a terminal only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.enabled:
            sys.stderr.write(f"\rscan: {done}/{total} {what}   ")
            sys.stderr.flush()
            self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")


@scan.command("run", cls=_Default, hidden=True, epilog="imgopt scan merge RESULTS... combines the results of a split scan "
                                         "(--shard); see docs/scan.md.")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False), default=None,
              help="More sources, one per line ('#' comments).")
@click.option("--repo", "repos", multiple=True, metavar="GLOB",
              help="Only repositories matching GLOB (repeatable; '*' within a path component, '**' across).")
@click.option("--tag", "tags", multiple=True, metavar="GLOB", help="Only tags matching GLOB (repeatable).")
@click.option("--newest", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the N most recently created tags of each repository.")
@click.option("--shard", default=None, metavar="I/N",
              help="Scan only this shard's share of the images (deterministic; combine with imgopt scan merge).")
@click.option("-j", "--jobs", type=click.IntRange(min=1, max=256), default=None,
              help="Local worker processes (default: one per CPU).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="Run the tasks on this Dask scheduler's workers instead (pip install 'imgopt[dask]').")
@cache_options
@click.option("--details", is_flag=True, help="Keep each image's whole analysis (imgopt analyze's JSON) in its record.")
@click.option("--top", type=click.IntRange(1, 10000), default=10, show_default=True,
              help="Images and layers ranked in the fleet totals.")
@click.option("--registry", "registries", default="vpc,public", show_default=True, metavar="NAMES",
              help="Registry profiles to simulate cold starts for (comma-separated; 'none' for no simulation).")
@click.option("--no-verify", is_flag=True, help="Skip the SHA-256 of layers read in place (trusted local input).")
@click.option("--page-size", type=click.IntRange(1, 10000), default=None,
              help="Ask registries for repository and tag lists in pages of this many.")
@format_option("scan", default="text")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file (atomically).")
@platform_option
@insecure_option
@quiet_option
@handle_errors
def run(sources: tuple[str, ...], from_file: str | None, repos: tuple[str, ...], tags: tuple[str, ...],
        newest: int | None, shard: str | None, jobs: int | None, scheduler: str | None, cache_dir: str | None,
        no_cache: bool, details: bool, top: int, registries: str, no_verify: bool, page_size: int | None,
        fmt: str, output: str | None, platform: str | None, insecure: bool, quiet: bool) -> None:
    """Audit whole registries, repositories or local images: per image (sizes, junk,
    waste, dive's figures, layers shared, simulated cold start), per layer (how many
    images share it) and fleet totals (stored vs unique bytes, junk by class, the
    most shared layers, the images to fix first).

    SOURCE: docker://HOST (every repository), docker://HOST/REPO (every tag),
    docker://HOST/REPO:TAG, docker-daemon: (every local image), or any image
    reference.  Each distinct layer is read once, into the layer cache that
    imgopt analyze shares; a re-run (after Ctrl-C, or on an unchanged registry)
    reads only what is new.  One failing repository or image is reported and
    the scan goes on (the result is marked partial); when nothing could be
    analysed, the first failure is the error (exit code 2, no output).
    """
    from imgopt import api
    from imgopt.errors import ImgoptError
    from imgopt.formats import emit, render
    from imgopt.image.model import Platform
    from imgopt.scan.pipeline import ScanOptions

    regs = [] if registries.strip() in ("", "none") else [r.strip() for r in registries.split(",") if r.strip()]
    line = _Line(not quiet)
    opts = ScanOptions(from_file=from_file, repositories=list(repos), tags=list(tags), newest=newest, shard=shard,
                       jobs=jobs or 0, scheduler=scheduler, cache=cache_value(cache_dir, no_cache),
                       verify=not no_verify, fleet_top=top, details=details, registries=regs,
                       platform=Platform.parse(platform) if platform else None, insecure=insecure,
                       page_size=page_size, progress=line)
    result = api.scan(list(sources), opts)
    line.finish()
    if result.nothing_scanned():  # nothing to report but failures: one line, exit code 2, no output written
        failures = result.failures()
        what, why = failures[0]
        more = len(failures) - 1
        raise ImgoptError(what, why + (f" (and {more} more failure(s); nothing was scanned)" if more else
                                       " (nothing was scanned)"))
    emit(render("scan", fmt, result), output)
    if result.partial and not quiet:
        failed = result.fleet.images_failed
        click.echo(f"imgopt: warning: partial result: {failed} image(s) failed, {len(result.errors)} source or "
                   "repository error(s)", err=True)


@scan.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--top", type=click.IntRange(1, 10000), default=10, show_default=True,
              help="Images and layers ranked in the fleet totals.")
@format_option("scan", default="text")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file (atomically).")
@handle_errors
def merge(results: tuple[str, ...], top: int, fmt: str, output: str | None) -> None:
    """Combine the results of a split scan (imgopt scan --shard I/N, as JSON Lines or JSON)
    into one: image records kept, layers and fleet totals recomputed over all of them."""
    from imgopt import api
    from imgopt.formats import emit, render

    emit(render("scan", fmt, api.scan_merge(list(results), top=top)), output)
