"""``imgopt cache info|prune`` as text."""

from __future__ import annotations

import time

from imgopt.cache.result import CacheInfo
from imgopt.formats import RenderOptions
from imgopt.progress import human


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def render(c: CacheInfo, options: RenderOptions) -> str:
    out = []
    if c.action == "prune":
        out.append(f"Removed {c.removed_layers} layer summaries and {c.removed_results} results "
                   f"({human(c.removed_bytes)}).")
    out += [
        f"Cache: {c.database}",
        f"Layer summaries: {c.layers} ({human(c.layer_bytes)} of entry tables, summary schema {c.summary_schema})",
        f"Results: {c.results} ({human(c.result_bytes)}); blobs known: {c.blobs}",
        f"On disk: {human(c.file_bytes)} (bound {human(c.max_bytes)}, least recently used out first)",
        f"Used: {_when(c.oldest_use)} .. {_when(c.newest_use)}; integrity: {c.integrity}",
    ]
    return "\n".join(out) + "\n"
