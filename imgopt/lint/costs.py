"""What a cold-start finding costs: bytes in the image, and seconds to pull them.

Seconds come from the simulator's registry profiles (``vpc`` and ``public`` by default; config
``cost-registries``) and its ``docker`` client profile: the extra bytes at the rate the client's
parallel downloads get, ``min(aggregate, per-connection x downloads)`` -- a first-order network
estimate, without handshakes, slow start or extraction (``imgopt simulate`` models those).  The
profiles (YAML) are read on the first costed finding only, so a clean Dockerfile never pays for
loading them.
"""

from __future__ import annotations

from functools import lru_cache

MB = 1_000_000

#: bytes measured on imgopt's fixture images (Debian bookworm, built by fixtures/build_apps.py;
#: `imgopt analyze` junk classes, gzip -6 of the same files for the compressed size)
MEASURED = {
    "apt-lists": (52_894_707, 12_416_765, "Debian bookworm's apt lists, measured on imgopt's fixture images"),
    "toolchain": (230_858_720, 77_077_878,
                  "build-essential + python3-dev on Debian bookworm (compilers, headers, static libraries), "
                  "measured on imgopt's pytorch fixture"),
}


def human(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.0f} {unit}" if n / size >= 10 else f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@lru_cache(maxsize=8)
def _rates(names: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    try:
        from imgopt.simulate.profiles import load

        client = load("client", "docker")
        out = []
        for n in names:
            reg = load("registry", n)
            out.append((n, min(reg.aggregate_bps, reg.per_connection_bps * client.max_concurrent_downloads)))
        return tuple(out)
    except Exception:  # profiles missing or broken: bytes only
        return ()


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
