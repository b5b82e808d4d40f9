"""The ``imgopt`` command line: one thin command per stage.

Exit codes: 0 success, 1 a check failed (a trace probe, the slim image's
verification, a gate threshold, a lint finding), 2 bad input or usage.  Expected failures print one line, ``imgopt: error: INPUT: PROBLEM``.
"""

from __future__ import annotations

import click

from imgopt import __version__
from imgopt.cli_options import (format_option, handle_errors, insecure_option, platform_option, quiet_option,
                                source_options)


# Commands that live in their stage's package ("name": "module:attribute"),
# imported only when used so `imgopt --help` stays fast.
LAZY_COMMANDS = {
    "analyze": "imgopt.analyze.cli:analyze",
    "trace": "imgopt.trace.cli:trace",
    "minify": "imgopt.minify.cli:minify",
    "slim": "imgopt.minify.cli:slim",
    "simulate": "imgopt.simulate.cli:simulate",
    "calibrate": "imgopt.simulate.cli:calibrate",
    "lint": "imgopt.lint.cli:lint",
    "gate": "imgopt.gate.cli:gate",
    "report": "imgopt.report.cli:report",
    "scan": "imgopt.scan.cli:scan",
    "cache": "imgopt.cache.cli:cache",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        import importlib.util

        names = set(super().list_commands(ctx))
        for name, target in LAZY_COMMANDS.items():
            try:
                found = importlib.util.find_spec(target.split(":")[0]) is not None
            except ModuleNotFoundError:  # parent package not there
                found = False
            if found:
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in LAZY_COMMANDS:
            import importlib

            mod, attr = LAZY_COMMANDS[name].split(":")
            try:
                cmd = getattr(importlib.import_module(mod), attr)
            except ModuleNotFoundError as e:
                if e.name and mod.startswith(e.name):
                    return None
                raise
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="imgopt")
def cli() -> None:
    """Make container images start fast.

    IMAGE arguments take skopeo-style references: docker-archive:FILE,
    oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-daemon:NAME[:TAG],
    docker://HOST/REPO[:TAG|@DIGEST], or a plain path (detected).
    """


@cli.command()
@click.argument("image")
@format_option("inspection")
@click.option("--deep", is_flag=True, help="Read every layer: verify digests, count files, measure uncompressed size.")
@platform_option
@insecure_option
@quiet_option
@handle_errors
def inspect(image: str, fmt: str, deep: bool, platform: str | None, insecure: bool, quiet: bool) -> None:
    """Show an image's manifest, config and layers (with the instruction that made each)."""
    from imgopt import api
    from imgopt.formats import emit, render
    from imgopt.image.inspect import InspectOptions
    from imgopt.progress import Progress

    prog = Progress("reading", enabled=False if quiet else None)
    result = api.inspect(image, InspectOptions(deep=deep, progress=prog),
                         source=source_options(platform, insecure, prog))
    prog.finish()
    emit(render("inspection", fmt, result))


@cli.command()
@click.argument("src")
@click.argument("dest")
@click.option("--compress", type=click.Choice(["auto", "keep", "gzip", "zstd", "none"]), default="auto",
              show_default=True,
              help="auto: keep compressed layers as they are, gzip uncompressed ones for registries and OCI "
                   "layouts; keep: never re-encode; gzip/zstd/none: re-encode every layer not already in it.")
@click.option("--level", type=int, default=None, help="Compression level (gzip 1-9, zstd 1-22).")
@platform_option
@insecure_option
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Layers re-encoded in parallel.")
@quiet_option
@handle_errors
def copy(src: str, dest: str, compress: str, level: int | None, platform: str | None, insecure: bool,
         jobs: int | None, quiet: bool) -> None:
    """Copy an image between transports (like skopeo copy).

    Unchanged layers keep their digests.  Output is written atomically.
    """
    from imgopt import api
    from imgopt.image.codecs import Compression
    from imgopt.image.transports import SinkOptions
    from imgopt.progress import Progress, human

    if level is not None and compress in ("gzip", "zstd"):
        Compression(compress).check_level(level)
    prog = Progress("copying", enabled=False if quiet else None)
    res = api.copy(src, dest, SinkOptions(compress=compress, level=level, insecure=insecure, progress=prog, jobs=jobs),
                   source=source_options(platform, insecure))
    prog.finish()
    if not quiet:  # a status line on stderr: copy's output is the image
        click.echo(f"Wrote {dest}: manifest {res.manifest_digest}, {res.layers} layers, {human(res.bytes)} "
                   f"in {res.seconds:.1f} s", err=True)


def main() -> None:
    """The click CLI (the console script is :func:`imgopt.entry.main`, which sets up the output streams)."""
    cli(prog_name="imgopt")


if __name__ == "__main__":  # pragma: no cover
    main()
