"""What a cold-start finding costs: bytes in the image, and seconds to pull them.

Seconds come from the simulator's registry profiles (``vpc`` and ``public`` by default; config
``cost-registries``) and its ``docker`` client profile: the extra bytes at the rate the client's
parallel downloads get, ``min(aggregate, per-connection x downloads)`` -- a first-order network
estimate, without handshakes, slow start or extraction (``imgopt simulate`` models those).  The
profiles are read through :mod:`imgopt.simulate.profiles` on the first costed finding only, and the
two numbers per profile are kept in ``~/.cache/imgopt/pull-rates.json`` until a profile file or
directory changes, so a lint run does not load PyYAML.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

MB = 1_000_000

#: bytes measured on imgopt's fixture images (Debian bookworm, built by fixtures/build_apps.py;
#: `imgopt analyze` junk classes, gzip -6 of the same files for the compressed size)
MEASURED = {
    "apt-lists": (52_894_707, 12_416_765, "measured: Debian bookworm's lists"),
    "toolchain": (230_858_720, 77_077_878, "measured: build-essential + python3-dev on Debian bookworm"),
}


def human(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.0f} {unit}" if n / size >= 10 else f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@lru_cache(maxsize=8)
def _rates(names: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """(registry profile, bytes/s a docker pull gets from it) for each name; () when unavailable."""
    cached = _read_cache(names)
    if cached is not None:
        return cached
    try:
        from imgopt.simulate import profiles

        client = profiles.load("client", "docker")
        out, files = [], [str(profiles.find("client", "docker"))]
        for n in names:
            reg = profiles.load("registry", n)
            out.append((n, min(reg.aggregate_bps, reg.per_connection_bps * client.max_concurrent_downloads)))
            files.append(str(profiles.find("registry", n)))
        dirs = [str(d / k) for d in profiles.search_dirs() for k in ("registry", "client")]
    except Exception:  # profiles missing or broken: bytes only
        return ()
    _write_cache(names, tuple(out), files, dirs)
    return tuple(out)


# The rates are kept in a small cache so that a lint run does not load PyYAML and the profiles
# (the largest part of a one-file run's start-up) unless a profile file or directory changed.
def _cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "imgopt", "pull-rates.json")


def _stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
        return [st.st_mtime_ns, st.st_size]
    except OSError:
        return None


def _read_cache(names: tuple[str, ...]):
    try:
        with open(_cache_path(), encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("names") != list(names) or doc.get("env") != os.environ.get("IMGOPT_SIMULATE_PROFILES", ""):
            return None
        for path, stamp in doc["stamps"]:
            if _stamp(path) != stamp:
                return None
        return tuple((n, float(r)) for n, r in doc["rates"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(names, rates, files, dirs) -> None:
    try:
        from imgopt.atomic import write_text

        path = _cache_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        doc = {"names": list(names), "env": os.environ.get("IMGOPT_SIMULATE_PROFILES", ""),
               "rates": [list(r) for r in rates], "stamps": [[p, _stamp(p)] for p in files + dirs]}
        write_text(path, json.dumps(doc))
    except Exception:  # a read-only home is no reason to fail a lint
        pass


def pull_seconds(compressed: float, names: tuple[str, ...] = ("vpc", "public")) -> list[tuple[str, float]]:
    return [(n, compressed / r) for n, r in _rates(tuple(names)) if r > 0]


def describe(uncompressed: float | None, compressed: float | None = None, config=None, source: str = "") -> str:
    """'~53 MB in the image, ~0.1 s (vpc) / ~0.5 s (public) more to pull'."""
    parts = []
    if uncompressed:
        parts.append(f"~{human(uncompressed)} in the image")
    if compressed:
        names = tuple(getattr(config, "cost_registries", ("vpc", "public")) or ("vpc", "public"))
        secs = pull_seconds(compressed, names)
        if secs:
            parts.append(" / ".join(f"~{_secs(s)} s ({n})" for n, s in secs) + " more to pull")
    text = ", ".join(parts)
    return f"{text}; {source}" if text and source else text


def _secs(s: float) -> str:
    return f"{s:.1f}" if s >= 0.95 else f"{s:.2f}" if s >= 0.0095 else "<0.01"


def measured(key: str, config=None) -> str:
    u, c, src = MEASURED[key]
    return describe(u, c, config, src)


__all__ = ["MB", "MEASURED", "human", "pull_seconds", "describe", "measured"]
