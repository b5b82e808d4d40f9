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

from imgopt.errors import ImgoptError


def fail(msg: str, code: int = 2) -> None:
    """``imgopt: error: MSG`` on stderr, then exit with ``code``."""
    click.echo(f"imgopt: error: {msg}", err=True)
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
            where = e.filename or "I/O"
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


__all__ = ["fail", "handle_errors", "cache_options", "cache_value", "platform_option", "insecure_option", "quiet_option", "format_option",
           "source_options"]
