"""The merged filesystem of an image, built layer by layer from tar streams.

Semantics follow the Docker engine's overlay2 driver (checked against it in
tests/test_filetree_docker.py):

* ``.wh.NAME`` removes whatever is at ``NAME`` (and below) at that point;
* ``DIR/.wh..wh..opq`` hides the children of ``DIR`` that came from lower
  layers; children the same layer adds stay, whatever their tar order;
* an entry replaces what is at its path; a directory over a directory only
  updates metadata; anything over a directory replaces the whole subtree;
* a non-directory in the way of a deeper entry is replaced by a directory
  (each layer is unpacked into its own directory, so a lower layer's symlink
  is never followed) -- except a symlink made by the *same* layer: engines
  disagree on that one (moby follows it out of the layer, containerd within
  the root), so the entry below it is dropped and reported;
* a hardlink takes the content (size, hash) of its target; one whose target
  is not (yet) a file is reported and becomes an empty file;
* the root is always a directory: a root entry of another kind is reported.

Hostile layers are bounded: at most :data:`~imgopt.image.limits.MAX_TREE_ENTRIES`
entries in all, and every walk is iterative (10,000 nested directories are fine).

The tree holds metadata only (no file content), so memory grows with the
number of paths, not with bytes.  :meth:`FileTree.fork` is a copy-on-write
snapshot: the fork shares every node with the original and copies only the
nodes it changes (and their parents), so the merged tree of a chain of base
layers is built once and each image on it pays for its own layers only.  Every byte that a layer stores but the final
filesystem cannot see is recorded as a :class:`Hidden` event, which is what
the exact waste figure sums.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from imgopt.errors import BadInput
from imgopt.image.limits import MAX_TREE_ENTRIES
from imgopt.image.tarstream import Entry, Kind


class Reason(str, enum.Enum):
    OVERWRITTEN = "overwritten"  # a later entry at the same path replaced it
    DELETED = "deleted"  # a whiteout removed it
    OPAQUE = "opaque"  # an opaque directory hid it
    REPLACED_BY_DIR = "replaced"  # a file became a directory or a directory a file


class Node:
    """One path of the merged tree.  Directories have ``children``."""

    __slots__ = ("name", "kind", "size", "mode", "uid", "gid", "mtime", "linkname", "layer", "added",
                 "digest", "children", "xattrs", "devmajor", "devminor", "src", "uname", "gname", "gen")

    def __init__(self, name: str, kind: Kind, layer: int, gen: int = 0):
        self.gen = gen  # the tree generation that owns (may change) this node
        self.name = name
        self.kind = kind
        self.size = 0
        self.mode = 0o755 if kind is Kind.DIR else 0o644
        self.uid = self.gid = 0
        self.mtime = 0
        self.linkname = ""
        self.layer = layer  # layer that last wrote this path
        self.added = layer  # layer that first created it (in this lineage)
        self.digest: bytes | None = None
        self.children: dict[str, Node] | None = {} if kind is Kind.DIR else None
        self.xattrs: dict[str, str] | None = None
        self.devmajor = self.devminor = 0
        # where a hardlink's bytes are stored: (layer, path) of the file it links to
        self.src: tuple[int, str] | None = None
        self.uname = self.gname = ""

    @property
    def is_dir(self) -> bool:
        return self.kind is Kind.DIR

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.kind.value}, {self.size} B, layer {self.layer})"

    def clone(self, gen: int) -> "Node":
        """A copy owned by generation ``gen`` (children shared until they change)."""
        n = Node.__new__(Node)
        for a in Node.__slots__:
            setattr(n, a, getattr(self, a))
        if self.children is not None:
            n.children = dict(self.children)
        n.gen = gen
        return n


@dataclass(slots=True)
class Hidden:
    """Bytes stored in ``origin`` that ``by`` made invisible."""

    path: str
    origin: int  # layer that stored the bytes
    by: int  # layer whose entry hid them
    size: int
    reason: Reason


@dataclass
class LayerChanges:
    index: int
    added: int = 0
    modified: int = 0
    removed: int = 0  # paths removed by whiteouts/opaque dirs (files and dirs)
    entries: int = 0
    file_bytes: int = 0  # bytes of regular-file content stored in the layer
    problems: list[tuple[str, str]] = field(default_factory=list)


_generations = itertools.count(1)


class FileTree:
    def __init__(self) -> None:
        self.gen = next(_generations)
        self.root = Node("", Kind.DIR, -1, self.gen)
        self.hidden: list[Hidden] = []
        self.layers: list[LayerChanges] = []
        self.on_hide: Callable[[Hidden], None] | None = None
        self.entries = 0  # tar entries applied so far, all layers

    def fork(self) -> "FileTree":
        """A copy-on-write copy: both trees share their nodes and each copies what it changes."""
        t = FileTree.__new__(FileTree)
        t.gen = next(_generations)
        self.gen = next(_generations)  # the original no longer owns shared nodes either
        t.root = self.root
        t.hidden = list(self.hidden)
        t.layers = list(self.layers)
        t.on_hide = self.on_hide
        t.entries = self.entries
        return t

    # ------------------------------------------------------ copy on write

    def _own_root(self) -> Node:
        if self.root.gen != self.gen:
            self.root = self.root.clone(self.gen)
        return self.root

    def _own(self, parent: Node, name: str) -> Node:
        """``parent``'s child ``name``, owned by this tree (``parent`` must be owned)."""
        assert parent.children is not None
        child = parent.children[name]
        if child.gen != self.gen:
            child = parent.children[name] = child.clone(self.gen)
        return child

    def _own_path(self, path: str) -> Node | None:
        """The node at ``path`` and every directory above it owned by this tree (None if absent)."""
        node = self._own_root()
        if not path:
            return node
        for part in path.split("/"):
            if node.children is None or part not in node.children:
                return None
            node = self._own(node, part)
        return node

    # ----------------------------------------------------------- lookups

    def get(self, path: str) -> Node | None:
        node = self.root
        if not path:
            return node
        for part in path.split("/"):
            if node.children is None:
                return None
            nxt = node.children.get(part)
            if nxt is None:
                return None
            node = nxt
        return node

    def walk(self, node: Node | None = None, prefix: str = "") -> Iterator[tuple[str, Node]]:
        """(path, node) for every node below ``node`` (default: root), sorted, depth first."""
        start = node or self.root
        stack: list[tuple[str, Node]] = [(prefix, start)]
        while stack:
            p, n = stack.pop()
            if n is not start:
                yield p, n
            if n.children:
                for name in sorted(n.children, reverse=True):
                    stack.append((f"{p}/{name}" if p else name, n.children[name]))

    def files(self) -> Iterator[tuple[str, Node]]:
        for p, n in self.walk():
            if n.kind in (Kind.FILE, Kind.HARDLINK):
                yield p, n

    # ----------------------------------------------------------- applying

    def _hide(self, path: str, node: Node, by: int, reason: Reason) -> None:
        """Record every regular file's bytes under ``node`` as hidden."""
        stack = [(path, node)]
        while stack:
            p, n = stack.pop()
            if n.kind is Kind.FILE and n.size:
                h = Hidden(p, n.layer, by, n.size, reason)
                self.hidden.append(h)
                if self.on_hide:
                    self.on_hide(h)
            if n.children:
                stack.extend((f"{p}/{k}", c) for k, c in n.children.items())

    def _parent(self, path: str, layer: int, ch: LayerChanges | None = None) -> tuple[Node, str] | None:
        """The directory that will hold ``path``, creating (implicit) parents.

        None when a symlink of the same layer is in the way (the entry is dropped, see above).
        """
        parts = path.split("/")
        node = self._own_root()
        gen = self.gen
        walked = ""
        for part in parts[:-1]:
            walked = f"{walked}/{part}" if walked else part
            children = node.children
            assert children is not None
            nxt = children.get(part)
            if nxt is None or nxt.children is None:
                if nxt is not None and nxt.kind is Kind.SYMLINK and nxt.layer == layer:
                    if ch is not None:
                        ch.problems.append((path, f"below {walked}, a symlink made by the same layer (to "
                                                  f"{nxt.linkname[:100]!r}): dropped, not followed"))
                    return None
                if nxt is not None:  # a file or symlink in the way: displaced
                    self._hide(walked, nxt, layer, Reason.REPLACED_BY_DIR)
                nxt = Node(part, Kind.DIR, layer, gen)
                children[part] = nxt
            elif nxt.gen != gen:
                nxt = children[part] = nxt.clone(gen)
            node = nxt
        return node, parts[-1]

    def apply(self, layer: int, entries: Iterable[tuple[Entry, bytes | None]]) -> LayerChanges:
        """Apply one layer's entries (with optional content digests) in tar order."""
        ch = LayerChanges(layer)
        opaque_dirs: list[str] = []
        for e, digest in entries:
            ch.entries += 1
            self.entries += 1
            if self.entries > MAX_TREE_ENTRIES:
                raise BadInput(f"layer {layer}", f"the image has more than {MAX_TREE_ENTRIES:,} tar entries; "
                                                 "refusing to hold them all")
            if e.kind is Kind.FILE:
                ch.file_bytes += e.size
            if e.kind is Kind.WHITEOUT:
                if e.target:
                    self._whiteout(e.target, layer, ch)
                continue
            if e.kind is Kind.OPAQUE:
                opaque_dirs.append(e.target)
                # the directory itself exists in this layer
                self._set(Entry(e.target, Kind.DIR, mode=0o755), None, layer, ch, implicit=True)
                continue
            self._set(e, digest, layer, ch)
        for d in opaque_dirs:  # after the whole layer: same-layer children stay
            self._opaque(d, layer, ch)
        self.layers.append(ch)
        return ch

    def _set(self, e: Entry, digest: bytes | None, layer: int, ch: LayerChanges, implicit: bool = False) -> None:
        if not e.path:  # the root directory's own metadata
            if e.kind is not Kind.DIR:
                ch.problems.append(("/", f"the root is given as a {e.kind.value}"
                                         f"{' to ' + repr(e.linkname[:100]) if e.linkname else ''}; ignored "
                                         "(the root is always a directory)"))
            elif not implicit:
                self._meta(self._own_root(), e, layer)
            return
        found = self._parent(e.path, layer, ch)
        if found is None:
            return
        parent, name = found
        assert parent.children is not None
        old = parent.children.get(name)
        if old is not None and old.is_dir and e.kind is Kind.DIR:
            if not implicit:
                old = self._own(parent, name)
                self._meta(old, e, layer)
                old.layer = layer
                ch.modified += 1
            return
        node = Node(name, e.kind, layer, self.gen)
        if old is not None:
            same_kind = not old.is_dir and e.kind is not Kind.DIR
            self._hide(e.path, old, layer, Reason.OVERWRITTEN if same_kind else Reason.REPLACED_BY_DIR)
            node.added = old.added
            ch.modified += 1
        else:
            ch.added += 1
        self._meta(node, e, layer)
        node.digest = digest
        if e.kind is Kind.FILE:
            node.size = e.size
        elif e.kind is Kind.HARDLINK:
            target = old if e.linkname == e.path else self.get(e.linkname)
            if target is not None and (target.kind is Kind.FILE or (target.kind is Kind.HARDLINK and target.src)):
                node.size, node.digest = target.size, target.digest
                node.src = target.src if target.kind is Kind.HARDLINK else (target.layer, e.linkname)
            else:
                what = "does not exist (yet)" if target is None else f"is a {target.kind.value}, not a file"
                ch.problems.append((e.path, f"hardlink to {e.linkname[:100]!r}, which {what}: an empty file"))
        parent.children[name] = node

    @staticmethod
    def _meta(node: Node, e: Entry, layer: int) -> None:
        node.mode, node.uid, node.gid, node.mtime = e.mode, e.uid, e.gid, e.mtime
        node.uname, node.gname = e.uname, e.gname
        node.linkname = e.linkname
        node.xattrs = e.xattrs or None
        node.devmajor, node.devminor = e.devmajor, e.devminor

    def _whiteout(self, target: str, layer: int, ch: LayerChanges) -> None:
        node = self.get(target)
        if node is None:
            ch.problems.append((target, "whiteout of a path that does not exist in lower layers"))
            return
        if not target:
            ch.problems.append(("/", "whiteout of the root directory ignored"))
            return
        parent_path, _, name = target.rpartition("/")
        parent = self._own_path(parent_path)
        assert parent is not None and parent.children is not None
        del parent.children[name]
        self._hide(target, node, layer, Reason.DELETED)
        ch.removed += 1 + sum(1 for _ in self.walk(node, target))

    def _opaque(self, path: str, layer: int, ch: LayerChanges) -> None:
        """Hide everything below ``path`` that lower layers put there.

        Depth first, iteratively: a directory's children are settled before it
        is (a lower directory left empty goes; one holding this layer's entries
        stays and now belongs to this layer).
        """
        top = self.get(path)
        if top is None or top.children is None:
            return
        # every directory visited is owned by this tree (copy on write), so deleting
        # below it and re-labelling it never touches a tree it shares nodes with
        top = self._own_path(path)
        assert top is not None and top.children is not None
        # frames: (directory, its path, children still to visit); post-order via pending list
        stack: list[tuple[Node, str, list[tuple[str, Node]]]] = [(top, path, list(top.children.items()))]
        while stack:
            d, dpath, todo = stack[-1]
            if todo:
                name, child = todo.pop()
                cpath = f"{dpath}/{name}" if dpath else name
                if child.is_dir:
                    child = self._own(d, name)
                    stack.append((child, cpath, list(child.children.items()) if child.children else []))
                elif child.layer < layer:
                    assert d.children is not None
                    del d.children[name]
                    self._hide(cpath, child, layer, Reason.OPAQUE)
                    ch.removed += 1
                continue
            stack.pop()
            if not stack:
                break
            parent = stack[-1][0]
            if d.layer < layer and not d.children:
                assert parent.children is not None
                del parent.children[d.name]  # a lower directory, now empty
                ch.removed += 1
            elif d.layer < layer:
                d.layer = layer  # holds this layer's entries: exists here

    # ------------------------------------------------------------- totals

    def visible_bytes(self) -> int:
        return sum(n.size for _, n in self.walk() if n.kind is Kind.FILE)

    def count(self) -> int:
        return sum(1 for _ in self.walk())


def layer_entries(layer, problems: Callable[[str, str], None] | None = None,
                  hash_content: bool = False) -> Iterator[tuple[Entry, bytes | None]]:
    """Stream (Entry, xxh3-128 of the content or None) from a layer.

    The layer's digests are verified when the stream ends.
    """
    import xxhash

    from imgopt.image.tarstream import iter_entries

    stream = layer.open_tar()
    try:
        for e, _m, reader in iter_entries(stream, layer.subject, problems):
            digest = None
            if hash_content and e.kind is Kind.FILE and e.size:
                h = xxhash.xxh3_128()
                while chunk := reader.read_member(1 << 20):
                    h.update(chunk)
                digest = h.digest()
            yield e, digest
        stream.verify()
    finally:
        stream.close()


def from_image(image, hash_content: bool = False) -> FileTree:
    """The merged filesystem of ``image`` (every layer read once, verified)."""
    tree = FileTree()
    for i, layer in enumerate(image.layers):
        problems: list[tuple[str, str]] = []
        ch = tree.apply(i, layer_entries(layer, lambda n, p: problems.append((n, p)), hash_content))
        ch.problems[:0] = problems
    return tree
