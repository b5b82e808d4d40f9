"""What an analysis reads off the merged tree, in one walk: junk classes, directory sizes, the largest files,
file counts and bytes -- memoized per shared subtree, so images on the same base layers pay for their own.

A scan merges many images whose trees share most of their nodes: :meth:`FileTree.fork` copies only the
directories an image's own layers change (and their parents).  A node the tree being analyzed does not own
(``node.gen != tree.gen``) is frozen -- no tree may change it any more -- so everything below it is a function
of the node, its path and what the junk detectors consult outside the subtree (the environment's locales, the
image's Python interpreters).  Its aggregate is kept in a per-process memo under exactly that key, and the
next image on the same base reads it back instead of walking ``/usr`` again.

Two rules keep the memo exact:

* ``__pycache__`` directories are never memo units: whether a ``.pyc`` is junk depends on its source beside
  the ``__pycache__`` directory, i.e. on the parent; the parent (or higher) is the unit;
* only frozen directories that hang off a directory the image owns are stored (the siblings of the path its
  own layers changed): they are the ones the next image on that base meets; deeper frozen directories are
  walked without being stored, which bounds the memo's size by what is shared, not by every directory.

An image with no forks (analyze of a single image read from its blobs) owns every node: nothing is looked up
and the walk is one pass instead of one per analysis.  The results are those of
:func:`~imgopt.analyze.junk.find_junk` and :func:`~imgopt.analyze.directories.directory_sizes`
(tests/test_treestats.py compares them on real images, memo warm and cold).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from imgopt.analyze.directories import MAX_DEPTH, select_directories
from imgopt.analyze.junk import (JunkClass, JunkContext, JunkFile, JunkRule, builtin_rules, classify,
                                 configured_locales, detectors_for, globset, possibly_removable_bytes,
                                 removable_bytes)
from imgopt.analyze.result import DirectorySize
from imgopt.image.filetree import FileTree, Node
from imgopt.image.tarstream import Kind

EXAMPLES = 5  # junk examples kept per class (largest first)
MEMO_WEIGHT = 2_000_000  # items (paths in the aggregates) the memo may hold, least recently used out

_EMPTY: frozenset = frozenset()


@dataclass(slots=True)
class _Agg:
    """The aggregate of one subtree (paths relative to the root, without the leading slash)."""

    nondirs: int = 0  # entries that are not directories (files, links, devices ...)
    dirs: int = 0  # directories below (not counting the subtree's own)
    file_bytes: int = 0  # regular files only (a hardlink's bytes are its target's)
    file_count: int = 0
    junk_file_bytes: int = 0  # regular files some junk class claims
    # class id -> [bytes, files, {layer: bytes}, examples [(-size, path, layer)]]
    junk: dict = field(default_factory=dict)
    dir_sizes: dict = field(default_factory=dict)  # "/a/b" -> (bytes, files, junk bytes), depth 1..MAX_DEPTH
    largest: list = field(default_factory=list)  # [(-size, path, layer, class id | None)], at most `top`

    def weight(self) -> int:
        return 1 + len(self.dir_sizes) + len(self.largest) + sum(len(v[3]) + len(v[2]) for v in self.junk.values())

    def add(self, other: "_Agg") -> None:
        """Fold a child's aggregate in (``other`` is left untouched: it may be a memo entry)."""
        self.nondirs += other.nondirs
        self.dirs += other.dirs
        self.file_bytes += other.file_bytes
        self.file_count += other.file_count
        self.junk_file_bytes += other.junk_file_bytes
        for cid, (b, n, layers, ex) in other.junk.items():
            mine = self.junk.get(cid)
            if mine is None:
                self.junk[cid] = [b, n, dict(layers), list(ex)]
                continue
            mine[0] += b
            mine[1] += n
            ml = mine[2]
            for layer, lb in layers.items():
                ml[layer] = ml.get(layer, 0) + lb
            mine[3].extend(ex)
        self.dir_sizes.update(other.dir_sizes)
        self.largest.extend(other.largest)

    def finish(self, path: str, depth: int, top: int) -> None:
        for v in self.junk.values():
            if len(v[3]) > EXAMPLES:
                v[3].sort()
                del v[3][EXAMPLES:]
        if len(self.largest) > top:
            self.largest.sort(key=lambda t: (t[0], t[1]))
            del self.largest[top:]
        if 1 <= depth <= MAX_DEPTH and self.file_count:
            self.dir_sizes["/" + path] = (self.file_bytes, self.file_count, self.junk_file_bytes)


class _Memo:
    """Per-process LRU of frozen subtrees' aggregates, bounded by their total weight."""

    def __init__(self, max_weight: int = MEMO_WEIGHT) -> None:
        self.max_weight = max_weight
        self.items: OrderedDict[tuple, tuple[Node, _Agg, int]] = OrderedDict()
        self.weight = 0
        self.hits = self.misses = 0

    def get(self, key: tuple) -> _Agg | None:
        got = self.items.get(key)
        if got is None:
            self.misses += 1
            return None
        self.hits += 1
        self.items.move_to_end(key)
        return got[1]

    def put(self, key: tuple, node: Node, agg: _Agg) -> None:
        w = agg.weight()
        if w > self.max_weight // 4:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.weight -= old[2]
        self.items[key] = (node, agg, w)  # the node is held so its id() is not reused while the entry lives
        self.weight += w
        while self.weight > self.max_weight and self.items:
            _, (_, _, ow) = self.items.popitem(last=False)
            self.weight -= ow

    def clear(self) -> None:
        self.items.clear()
        self.weight = 0


MEMO = _Memo()
_CONTEXTS: dict[tuple, int] = {}


@dataclass
class TreeStats:
    """What :func:`tree_stats` found in a final tree."""

    junk: list[JunkClass]  # one per rule, in rule order
    directories: list[DirectorySize]
    largest: list[tuple[str, int, int, str | None]]  # (path, bytes, layer, junk class id), largest first
    final_bytes: int  # regular files' bytes
    final_entries: int  # every path below the root, directories included
    final_nondirs: int

    @property
    def removable_junk_bytes(self) -> int:
        return removable_bytes(self.junk)

    @property
    def possibly_removable_bytes(self) -> int:
        return possibly_removable_bytes(self.junk)


def _rules_key(rules: list[JunkRule]) -> tuple:
    return tuple((r.id, tuple(r.paths), tuple(r.exclude), r.detector) for r in rules)


def tree_stats(tree: FileTree, env: dict[str, str], rules: list[JunkRule] | None = None, *, top: int = 20,
               memo: _Memo | None = MEMO) -> TreeStats:
    """Junk classes, directory sizes, the ``top`` largest files and the totals of ``tree`` (see the module)."""
    rules = rules if rules is not None else builtin_rules()
    globs = globset(rules)
    ctx = JunkContext(env, tree)
    detectors = detectors_for(rules, ctx)
    if len(_CONTEXTS) > 1000:  # ids are only meaningful with the entries made under them
        _CONTEXTS.clear()
        MEMO.clear()
    # what the junk detectors consult outside a subtree, as one small int (hashed on every memo lookup)
    context = _CONTEXTS.setdefault((_rules_key(rules), frozenset(configured_locales(env)),
                                    frozenset(ctx.python_tags), top), len(_CONTEXTS))
    gen = tree.gen

    root = _Agg()
    # frame: [node, path, depth, glob states, file regex, agg, children iterator, memo key to store, parent agg]
    stack: list[list] = [[tree.root, "", 0, globs.start, globs.file_regex(globs.start), root,
                          iter((tree.root.children or {}).items()), None, None]]
    while stack:
        frame = stack[-1]
        node, path, depth, states, rx, agg, children = frame[:7]
        owned = node.gen == gen or node is tree.root
        descended = False
        for name, child in children:
            cpath = f"{path}/{name}" if path else name
            if child.children is None:
                agg.nondirs += 1
                cls = None
                if rx is not None:
                    m = rx.match(name)
                    if m and m.lastgroup:
                        r = classify(cpath, int(m.lastgroup[1:]), rules, detectors)
                        cls = r.id if r is not None else None
                size = child.size if child.kind is Kind.FILE else 0
                if child.kind is Kind.FILE:
                    agg.file_bytes += size
                    agg.file_count += 1
                    agg.largest.append((-size, cpath, child.layer, cls))
                    if len(agg.largest) > 4 * top + 64:
                        agg.largest.sort(key=lambda t: (t[0], t[1]))
                        del agg.largest[top:]
                if cls is not None:
                    if child.kind is Kind.FILE:
                        agg.junk_file_bytes += size
                    j = agg.junk.get(cls)
                    if j is None:
                        j = agg.junk[cls] = [0, 0, {}, []]
                    j[0] += size
                    j[1] += 1
                    j[2][child.layer] = j[2].get(child.layer, 0) + size
                    j[3].append((-size, cpath, child.layer))
                continue
            agg.dirs += 1
            key = None
            if memo is not None and child.gen != gen and name != "__pycache__":
                key = (id(child), cpath, context)
                hit = memo.get(key)
                if hit is not None:
                    agg.add(hit)
                    continue
                if not owned:
                    key = None  # walked, not stored (see the module)
            cstates = globs.step(states, name) if states else _EMPTY
            stack.append([child, cpath, depth + 1, cstates, globs.file_regex(cstates) if cstates else None, _Agg(),
                          iter(child.children.items()), key, agg])
            descended = True
            break
        if descended:
            continue
        stack.pop()
        agg.finish(path, depth, top)
        if frame[7] is not None:
            memo.put(frame[7], node, agg)  # type: ignore[union-attr]
        if frame[8] is not None:
            frame[8].add(agg)

    classes = []
    for r in rules:
        c = JunkClass(r.id, r.title, r.group, r.why, r.safe_to_remove)
        got = root.junk.get(r.id)
        if got is not None:
            c.bytes, c.files, c.layers = got[0], got[1], dict(sorted(got[2].items()))
            c.examples = [JunkFile(p, -neg, layer) for neg, p, layer in sorted(got[3])[:EXAMPLES]]
        classes.append(c)
    largest = [(p, -neg, layer, cls) for neg, p, layer, cls in sorted(root.largest, key=lambda t: (t[0], t[1]))[:top]]
    sizes = dict(root.dir_sizes)
    if root.file_count:
        sizes["/"] = (root.file_bytes, root.file_count, root.junk_file_bytes)
    return TreeStats(classes, select_directories(sizes), largest, root.file_bytes, root.nondirs + root.dirs,
                     root.nondirs)


__all__ = ["tree_stats", "TreeStats", "MEMO"]
