"""What every command line shares: error handling, the common options, ``--format``.

Stage commands (``imgopt/<stage>/cli.py``, and the ones in :mod:`imgopt.cli`)
build their arguments from these, call the library, and hand the typed
result to :mod:`imgopt.formats`.  Importing this module is cheap (click
only): the image stack is imported when a command runs.
"""

from __future__ import annotations

import functools
import sys

import click

from imgopt.errors import BadInput, ImgoptError, printable


def fail(msg: str, code: int = 2) -> None:
    """``imgopt: error: MSG`` on stderr, then exit with ``code``."""
    click.echo(f"imgopt: error: {printable(msg, 1200)}", err=True)
    sys.exit(code)


def handle_errors(fn):
    """Turn expected failures into one line and an exit code (see :mod:`imgopt.errors`)."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except ImgoptError as e:
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as e:
            where = printable(e.filename, 240) if e.filename else "I/O"
            fail(f"{where}: {e.strerror or e}")

    return wrapper


def platform_option(fn):
    return click.option("--platform", metavar="OS/ARCH[/VARIANT]", default=None,
                        help="Image to pick from a multi-platform index (default: this host's).")(fn)


def insecure_option(fn):
    return click.option("--insecure", is_flag=True,
                        help="Allow plain HTTP and unverified TLS for registries other than localhost.")(fn)


def quiet_option(fn):
    return click.option("-q", "--quiet", is_flag=True, help="No progress output.")(fn)


def cache_options(fn):
    """``--cache DIR`` / ``--no-cache``: the layer cache (imgopt.cache); passes ``cache`` (None: the default
    directory, a path, or False)."""
    fn = click.option("--no-cache", "no_cache", is_flag=True,
                      help="Neither read nor write the layer cache (read every layer).")(fn)
    fn = click.option("--cache", "cache_dir", metavar="DIR", default=None,
                      help="Layer cache directory (default: $IMGOPT_CACHE, $XDG_CACHE_HOME/imgopt or "
                           "~/.cache/imgopt).")(fn)
    return fn


def cache_value(cache_dir: str | None, no_cache: bool):
    """The library's ``cache`` option from ``--cache`` / ``--no-cache``."""
    if no_cache and cache_dir:
        from imgopt.errors import BadInput

        raise BadInput("--no-cache", "cannot be combined with --cache DIR")
    return False if no_cache else cache_dir


def format_option(kind: str, default: str = "text"):
    """``--format`` with the formats :mod:`imgopt.formats` can render ``kind`` in."""
    from imgopt.formats import choices

    return click.option("--format", "fmt", type=click.Choice(choices(kind)), default=default, show_default=True)


def source_options(platform: str | None, insecure: bool, progress=None):
    """The :class:`~imgopt.image.transports.SourceOptions` for ``--platform`` / ``--insecure``."""
    from imgopt.image.model import Platform
    from imgopt.image.transports import SourceOptions

    return SourceOptions(platform=Platform.parse(platform) if platform else None, insecure=insecure,
                         progress=progress)


def _pids(ctx, param, value):
    if value is None or str(value).lower() in ("0", "none", "unlimited", "max"):
        return None
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"--pids {value}", "expected a number of processes (or none)") from None


def _memory(ctx, param, value):
    from imgopt.trace.cgroup import parse_memory

    return parse_memory(value)


def limit_options(fn):
    """--pids, --memory, --cpu-limit (the sandbox's cgroup limits), for trace, minify and slim."""
    for o in reversed([
        click.option("--pids", default="4096", show_default=True, metavar="N|none", callback=_pids,
                     help="Most processes + threads in the sandbox (a fork bomb stops there)."),
        click.option("--memory", default="4g", show_default=True, metavar="SIZE|none", callback=_memory,
                     help="Memory limit of the sandbox, no swap on top (512m, 2g); the OOM killer stops the app "
                          "there and the error says so."),
        click.option("--cpu-limit", type=float, default=None, metavar="CPUS",
                     help="CPU time quota in CPUs (1.5 = one and a half); default none.  Not --cpus, which pins."),
    ]):
        fn = o(fn)
    return fn


__all__ = ["fail", "handle_errors", "cache_options", "cache_value", "platform_option", "insecure_option",
           "quiet_option", "format_option", "source_options", "limit_options"]
