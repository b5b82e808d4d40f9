"""The content-addressed cache: per-layer summaries and per-image results, in one SQLite file.

What it holds (:mod:`imgopt.cache.store`):

* **layer summaries** (:class:`~imgopt.analyze.summary.LayerSummary`) keyed by the
  layer's diffID and the summary schema version -- the entry table an image's
  analysis is merged from without reading the layer again;
* **blobs**: compressed digest -> diffID, codec and size, so a registry layer seen
  under any image is known by its digest before its config is read;
* **results**: finished documents (an image's analysis, a scan's image record)
  keyed by what they depend on (manifest digest, options, schema versions).
* **manifests** (:mod:`imgopt.cache.manifests`, in the results table): the
  digest each registry tag named last time and manifests by digest, so a
  re-scan asks a registry only whether a tag moved (``If-None-Match``).

Where: ``--cache DIR``, else ``$IMGOPT_CACHE``, else ``$XDG_CACHE_HOME/imgopt``,
else ``~/.cache/imgopt``; the database is ``DIR/imgopt.sqlite3``.  ``--no-cache``
turns it off for one command, ``IMGOPT_CACHE=off`` for all.  It is safe with many processes writing at once (WAL mode, one
transaction per entry), bounded in size (least-recently-used entries go first;
``$IMGOPT_CACHE_SIZE``, default 2 GiB) and optional: when it cannot be opened or
written, commands warn once and go on without it.  ``imgopt cache info`` and
``imgopt cache prune`` look after it.

A summary is cached only when its bytes were verified against the layer's
digests; the cache then trusts that diffID: a cached layer is not read again,
so a blob damaged after it was cached is not noticed (``--no-cache`` reads
everything).
"""

from __future__ import annotations

from imgopt.cache.location import DB_NAME, DEFAULT_MAX_BYTES, default_dir, disabled, max_bytes, parse_size


def open_cache(where: str | bool | None = None, *, warn=None):
    """The :class:`~imgopt.cache.store.LayerCache` for a ``cache`` option: None or True -> the default
    directory (none when ``IMGOPT_CACHE=off``), a path -> that directory, False -> no cache (returns None)."""
    if where is False or (where in (None, True) and disabled()):
        return None
    from imgopt.cache.store import LayerCache

    directory = default_dir() if where in (None, True) else str(where)
    return LayerCache(directory, warn=warn)


__all__ = ["default_dir", "disabled", "open_cache", "max_bytes", "parse_size", "DB_NAME", "DEFAULT_MAX_BYTES"]
