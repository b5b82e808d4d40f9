"""The ``imgopt`` command line: one thin command per stage.

Exit codes: 0 success, 1 a check failed (gate, verification), 2 bad input or
usage.  Expected failures print one line, ``imgopt: error: INPUT: PROBLEM``.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import click

from imgopt import __version__
from imgopt.errors import ImgoptError, printable


def _fail(msg: str, code: int = 2) -> None:
    click.echo(f"imgopt: error: {printable(msg, 1200)}", err=True)
    sys.exit(code)


def handle_errors(fn):
    """Turn expected failures into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except ImgoptError as e:
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as e:
            where = printable(e.filename, 240) if e.filename else "I/O"
            _fail(f"{where}: {e.strerror or e}")

    return wrapper


def _platform_opt(fn):
    return click.option("--platform", metavar="OS/ARCH[/VARIANT]", default=None,
                        help="Image to pick from a multi-platform index (default: this host's).")(fn)


def _insecure_opt(fn):
    return click.option("--insecure", is_flag=True,
                        help="Allow plain HTTP and unverified TLS for registries other than localhost.")(fn)


def _source_opts(platform: str | None, insecure: bool, progress=None):
    from imgopt.image.model import Platform
    from imgopt.image.sources import SourceOptions

    return SourceOptions(platform=Platform.parse(platform) if platform else None, insecure=insecure,
                         progress=progress)


# Commands that live in their stage's package ("name": "module:attribute"),
# imported only when used so `imgopt --help` stays fast.
LAZY_COMMANDS = {
    "analyze": "imgopt.analyze.cli:analyze",
    "trace": "imgopt.trace.cli:trace",
    "minify": "imgopt.minify.cli:minify",
    "slim": "imgopt.minify.cli:slim",
    "simulate": "imgopt.simulate.cli:simulate",
    "calibrate": "imgopt.simulate.cli:calibrate",
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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--deep", is_flag=True, help="Read every layer: verify digests, count files, measure uncompressed size.")
@_platform_opt
@_insecure_opt
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@handle_errors
def inspect(image: str, fmt: str, deep: bool, platform: str | None, insecure: bool, quiet: bool) -> None:
    """Show an image's manifest, config and layers (with the instruction that made each)."""
    from imgopt.image.sources import open_image
    from imgopt.inspect import format_text, inspect_image
    from imgopt.progress import Progress

    prog = Progress("reading", enabled=False if quiet else None)
    with open_image(image, _source_opts(platform, insecure, prog)) as img:
        result = inspect_image(img, deep=deep, progress=prog)
    prog.finish()
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(format_text(result))


@cli.command()
@click.argument("src")
@click.argument("dest")
@click.option("--compress", type=click.Choice(["auto", "keep", "gzip", "zstd", "none"]), default="auto",
              show_default=True,
              help="auto: keep compressed layers as they are, gzip uncompressed ones for registries and OCI "
                   "layouts; keep: never re-encode; gzip/zstd/none: re-encode every layer not already in it.")
@click.option("--level", type=int, default=None, help="Compression level (gzip 1-9, zstd 1-22).")
@_platform_opt
@_insecure_opt
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Layers re-encoded in parallel.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@handle_errors
def copy(src: str, dest: str, compress: str, level: int | None, platform: str | None, insecure: bool,
         jobs: int | None, quiet: bool) -> None:
    """Copy an image between transports (like skopeo copy).

    Unchanged layers keep their digests.  Output is written atomically.
    """
    from imgopt.image.codecs import Compression
    from imgopt.image.sinks import SinkOptions, write_image
    from imgopt.image.sources import open_image
    from imgopt.progress import Progress, human

    if level is not None and compress in ("gzip", "zstd"):
        Compression(compress).check_level(level)
    prog = Progress("copying", enabled=False if quiet else None)
    t0 = time.monotonic()
    with open_image(src, _source_opts(platform, insecure)) as img:
        res = write_image(img, dest, SinkOptions(compress=compress, level=level, insecure=insecure,
                                                 progress=prog, jobs=jobs))
        size = sum(l.size for l in res.image.layers)
        n = len(res.image.layers)
    prog.finish()
    dt = time.monotonic() - t0
    if not quiet:
        click.echo(f"Wrote {dest}: manifest {res.manifest_digest}, {n} layers, {human(size)} "
                   f"in {dt:.1f} s", err=True)


def main() -> None:
    # file names from images may hold bytes that are not UTF-8 (kept as
    # surrogates): write them back as the same bytes, never fail on them
    from imgopt.outtext import ERRORS

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors=ERRORS)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    cli(prog_name="imgopt")


if __name__ == "__main__":  # pragma: no cover
    main()
