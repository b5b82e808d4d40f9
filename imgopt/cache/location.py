"""Where the cache lives and how big it may grow (environment and options)."""

from __future__ import annotations

import os

DB_NAME = "imgopt.sqlite3"
DEFAULT_MAX_BYTES = 2 << 30


def disabled() -> bool:
    """``IMGOPT_CACHE=off``: no layer cache and no verified-layer markers (what ``--no-cache`` does for one
    command, for every command)."""
    return os.environ.get("IMGOPT_CACHE", "").strip().lower() == "off"


def default_dir() -> str:
    """``$IMGOPT_CACHE``, else ``$XDG_CACHE_HOME/imgopt``, else ``~/.cache/imgopt``: the one directory for
    everything imgopt caches (the layer database, verified-layer markers, the simulator's workload data)."""
    explicit = os.environ.get("IMGOPT_CACHE")
    if explicit and not disabled():
        return explicit
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "imgopt")
    return os.path.join(os.path.expanduser("~"), ".cache", "imgopt")


def max_bytes() -> int:
    """The size bound: ``$IMGOPT_CACHE_SIZE`` (bytes, or with K/M/G suffix), else 2 GiB."""
    text = os.environ.get("IMGOPT_CACHE_SIZE", "")
    return parse_size(text, "IMGOPT_CACHE_SIZE") if text else DEFAULT_MAX_BYTES


def parse_size(text: str, subject: str) -> int:
    from imgopt.errors import BadInput

    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    try:
        n = float(t)
    except ValueError:
        raise BadInput(subject, f"{text!r} is not a size (e.g. 500M, 2G)") from None
    if n < 0:
        raise BadInput(subject, f"{text!r}: a size cannot be negative")
    return int(n * mult)


__all__ = ["default_dir", "disabled", "max_bytes", "parse_size", "DB_NAME", "DEFAULT_MAX_BYTES"]
