"""``imgopt cache info`` / ``imgopt cache prune``: look after the layer cache."""

from __future__ import annotations

import click

from imgopt.cli_options import format_option, handle_errors


@click.group()
def cache() -> None:
    """The layer cache that imgopt analyze and imgopt scan share.

    Per-layer summaries (by diffID) and finished analyses, in one SQLite
    database under $IMGOPT_CACHE, $XDG_CACHE_HOME/imgopt or ~/.cache/imgopt
    (bounded by $IMGOPT_CACHE_SIZE, default 2G; least recently used first out).
    """


def _dir_option(fn):
    return click.option("--cache", "cache_dir", metavar="DIR", default=None,
                        help="Cache directory (default: $IMGOPT_CACHE, $XDG_CACHE_HOME/imgopt or ~/.cache/imgopt).")(fn)


@cache.command()
@_dir_option
@format_option("cache")
@handle_errors
def info(cache_dir: str | None, fmt: str) -> None:
    """How many layers and results the cache holds, its size and bound."""
    from imgopt import api
    from imgopt.formats import emit, render

    emit(render("cache", fmt, api.cache_info(cache_dir)))


@cache.command()
@_dir_option
@click.option("--max-size", "max_size", metavar="SIZE", default=None,
              help="Remove least recently used entries until at most SIZE (e.g. 500M, 2G) is stored.")
@click.option("--older-than", "older_than", metavar="DAYS", type=click.FloatRange(min=0), default=None,
              help="Remove entries not used for DAYS days.")
@click.option("--all", "everything", is_flag=True, help="Remove everything.")
@format_option("cache")
@handle_errors
def prune(cache_dir: str | None, max_size: str | None, older_than: float | None, everything: bool,
          fmt: str) -> None:
    """Shrink the cache (default: down to its bound), then return the space to the file system."""
    from imgopt import api
    from imgopt.cache import parse_size
    from imgopt.formats import emit, render

    res = api.cache_prune(cache_dir, max_bytes=parse_size(max_size, "--max-size") if max_size else None,
                          older_than=older_than * 86400 if older_than is not None else None, everything=everything)
    emit(render("cache", fmt, res))
