"""Language-level closure: what the interpreted code an app loaded can load later.

A trace sees what the probe reached.  A module imported inside a request
handler, a template rendered by another endpoint, an encoding table a body
parser loads on the first POST, a tool a script runs on an error path: none
of them is opened while ``GET /`` is answered, and a slim image without them
breaks on the first request nobody probed.  This package reads the source of
every interpreted file the app loaded (the access profile says which) and
adds what it names *statically*: literal imports, requires, includes and
commands, resolved the way the language's own loader would resolve them
inside this image (``sys.path`` of each Python in the image, Node's
``node_modules`` lookup and ``package.json`` ``exports``, Ruby's and Perl's
load paths, a jar's ``Class-Path``, a script's ``PATH``) -- to a fixpoint:
what is added is read in turn.  What cannot be resolved (an import whose name
is computed at run time) is reported, never guessed.

One module per language, each a :class:`Language` (the interface: :mod:`.base`) with two methods:
``claims(path, ctx)`` (is this file mine?) and ``scan(path, ctx)`` (what it
can load: :class:`Found` and :class:`Unresolved` items).  ``start(ctx)``
gives what a language needs before any file (Java: the ``-cp`` / ``-jar`` of
the processes the app ran).  :func:`language_closure` runs them all.
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import Iterable

from imgopt.analyze.scan import Scan
from imgopt.minify.closure.base import (WHOLE_MAX, Added, ClosureResult, Context, Found, Language, Unresolved,
                                        app_dir, strong, whole)
from imgopt.minify.closure.files import FILE_KINDS, ImageFiles


def languages() -> list[Language]:
    from imgopt.minify.closure.java import Java
    from imgopt.minify.closure.node import Node
    from imgopt.minify.closure.perl import Perl
    from imgopt.minify.closure.php import Php
    from imgopt.minify.closure.python import Python
    from imgopt.minify.closure.ruby import Ruby
    from imgopt.minify.closure.shell import Shell

    return [Python(), Node(), Ruby(), Perl(), Php(), Java(), Shell()]


def close(files: ImageFiles, seeds: Iterable[str], *, env: dict[str, str], workdir: str,
          argvs: list[list[str]], langs: list[Language] | None = None) -> ClosureResult:
    """Everything the ``seeds`` (absolute paths of loaded files) can load, to a fixpoint."""
    ctx = Context(files, env, workdir, argvs)
    langs = langs if langs is not None else languages()
    res = ClosureResult()
    seen: set[str] = set()
    queue: deque[str] = deque()
    unresolved: dict[Unresolved, None] = {}

    def push(path: str) -> None:
        final, node = files.lookup(path)
        if node is not None and node.kind in FILE_KINDS and final not in seen:
            seen.add(final)
            queue.append(final)

    def take(lang: Language, items: Iterable[Found | Unresolved]) -> None:
        for it in items:
            if isinstance(it, Unresolved):
                unresolved.setdefault(it)
                continue
            final, node = files.lookup(it.path)
            if node is None:
                continue
            if not it.how.startswith(("whole ", "the application directory")) and strong(ctx, it.by):
                ctx.state.setdefault("named", set()).add(final)  # type: ignore[union-attr]
            if it.path not in res.added and final not in seeds_final:
                res.added[it.path] = Added(lang.name, it.how, it.by)
            if it.parse:
                push(it.path)

    seeds_final = ctx.loaded
    for s in seeds:
        final, node = files.lookup(s)
        if node is not None:
            seeds_final.add(final)
        push(s)
    for lang in langs:
        lang.prepare([p for p in queue if lang.claims(p, ctx)], ctx)
        take(lang, lang.start(ctx))
    while queue:
        path = queue.popleft()
        for lang in langs:
            if lang.claims(path, ctx):
                res.scanned[lang.name] = res.scanned.get(lang.name, 0) + 1
                take(lang, lang.scan(path, ctx))
    res.unresolved = list(unresolved)
    return res


_CACHE: dict[int, tuple[weakref.ref, dict]] = {}


def language_closure(scan: Scan, seeds: Iterable[str], *, argvs: list[list[str]]) -> ClosureResult:
    """:func:`close` over a scanned image, memoized per scan (verification rounds re-plan the same image)."""
    seeds = sorted(set(seeds))
    key = (tuple(seeds), tuple(tuple(a) for a in argvs))
    hit = _CACHE.get(id(scan))
    if hit is None or hit[0]() is not scan:
        for k in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
            del _CACHE[k]
        hit = (weakref.ref(scan), {})
        _CACHE[id(scan)] = hit
    memo = hit[1]
    if key not in memo:
        cfg = scan.image.config
        memo.clear()
        memo[key] = close(ImageFiles(scan), seeds, env=cfg.env_dict, workdir=cfg.workdir or "/", argvs=argvs)
    return memo[key]


__all__ = ["Found", "Unresolved", "Added", "ClosureResult", "Context", "Language", "languages", "close",
           "language_closure", "ImageFiles", "whole", "strong", "app_dir", "WHOLE_MAX"]
