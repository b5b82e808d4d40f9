"""An image's layer summaries: from the layer cache, else read once (in worker processes) and cached.

:func:`image_summaries` is what ``imgopt analyze`` does before merging: look
every layer's diffID up in the cache, read only the missing layers -- biggest
first, one per worker process (``jobs``), the same diffID once -- and store
what was verified.  ``imgopt scan`` schedules the same :func:`summarize_layer`
across a whole registry instead (:mod:`imgopt.scan.tasks`).
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor
from typing import Callable

from imgopt.analyze.summary import FORMAT, SUMMARY_SCHEMA, LayerSummary, summarize_layer
from imgopt.image.model import Image

# images handed to forked workers by token (a Layer's opener is a closure: it does not pickle,
# but a forked worker has the parent's memory)
_IMAGES: dict[int, Image] = {}
_tokens = itertools.count(1)


def _summarize_forked(token: int, index: int, verify: bool) -> LayerSummary:
    return summarize_layer(_IMAGES[token].layers[index], verify=verify)


def image_summaries(image: Image, *, cache=None, pool: Executor | None = None, verify: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    counter: Callable[[int], None] | None = None) -> list[LayerSummary]:
    """One summary per layer of ``image`` (layer order)."""
    total = sum(l.size for l in image.layers)
    found: dict[str, LayerSummary] = {}
    if cache is not None:
        for diff_id in dict.fromkeys(l.diff_id for l in image.layers):
            s = cache.get_layer(diff_id, SUMMARY_SCHEMA, FORMAT)
            if s is not None:
                found[diff_id] = s
    first: dict[str, int] = {}
    for i, l in enumerate(image.layers):
        if l.diff_id not in found:
            first.setdefault(l.diff_id, i)
            if progress and first[l.diff_id] != i:
                progress(l.size, total)
        elif progress:
            progress(l.size, total)
    todo = sorted(first.values(), key=lambda i: -image.layers[i].size)

    def done(i: int, s: LayerSummary) -> None:
        found[image.layers[i].diff_id] = s
        if counter:
            counter(image.layers[i].size)
        if cache is not None:
            cache.put_layer(s, FORMAT)
        if progress:
            progress(image.layers[i].size, total)

    if pool is not None and len(todo) > 1:
        token = next(_tokens)
        _IMAGES[token] = image
        try:
            futs = [(i, pool.submit(_summarize_forked, token, i, verify)) for i in todo]
            try:
                for i, fut in futs:
                    done(i, fut.result())
            except BaseException:
                for _, fut in futs:
                    fut.cancel()
                raise
        finally:
            del _IMAGES[token]
    else:
        for i in todo:
            done(i, summarize_layer(image.layers[i], verify=verify))
    return [found[l.diff_id] for l in image.layers]


__all__ = ["image_summaries"]
