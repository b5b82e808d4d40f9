"""Layer layouts for the slim image, and where each kept file's bytes come from.

* ``startup-first`` (default): one layer with the files the trace saw (the
  app's startup and what its probes reached), in path order (parents first),
  then one with the rest.  Path order, not access order: two traces of the
  same app interleave their processes differently, and the layers must not
  depend on that (the same input gives the same digests).
* ``keep-base``: the base image's layers byte-identical (hosts that cached
  them pull only the app part), the app part slimmed and reordered, with
  whiteouts where the app had deleted or replaced base files.  For eStargz
  (``reencode_base``) every base layer is re-encoded instead, all its
  entries kept, the startup files it holds first: a lazy client could not
  prefetch anything from a plain tar.
* ``original``: the same layer boundaries, each keeping its own kept files,
  the startup files it holds first.
* ``single``: one layer, startup files first.

Whatever the layout, every layer puts the startup files it holds first
(:attr:`PlannedLayer.prioritized`): eStargz writes them before
``.prefetch.landmark``, so a lazy client prefetches every startup file.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from imgopt.analyze.scan import Scan
from imgopt.errors import BadInput
from imgopt.image.filetree import FileTree, Node, layer_entries
from imgopt.image.fs import BoundedFile
from imgopt.image.model import Layer
from imgopt.image.tarstream import WHITEOUT_PREFIX, Kind
from imgopt.minify.keep import KeepPlan
from imgopt.minify.writer import NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_NAME, OutEntry

LAYOUTS = ("startup-first", "keep-base", "original", "single")


@dataclass
class PlannedLayer:
    entries: list[OutEntry] = field(default_factory=list)
    prioritized: int = 0  # leading entries that are startup files (eStargz prefetch)
    comment: str = ""
    passthrough: Layer | None = None  # keep this original layer byte for byte
    reencoded: int | None = None  # the original layer whose every entry this one holds, reordered (keep-base, eStargz)


class ContentStore:
    """Opens the bytes of (layer, path) of the original image.

    Layers stored uncompressed on local disk are read in place; others are
    streamed once more and only the wanted files copied to a scratch dir.
    """

    def __init__(self, scan: Scan, workdir: str):
        self.scan = scan
        self.workdir = workdir
        self.extracted: dict[tuple[int, str], str] = {}
        self.requested: set[tuple[int, str]] = set()  # every (layer, path) an opener was made for

    def prepare(self, wanted: set[tuple[int, str]]) -> None:
        by_layer: dict[int, set[str]] = {}
        for layer, path in wanted:
            if not self._in_place(layer, path):
                by_layer.setdefault(layer, set()).add(path)
        for i, paths in sorted(by_layer.items()):
            self._extract(i, paths - {p for (l, p) in self.extracted if l == i})

    def _in_place(self, layer: int, path: str) -> bool:
        l = self.scan.image.layers[layer]
        return l.local is not None and self.scan.content.is_seekable(layer) and (layer, path) in self.scan.content.offsets

    def _extract(self, i: int, paths: set[str]) -> None:
        from imgopt.image.tarstream import iter_entries

        if not paths:
            return
        layer = self.scan.image.layers[i]
        d = tempfile.mkdtemp(prefix=f"content-{i}-", dir=self.workdir)
        n = 0
        stream = layer.open_tar()
        try:
            for e, _m, reader in iter_entries(stream, layer.subject):
                if e.kind is Kind.FILE and e.path in paths:
                    n += 1
                    dest = os.path.join(d, str(n))
                    with open(dest, "wb") as out:
                        while chunk := reader.read_member(1 << 20):
                            out.write(chunk)
                    self.extracted[(i, e.path)] = dest  # the last entry for a path wins, as in the tree
            stream.verify()
        finally:
            stream.close()

    def opener(self, layer: int, path: str) -> Callable[[], BinaryIO]:
        """Opens the bytes when called: entries are planned before :meth:`prepare` extracts them."""
        self.requested.add((layer, path))

        def open_() -> BinaryIO:
            if (layer, path) in self.extracted:
                return open(self.extracted[(layer, path)], "rb")
            l = self.scan.image.layers[layer]
            off, size = self.scan.content.offsets[(layer, path)]
            assert l.local is not None
            f, base, _ = l.local
            return BoundedFile(f, base + off, size)  # type: ignore[return-value]

        return open_


def source_of(node: Node, path: str) -> tuple[int, str]:
    """(layer, path) holding a file's bytes (a hardlink's are its target's)."""
    if node.kind is Kind.HARDLINK and node.src is not None:
        return node.src
    return node.layer, path


class EntryMaker:
    """OutEntry objects for kept paths, hardlinks resolved per layer."""

    def __init__(self, tree: FileTree, store: ContentStore):
        self.tree = tree
        self.store = store

    def make(self, path: str, in_layer: dict[str, OutEntry]) -> OutEntry | None:
        node = self.tree.get(path)
        if node is None:
            return None
        e = OutEntry(path, node.kind, node.mode, node.uid, node.gid, node.mtime, 0, node.linkname,
                     node.uname, node.gname, node.devmajor, node.devminor, node.xattrs)
        if node.kind is Kind.HARDLINK:
            target = self.tree.get(node.linkname)
            same = (target is not None and target.kind is Kind.FILE and node.src == (target.layer, node.linkname)
                    and node.linkname in in_layer)
            if not same:  # the target is elsewhere or changed: store the bytes themselves
                e.kind, e.linkname = Kind.FILE, ""
        if e.kind is Kind.FILE:
            e.size = node.size
            if node.kind is Kind.HARDLINK and node.src is None:
                e.size = 0  # a hardlink to nothing (outside the tree, later, itself, a cycle): empty, as unpacked
            if e.size:
                e.content = self.store.opener(*source_of(node, path))
        return e


def wanted_content(tree: FileTree, paths: list[str]) -> set[tuple[int, str]]:
    out = set()
    for p in paths:
        n = tree.get(p)
        if n is not None and n.kind in (Kind.FILE, Kind.HARDLINK) and n.size:
            out.add(source_of(n, p))
    return out


def _with_parents(paths: list[str], keep: dict[str, str] | set[str], emitted: set[str]) -> list[str]:
    """``paths`` in order, each preceded by its not yet emitted parent directories."""
    out = []
    for p in paths:
        parents = []
        d = posixpath.dirname(p)
        while d and d not in emitted:
            parents.append(d)
            d = posixpath.dirname(d)
        for d in reversed(parents):
            emitted.add(d)
            out.append(d)
        if p not in emitted:
            emitted.add(p)
            out.append(p)
    return out


def _entries(maker: EntryMaker, order: list[str]) -> list[OutEntry]:
    """Entries in ``order``, except that a hardlink's target (when in this
    layer) is moved before the link so the link can stay a link."""
    members = set(order)
    in_layer: dict[str, OutEntry] = {}
    out: list[OutEntry] = []

    def emit(p: str) -> None:
        if p in in_layer:
            return
        node = maker.tree.get(p)
        target = maker.tree.get(node.linkname) if node is not None and node.kind is Kind.HARDLINK else None
        # only a link to a regular file stays a link (EntryMaker): emit that file first.  A file
        # never recurses here, so hardlink chains and cycles cannot recurse either
        if target is not None and target.kind is Kind.FILE and node.linkname in members and node.linkname != p:
            d = posixpath.dirname(node.linkname)
            chain = []
            while d and d in members and d not in in_layer:
                chain.append(d)
                d = posixpath.dirname(d)
            for d in reversed(chain):
                emit(d)
            emit(node.linkname)
        e = maker.make(p, in_layer)
        if e is not None:
            in_layer[p] = e
            out.append(e)

    for p in order:
        emit(p)
    return out


def _startup_first(maker: EntryMaker, startup: list[str], paths: list[str], comment: str) -> PlannedLayer:
    """One layer of ``paths`` (tree order), the ``startup`` files among them first with
    their parents and hardlink groups: those are the layer's prioritized entries."""
    emitted: set[str] = set()
    members = set(paths)
    first = _with_parents(_with_hardlink_groups(maker.tree, [p for p in startup if p in members], paths),
                          members, emitted)
    rest = [p for p in paths if p not in emitted]
    entries = _entries(maker, first + rest)
    return PlannedLayer(entries, sum(1 for e in entries if e.path in emitted), comment)


def plan_layers(scan: Scan, plan: KeepPlan, layout: str, store: ContentStore, *,
                base_layers: int | None = None, reencode_base: bool = False,
                startup_layers: int = 1, rest_layers: int = 1) -> list[PlannedLayer]:
    """The layers of the slim image.  ``reencode_base``: keep-base writes the base
    layers anew (every entry, startup files first) instead of passing them through.
    ``startup_layers`` / ``rest_layers`` (startup-first): the startup files, and the
    files after them, as that many layers each, small ones first (:func:`split_sizes`)."""
    if layout not in LAYOUTS:
        raise BadInput("--layout", f"unknown layout {layout!r} (choose from {', '.join(LAYOUTS)})")
    tree = scan.tree
    all_sorted = [p for p, _ in tree.walk() if p in plan.keep]  # depth-first, sorted: parents first
    maker = EntryMaker(tree, store)
    # the traced files in tree order, never in access order: timing must not move bytes between layers
    traced = set(plan.startup)
    startup = [p for p in all_sorted if p in traced]
    if layout == "keep-base":
        return _keep_base(scan, plan, maker, startup, base_layers, reencode_base)
    if layout == "original":
        layers = []
        for i in range(len(scan.image.layers)):
            own = [p for p in all_sorted if tree.get(p).layer == i]  # type: ignore[union-attr]
            order = _with_parents(own, plan.keep, set())
            layers.append(_startup_first(maker, startup, order, f"kept files of original layer {i}"))
        return layers
    emitted: set[str] = set()
    first = _with_parents(_with_hardlink_groups(tree, startup, all_sorted), plan.keep, emitted)
    rest = [p for p in all_sorted if p not in emitted]
    if layout == "single" or not first:
        return [_startup_first(maker, startup, all_sorted, "all kept files, startup files first")]
    # every layer carries its own parent directories: a directory left out
    # would be created by the runtime with default modes and the current time
    out = []
    heads = split_sizes(tree, first, startup_layers)
    for k, part in enumerate(heads):
        what = f"{len(startup)} traced files (startup and probes)" + \
            (f", part {k + 1} of {len(heads)}" if len(heads) > 1 else "")
        entries = _entries(maker, _with_parents(part, plan.keep, set()) if k else part)
        out.append(PlannedLayer(entries, len(entries), what))
    parts = split_sizes(tree, rest, rest_layers)
    for k, part in enumerate(parts):
        what = "the rest of the kept files" if len(parts) == 1 else f"the rest of the kept files, part {k + 1} of " \
                                                                    f"{len(parts)}"
        out.append(PlannedLayer(_entries(maker, _with_parents(part, plan.keep, set())), 0, what))
    return out


def entry_bytes(tree: FileTree, path: str) -> int:
    """About what ``path`` adds to a layer tar: a header block, and a file's content."""
    n = tree.get(path)
    return 512 + (n.size if n is not None and n.kind in (Kind.FILE, Kind.HARDLINK) else 0)


def split_sizes(tree: FileTree, rest: list[str], parts: int) -> list[list[str]]:
    """``rest`` (in layer order) cut into at most ``parts`` runs whose sizes grow as 1 : 2 : ... : parts.

    Small layers first: the engine extracts a layer once it has arrived and its parent is
    extracted, so a small first layer starts the CPU while the larger ones still download.
    Cuts fall between paths of the list; a hardlink whose target lands in another layer is
    written as a copy of the file (:class:`EntryMaker`), so any cut keeps the filesystem.
    The cuts depend only on the paths and their sizes: the same input, the same layers.
    """
    if parts < 1:
        raise ValueError(parts)
    if not rest:
        return [[]]  # an empty rest layer, as always: the layout does not depend on what is left
    sizes = [entry_bytes(tree, p) for p in rest]
    total = sum(sizes)
    weights = list(range(1, parts + 1))
    bounds = [total * sum(weights[: j + 1]) / sum(weights) for j in range(parts)]
    out: list[list[str]] = [[]]
    acc = 0
    j = 0
    for p, sz in zip(rest, sizes):
        if out[-1] and j < parts - 1 and acc + sz / 2 > bounds[j]:
            out.append([])
            j += 1
        out[-1].append(p)
        acc += sz
    return out


def _with_hardlink_groups(tree: FileTree, first: list[str], candidates: list[str]) -> list[str]:
    """Hardlinks and their targets stay in one layer: pull the rest of each
    group touched by ``first`` in after it (a link cannot cross layers)."""
    chosen = set(first)
    extra: list[str] = []
    for p in candidates:
        n = tree.get(p)
        if n is None or n.kind is not Kind.HARDLINK or p in chosen:
            continue
        if n.linkname in chosen:
            extra.append(p)
            chosen.add(p)
    for p in list(first):
        n = tree.get(p)
        if n is not None and n.kind is Kind.HARDLINK and n.linkname not in chosen and n.linkname in set(candidates):
            extra.append(n.linkname)
            chosen.add(n.linkname)
    return first + extra


def guess_base_layers(scan: Scan) -> int:
    """Leading layers that look like a base image (``ADD file:... in /`` or no history)."""
    n = 0
    for h in scan.image.layer_history():
        created = (h.created_by if h else "") or ""
        if n == 0 or "ADD file:" in created or not created:
            n += 1
            continue
        break
    return max(1, min(n, len(scan.image.layers)))


def _keep_base(scan: Scan, plan: KeepPlan, maker: EntryMaker, startup: list[str],
               base_layers: int | None, reencode: bool) -> list[PlannedLayer]:
    tree = scan.tree
    n = guess_base_layers(scan) if base_layers is None else base_layers
    if not 0 < n < len(scan.image.layers):
        raise BadInput("--base-layers", f"{n} is not between 1 and {len(scan.image.layers) - 1}")
    base = FileTree()
    for i in range(n):
        base.apply(i, layer_entries(scan.image.layers[i]))
    app_paths = [p for p, node in tree.walk() if p in plan.keep and node.layer >= n]
    # what the app layers must hide: base paths gone from the slim result
    whiteouts: list[str] = []
    for p, bnode in base.walk():
        if _covered(p, whiteouts):
            continue
        fnode = tree.get(p)
        gone = fnode is None or (fnode.layer >= n and p not in plan.keep and not (fnode.is_dir and bnode.is_dir))
        if fnode is not None and fnode.is_dir != bnode.is_dir:
            gone = gone or p not in plan.keep
        if gone:
            whiteouts.append(p)
    layers: list[PlannedLayer] = [_reencoded(scan, i, startup, maker.store) if reencode
                                  else PlannedLayer(passthrough=scan.image.layers[i]) for i in range(n)]
    emitted: set[str] = set()
    app_startup = [p for p in startup if p in set(app_paths)]
    first = _with_parents(_with_hardlink_groups(tree, app_startup, app_paths), plan.keep, emitted)
    rest = [p for p in app_paths if p not in emitted]
    # whiteout markers, after their parent directories (with the final metadata:
    # an implicit parent would get default modes and change the merged view)
    last: set[str] = set()
    wh_parents = _with_parents(sorted({posixpath.dirname(p) for p in whiteouts} - {""}), plan.keep, last)
    wh_entries = _entries(maker, wh_parents) + [
        OutEntry(posixpath.join(posixpath.dirname(p), WHITEOUT_PREFIX + posixpath.basename(p)), Kind.FILE, 0o600)
        for p in whiteouts]
    if first:
        layers.append(PlannedLayer(_entries(maker, first), len(first),
                                   f"{len(app_startup)} traced app files (startup and probes)"))
    layers.append(PlannedLayer(wh_entries + _entries(maker, _with_parents(rest, plan.keep, last)), 0,
                               f"the rest of the app's kept files; {len(whiteouts)} base paths removed"))
    return layers


def _covered(path: str, whiteouts: list[str]) -> bool:
    """Below the last whiteout?  (The walk is depth first, so that suffices.)"""
    return bool(whiteouts) and path.startswith(whiteouts[-1] + "/")


# names an eStargz writer adds at the root of every layer: a base that already is eStargz has them
_ESTARGZ_OWN = {TOC_NAME, PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK}


def _reencoded(scan: Scan, i: int, startup: list[str], store: ContentStore) -> PlannedLayer:
    """Every entry of original layer ``i``, written anew: its whiteout markers first (they
    act on lower layers only, and an engine applying one after a same-layer file of that
    name would delete the file), then the startup files whose final version it holds
    (tree order) with their parents and hardlink targets -- the prioritized entries --
    then the rest in the layer's order.  A path the layer writes twice keeps its last
    entry, as extraction would."""
    layer = scan.image.layers[i]
    listed = [e for e, _ in layer_entries(layer) if e.path not in _ESTARGZ_OWN]
    last = {e.path: k for k, e in enumerate(listed)}
    by_path = {e.path: e for k, e in enumerate(listed) if last[e.path] == k}
    order: list[str] = []
    placed: set[str] = set()

    def place(p: str) -> None:
        if p in placed or p not in by_path:
            return
        placed.add(p)  # before the recursion: a hardlink cycle ends here
        if p:
            place(posixpath.dirname(p))
        e = by_path[p]
        if e.kind is Kind.HARDLINK:
            place(e.linkname)
        order.append(p)

    for e in by_path.values():
        if e.is_marker:
            place(e.path)
    markers = len(order)
    tree = scan.tree
    for p in startup:
        node = tree.get(p)
        if node is not None and node.layer == i:
            place(p)
    prioritized = len(order) if len(order) > markers else 0
    order += [p for p in by_path if p not in placed]
    entries = [_out_entry(by_path[p], i, store) for p in order]
    return PlannedLayer(entries, prioritized, f"original layer {i}, every entry, startup files first", reencoded=i)


def _out_entry(e, layer: int, store: ContentStore) -> OutEntry:
    """A layer's own tar entry as written again (a whiteout marker is the empty file it was)."""
    kind = Kind.FILE if e.is_marker else e.kind
    out = OutEntry(e.path or ".", kind, e.mode, e.uid, e.gid, e.mtime, e.size if kind is Kind.FILE else 0,
                   e.linkname, e.uname, e.gname, e.devmajor, e.devminor, e.xattrs or None)
    if out.size:
        out.content = store.opener(layer, e.path)
    return out
