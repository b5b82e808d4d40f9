"""dive-compatible efficiency figures, computed exactly as dive 0.13.1 does.

dive (github.com/wagoodman/dive, v0.13.1) walks each layer's own path tree;
for every leaf path it adds the entry's tar-header size to that path's
cumulative size and keeps the smallest size seen.  Then::

    efficiencyScore   = sum(min) / sum(cumulative)          over all paths
    wastedBytes       = sum(cumulative) over paths seen >= 2 times  (all copies, dive #684)
    userWastedPercent = wastedBytes / sum(layer sizes of layers 1..n)   (a ratio)

Quirks reproduced on purpose (see docs/waste.md for why imgopt's *exact*
figure differs): opaque markers (``.wh..wh..opq``) are ignored; a whiteout is
a node of the path it deletes, sized 0 for a file and the whole lower subtree
for a directory; a whiteout of a path that never existed takes 1 byte off
sum(min) and stops that layer's walk; hardlinks count 0 bytes; layer sizes are
sums of tar-header sizes; ties in the file list follow Go's pdqsort; a layer
that ``docker save`` stored as a symlink to an identical layer's tar is read
as an empty layer (dive reads the link entry's empty body).

The differential test (tests/test_dive_compat.py) runs the real dive on the
same archives and asserts equal numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imgopt.image.tarstream import WHITEOUT_META_PREFIX, WHITEOUT_PREFIX


class _Node:
    __slots__ = ("name", "parent", "children", "size", "isdir")

    def __init__(self, name: str, parent: "_Node | None", size: int = 0, isdir: bool = False):
        self.name, self.parent = name, parent
        self.children: dict[str, _Node] = {}
        self.size, self.isdir = size, isdir

    def path(self) -> str:
        names = []
        cur: _Node | None = self
        while cur is not None and cur.parent is not None:
            n = cur.name
            if cur is self and n.startswith(WHITEOUT_PREFIX):
                n = n[len(WHITEOUT_PREFIX):]
            names.append(n)
            cur = cur.parent
        return ("/" + "/".join(reversed(names))).replace("//", "/")

    def is_whiteout(self) -> bool:
        return self.name.startswith(WHITEOUT_PREFIX)

    def walk_child_first(self, prefix: str = ""):
        """(node, raw path) of this node and everything below, children first, names in byte
        order (dive's VisitDepthChildFirst), without recursion."""
        stack: list[tuple[_Node, str, bool]] = [(self, prefix, False)]
        while stack:
            node, path, expanded = stack.pop()
            if node.children and not expanded:
                stack.append((node, path, True))
                for k in sorted(node.children, key=_bytes_key, reverse=True):
                    stack.append((node.children[k], f"{path}/{k}", False))
                continue
            yield node, path

    def subtree_size(self) -> int:
        total, stack = 0, [self]
        while stack:
            n = stack.pop()
            total += n.size
            stack.extend(n.children.values())
        return total

    def copy(self, parent: "_Node | None") -> "_Node":
        top = _Node(self.name, parent, self.size, self.isdir)
        stack = [(self, top)]
        while stack:
            src, dst = stack.pop()
            for k, c in src.children.items():
                n = _Node(c.name, dst, c.size, c.isdir)
                dst.children[k] = n
                stack.append((c, n))
        return top


def _bytes_key(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


class _Tree:
    def __init__(self) -> None:
        self.root = _Node("", None)
        self.file_size = 0

    def add_path(self, p: str, size: int, isdir: bool) -> None:
        names = p.strip("/").split("/")
        node = self.root
        last = len(names) - 1
        for idx, name in enumerate(names):
            if name == "":
                continue
            child = node.children.get(name)
            if child is None:
                if name.startswith(WHITEOUT_META_PREFIX):  # opaque markers (and .wh..wh.*) never enter the tree
                    return
                child = _Node(name, node)  # intermediate: empty FileInfo (size 0, not a dir)
                node.children[name] = child
            node = child
            if idx == last:
                node.size, node.isdir = size, isdir

    def get_node(self, p: str) -> "_Node | None":
        node = self.root
        for name in p.strip("/").split("/"):
            if name == "":
                continue
            node = node.children.get(name)  # type: ignore[assignment]
            if node is None:
                return None
        return node

    def remove_path(self, p: str) -> None:
        n = self.get_node(p)
        if n is not None and n is not self.root and n.parent is not None:
            del n.parent.children[n.name]

    def copy(self) -> "_Tree":
        t = _Tree()
        t.root = self.root.copy(None)
        return t

    def stack(self, upper: "_Tree") -> None:
        for node, raw in upper.root.walk_child_first():
            if node is upper.root:
                continue
            if node.is_whiteout():  # the path it deletes: its own name without the prefix
                self.remove_path(raw[: len(raw) - len(node.name)] + node.name[len(WHITEOUT_PREFIX):])
            else:
                self.add_path(raw, node.size, node.isdir)


@dataclass
class DiveFile:
    count: int
    size_bytes: int  # cumulative: every copy, the kept one included
    path: str


@dataclass
class DiveCompat:
    """dive 0.13.1's numbers for an image (units: bytes; ratios 0..1)."""

    efficiency: float
    size_bytes: int
    user_size_bytes: int
    wasted_bytes: int
    user_wasted_percent: float | None  # a ratio like dive's; None where dive gets NaN/Inf
    layer_sizes: list[int]
    files: list[DiveFile] = field(default_factory=list)


def build_trees(layers: list[list[tuple[str, int, bool]]]) -> list[_Tree]:
    """dive's per-layer trees from (path, tar header size, is dir) in tar order."""
    trees = []
    for entries in layers:
        t = _Tree()
        for p, size, isdir in entries:
            t.file_size += size
            t.add_path(p, size, isdir)
        trees.append(t)
    return trees


def _walk_leaves(root: _Node):
    """(node, dive path) of every leaf, children before parents, names in byte order.

    Same order as dive's VisitDepthChildFirst with an is-leaf evaluator, with
    the path built on the way down instead of re-walking parent links.
    """
    stack: list[tuple[_Node, str, bool]] = [(root, "", False)]
    while stack:
        node, prefix, expanded = stack.pop()
        if node.children:
            if not expanded:
                stack.append((node, prefix, True))
                for k in sorted(node.children, key=_bytes_key, reverse=True):
                    stack.append((node.children[k], f"{prefix}/{k}", False))
            continue
        if node is root:
            continue
        name = node.name
        if name.startswith(WHITEOUT_PREFIX):
            yield node, prefix[: len(prefix) - len(name)] + name[len(WHITEOUT_PREFIX):]
        else:
            yield node, prefix


@dataclass(slots=True)
class _Paths:
    """dive's per-path table after a chain of layers: path -> (times seen, cumulative size, smallest size),
    the sums over it, and the paths seen twice or more in the order they got there.  Immutable once made."""

    table: dict
    min_sum: int = 0
    cum_sum: int = 0
    inefficient: tuple = ()


_NO_PATHS = _Paths({})


class _Memo:
    """Per-process memo of what depends on one layer (or one chain of lower layers) only: each
    layer's tree and leaves, the stacked trees of lower layers whiteouts are sized against, and the
    path table after each chain of lower layers.  A scan merges hundreds of images over the same base
    layers; this makes each merge pay for its own layers.  Bounded by the leaves it holds and the
    number of chains (least recently used out)."""

    MAX_LEAVES = 400_000
    MAX_CHAINS = 24

    def __init__(self) -> None:
        from collections import OrderedDict

        self.layers: "OrderedDict[Any, tuple[_Tree, list]]" = OrderedDict()
        self.stacks: "OrderedDict[tuple, _Tree]" = OrderedDict()
        self.paths: "OrderedDict[tuple, _Paths]" = OrderedDict()
        self.file_sizes: dict = {}  # layer key -> sum of its tar header sizes (kept when its tree is not)
        self.size = 0

    def layer(self, key, build):
        got = self.layers.get(key) if key is not None else None
        if got is not None:
            self.layers.move_to_end(key)
            return got
        got = build()
        if key is not None:
            self.layers[key] = got
            self.size += len(got[1]) + 1
            if len(self.file_sizes) > 100_000:
                self.file_sizes.clear()
            while self.size > self.MAX_LEAVES and len(self.layers) > 1:
                _, (_, lv) = self.layers.popitem(last=False)
                self.size -= len(lv) + 1
        return got

    def stack(self, chain: tuple) -> "_Tree | None":
        t = self.stacks.get(chain)
        if t is not None:
            self.stacks.move_to_end(chain)
        return t

    def keep_stack(self, chain: tuple, tree: "_Tree") -> None:
        """Keep ``tree`` (the caller must not change it afterwards: it is shared from now on)."""
        self.stacks[chain] = tree
        while len(self.stacks) > 8:
            self.stacks.popitem(last=False)

    def longest_paths(self, keys: list) -> "tuple[int, _Paths]":
        """(k, the path table after layers 0..k-1) for the longest chain of lower layers kept."""
        for k in range(len(keys) - 1, 0, -1):
            chain = tuple(keys[:k])
            got = self.paths.get(chain)
            if got is not None:
                self.paths.move_to_end(chain)
                return k, got
        return 0, _NO_PATHS

    def keep_paths(self, chain: tuple, paths: _Paths) -> None:
        self.paths[chain] = paths
        while len(self.paths) > self.MAX_CHAINS:
            self.paths.popitem(last=False)

    def clear(self) -> None:
        self.layers.clear()
        self.stacks.clear()
        self.paths.clear()
        self.file_sizes.clear()
        self.size = 0


_MEMO = _Memo()


def _layer_tree(entries: list[tuple[str, int, bool]]) -> "tuple[_Tree, list[tuple[str, int, bool]]]":
    """One layer's dive tree and its leaves: (dive path, size, is whiteout) in dive's visiting order."""
    t = build_trees([entries])[0]
    return t, [(p, node.size, node.name.startswith(WHITEOUT_PREFIX)) for node, p in _walk_leaves(t.root)]


def dive_compat(layers: list, keys: list | None = None) -> DiveCompat:
    """dive's figures for an image from each layer's (path, tar size, is dir) list (or a function
    returning it, called only when the memo does not have the layer).

    ``keys``: a hashable identity per layer (its diffID), so what depends on
    one layer, or one chain of them, is computed once per process: an image whose lower layers
    another image had starts from their path table and walks only its own layers' leaves.
    """
    keys = list(keys) if keys is not None else [None] * len(layers)
    n = len(layers)
    built: dict[int, tuple[_Tree, list]] = {}

    def layer(i: int) -> "tuple[_Tree, list]":
        """Layer i's tree and leaves, built only when needed (its own leaves, or a whiteout to size)."""
        got = built.get(i)
        if got is None:
            e = layers[i]
            got = built[i] = _MEMO.layer(keys[i], lambda: _layer_tree(e() if callable(e) else e))
            if keys[i] is not None:
                _MEMO.file_sizes[keys[i]] = got[0].file_size
        return got

    def file_size(i: int) -> int:
        known = _MEMO.file_sizes.get(keys[i]) if keys[i] is not None else None
        return known if known is not None else layer(i)[0].file_size

    # the stacked lower layers are only consulted to size whiteouts: built when the first one needs it
    stacked: list = [None, -1, False]  # [tree holding layers 0..upto, upto, ours to change]

    def lower(j: int) -> "_Tree":
        """The stacked tree of layers 0..j (dive stacks layer 0 onto itself first); read only."""
        if stacked[1] == j:
            return stacked[0]
        chain = tuple(keys[: j + 1])
        keep = None not in chain
        got = _MEMO.stack(chain) if keep else None
        if got is None:
            tree, upto, ours = stacked
            if tree is None:
                for k in range(j - 1, -1, -1):
                    kept = _MEMO.stack(tuple(keys[: k + 1])) if None not in keys[: k + 1] else None
                    if kept is not None:
                        tree, upto = kept.copy(), k
                        break
                else:
                    tree, upto = layer(0)[0].copy(), 0
                    tree.stack(layer(0)[0])
            elif not ours:
                tree = tree.copy()
            for m in range(upto + 1, j + 1):
                tree.stack(layer(m)[0])
            got = tree
            if keep:
                _MEMO.keep_stack(chain, got)
        stacked[:] = [got, j, not keep]  # a kept tree is shared: copied before anything is stacked on it
        return got

    start, base = (0, _NO_PATHS) if None in keys else _MEMO.longest_paths(keys)
    table = base.table
    delta: dict[str, list] = {}  # path -> [times seen, cumulative, smallest], for paths these layers touch
    new_inefficient: list[str] = []
    for idx in range(start, n):
        tree, leaves = layer(idx)
        for p, size, whiteout in leaves:
            d = delta.get(p)
            if d is None:
                b = table.get(p)
                d = delta[p] = [0, 0, -1] if b is None else list(b)
            if whiteout:
                size = 0
                prev = (tree if idx == 0 else lower(idx - 1)).get_node(p)
                if prev is None:
                    break  # dive logs the error and skips the rest of this layer's walk
                if prev.isdir:
                    size = prev.subtree_size()
            d[1] += size
            if d[2] < 0 or size < d[2]:
                d[2] = size
            d[0] += 1
            if d[0] == 2:
                new_inefficient.append(p)
        if idx + 1 < n and None not in keys[: idx + 1]:  # a chain of lower layers other images may share
            _MEMO.keep_paths(tuple(keys[: idx + 1]), _paths_after(base, delta, new_inefficient))
    final = _paths_after(base, delta, new_inefficient, table=False)
    inefficient = [(p, delta.get(p) or table[p]) for p in final.inefficient]
    score = 1.0 if final.cum_sum == 0 else float(final.min_sum) / float(final.cum_sum)
    go_sort(inefficient, lambda a, b: a[1][1] < b[1][1])
    sizes = [file_size(i) for i in range(n)]
    user = sum(sizes[1:])
    wasted = sum(d[1] for _, d in inefficient)
    uwp = wasted / user if user else None
    files = [DiveFile(d[0], d[1], p) for p, d in reversed(inefficient)]
    return DiveCompat(score, sum(sizes), user, wasted, uwp, sizes, files)


def _paths_after(base: _Paths, delta: dict[str, list], new_inefficient: list[str], table: bool = True) -> _Paths:
    """``base`` with ``delta`` applied (a new table only when ``table``: the sums and order are cheap)."""
    old = base.table
    min_sum, cum_sum = base.min_sum, base.cum_sum
    for p, d in delta.items():
        b = old.get(p)
        if b is not None:
            min_sum -= b[2]
            cum_sum -= b[1]
        min_sum += d[2]
        cum_sum += d[1]
    merged = {}
    if table:
        merged = dict(old)
        merged.update((p, tuple(d)) for p, d in delta.items())
    return _Paths(merged, min_sum, cum_sum, base.inefficient + tuple(new_inefficient))


def go_sort(a, less):
    n = len(a)
    if n <= 1:
        return
    L = lambda i, j: less(a[i], a[j])

    def swap(i, j):
        a[i], a[j] = a[j], a[i]

    def insertion(lo, hi):
        for i in range(lo + 1, hi):
            j = i
            while j > lo and L(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def sift_down(lo, hi, first):
        root = lo
        while True:
            child = 2 * root + 1
            if child >= hi:
                return
            if child + 1 < hi and L(first + child, first + child + 1):
                child += 1
            if not L(first + root, first + child):
                return
            swap(first + root, first + child)
            root = child

    def heap_sort(lo_, hi_):
        first, lo, hi = lo_, 0, hi_ - lo_
        for i in range((hi - 1) // 2, -1, -1):
            sift_down(i, hi, first)
        for i in range(hi - 1, -1, -1):
            swap(first, first + i)
            sift_down(lo, i, first)

    def order2(x, y, sw):
        if L(y, x):
            sw[0] += 1
            return y, x
        return x, y

    def median(x, y, z, sw):
        x, y = order2(x, y, sw)
        y, z = order2(y, z, sw)
        x, y = order2(x, y, sw)
        return y

    def choose_pivot(lo, hi):
        l = hi - lo
        sw = [0]
        i, j, k = lo + l // 4 * 1, lo + l // 4 * 2, lo + l // 4 * 3
        if l >= 8:
            if l >= 50:
                i = median(i - 1, i, i + 1, sw)
                j = median(j - 1, j, j + 1, sw)
                k = median(k - 1, k, k + 1, sw)
            j = median(i, j, k, sw)
        if sw[0] == 0:
            return j, 1  # increasing
        if sw[0] == 12:
            return j, 2  # decreasing
        return j, 0

    def reverse_range(lo, hi):
        i, j = lo, hi - 1
        while i < j:
            swap(i, j)
            i += 1
            j -= 1

    def partial_insertion(lo, hi):
        i = lo + 1
        for _ in range(5):
            while i < hi and not L(i, i - 1):
                i += 1
            if i == hi:
                return True
            if hi - lo < 50:
                return False
            swap(i, i - 1)
            if i - lo >= 2:
                j = i - 1
                while j >= 1:
                    if not L(j, j - 1):
                        break
                    swap(j, j - 1)
                    j -= 1
            if hi - i >= 2:
                j = i + 1
                while j < hi:
                    if not L(j, j - 1):
                        break
                    swap(j, j - 1)
                    j += 1
        return False

    def partition_equal(lo, hi, pivot):
        swap(lo, pivot)
        i, j = lo + 1, hi - 1
        while True:
            while i <= j and not L(lo, i):
                i += 1
            while i <= j and L(lo, j):
                j -= 1
            if i > j:
                break
            swap(i, j)
            i += 1
            j -= 1
        return i

    def partition(lo, hi, pivot):
        swap(lo, pivot)
        i, j = lo + 1, hi - 1
        while i <= j and L(i, lo):
            i += 1
        while i <= j and not L(j, lo):
            j -= 1
        if i > j:
            swap(j, lo)
            return j, True
        swap(i, j)
        i += 1
        j -= 1
        while True:
            while i <= j and L(i, lo):
                i += 1
            while i <= j and not L(j, lo):
                j -= 1
            if i > j:
                break
            swap(i, j)
            i += 1
            j -= 1
        swap(j, lo)
        return j, False

    M64 = (1 << 64) - 1

    def break_patterns(lo, hi):
        length = hi - lo
        if length >= 8:
            r = [length]

            def nxt():
                x = r[0]
                x ^= (x << 13) & M64
                x ^= x >> 7
                x ^= (x << 17) & M64
                r[0] = x
                return x
            modulus = 1 << length.bit_length()
            idx = lo + (length // 4) * 2 - 1
            while idx <= lo + (length // 4) * 2 + 1:
                other = nxt() & (modulus - 1)
                if other >= length:
                    other -= length
                swap(idx, lo + other)
                idx += 1

    def pdq(lo, hi, limit):
        was_balanced, was_partitioned = True, True
        while True:
            length = hi - lo
            if length <= 12:
                insertion(lo, hi)
                return
            if limit == 0:
                heap_sort(lo, hi)
                return
            if not was_balanced:
                break_patterns(lo, hi)
                limit -= 1
            pivot, hint = choose_pivot(lo, hi)
            if hint == 2:
                reverse_range(lo, hi)
                pivot = (hi - 1) - (pivot - lo)
                hint = 1
            if was_balanced and was_partitioned and hint == 1:
                if partial_insertion(lo, hi):
                    return
            if lo > 0 and not L(lo - 1, pivot):
                lo = partition_equal(lo, hi, pivot)
                continue
            mid, already = partition(lo, hi, pivot)
            was_partitioned = already
            left, right = mid - lo, hi - mid
            bal = length // 8
            if left < right:
                was_balanced = left >= bal
                pdq(lo, mid, limit)
                lo = mid + 1
            else:
                was_balanced = right >= bal
                pdq(mid + 1, hi, limit)
                hi = mid

    pdq(0, n, n.bit_length())


def go_float(f):
    """encoding/json float64 formatting (Go): shortest round-trip digits; 'f' notation unless
    abs < 1e-6 or abs >= 1e21 ('e' notation, with e-07 cleaned to e-7). NaN/Inf are errors."""
    from decimal import Decimal
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError("json: unsupported value")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = repr(f)
        if "e" not in s:
            s = "%e" % f  # not reached for shortest repr in this range
        s = re.sub(r"e-0(\d)$", r"e-\1", s)
        return s
    s = format(Decimal(repr(f)), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


