"""Read-only access to the slim image's source files, for the language closure.

Paths are absolute paths inside the image.  Lookups follow symlinks inside
the image's merged tree (never the host's).  File content comes from the
scan: layers stored uncompressed on local disk are read in place; a layer
that was streamed (compressed, or from a registry) is streamed once more,
the first time a file of it is needed, and only its source-like files
(:data:`SOURCE_SUFFIXES`, scripts, manifests; at most :data:`MAX_SOURCE`
bytes each) are copied to a scratch directory that goes away with this
object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import BinaryIO, Iterator

from imgopt.analyze.entrypoint import Resolver
from imgopt.analyze.scan import Scan
from imgopt.image.filetree import Node
from imgopt.image.tarstream import Kind

MAX_SOURCE = 16 << 20  # bytes: a source file bigger than this is not parsed
# what a streamed layer's copy keeps (extension-less scripts come from the scan's kept heads)
SOURCE_SUFFIXES = (".py", ".pth", ".cfg", ".txt", ".js", ".mjs", ".cjs", ".json", ".rb", ".pm", ".pl", ".php",
                   ".inc", ".sh", ".bash", ".jar", ".MF", "RECORD", "METADATA")
FILE_KINDS = (Kind.FILE, Kind.HARDLINK)


class ImageFiles:
    """Lookups, listings and content of the image's files."""

    def __init__(self, scan: Scan):
        self.scan = scan
        self.tree = scan.tree
        self.r = Resolver(scan)
        self._extracted: dict[int, dict[str, str]] = {}  # streamed layer -> path -> scratch file
        self._scratch: str | None = None
        self._lookups: dict[str, tuple[str, Node | None]] = {}
        self._listings: dict[str, list[str]] = {}

    # ------------------------------------------------------------ lookups

    def lookup(self, path: str) -> tuple[str, Node | None]:
        """(resolved absolute path, node or None); symlinks followed in every component."""
        hit = self._lookups.get(path)
        if hit is None:
            hit = self.r.lookup(path)
            self._lookups[path] = hit
        return hit

    def is_file(self, path: str) -> bool:
        node = self.lookup(path)[1]
        return node is not None and node.kind in FILE_KINDS

    def is_dir(self, path: str) -> bool:
        node = self.lookup(path)[1]
        return node is not None and node.children is not None

    def exists(self, path: str) -> bool:
        return self.lookup(path)[1] is not None

    def size(self, path: str) -> int:
        node = self.lookup(path)[1]
        return node.size if node is not None and node.kind in FILE_KINDS else 0

    def listdir(self, path: str) -> list[str]:
        got = self._listings.get(path)
        if got is None:
            node = self.lookup(path)[1]
            got = sorted(node.children) if node is not None and node.children is not None else []
            self._listings[path] = got
        return got

    def walk_files(self, top: str, prune=None) -> Iterator[tuple[str, int]]:
        """(absolute path, size) of every regular file below directory ``top`` (resolved), sorted.

        Symlinks below ``top`` are not followed.  ``prune(dir_path, name)``
        returning True skips a subdirectory.
        """
        final, node = self.lookup(top)
        if node is None or node.children is None:
            return
        stack = [(final.rstrip("/") or "", node)]
        while stack:
            d, n = stack.pop()
            for name in sorted(n.children or {}, reverse=True):
                child = (n.children or {})[name]
                p = f"{d}/{name}"
                if child.children is not None:
                    if prune is None or not prune(d or "/", name):
                        stack.append((p, child))
                elif child.kind in FILE_KINDS:
                    yield p, child.size

    # ------------------------------------------------------------ content

    def read(self, path: str, limit: int = MAX_SOURCE) -> bytes | None:
        """Up to ``limit`` bytes of the regular file at ``path``; None when absent or too big to parse."""
        final, node = self.lookup(path)
        if node is None or node.kind not in FILE_KINDS:
            return None
        if node.size > MAX_SOURCE and limit >= node.size:
            return None
        layer, rel = self.r.content_node(node, final)
        if self.scan.content.is_seekable(layer):
            return self.scan.content.read(layer, rel, limit)
        head = self.scan.content.heads.get((layer, rel))
        if head is not None and len(head) >= node.size:
            return head[:limit]
        copy = self._streamed(layer).get(rel)
        if copy is None:
            return None
        with open(copy, "rb") as f:
            return f.read(limit)

    def text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")

    def open(self, path: str) -> BinaryIO | None:
        """A seekable binary file (for zip archives), or None."""
        final, node = self.lookup(path)
        if node is None or node.kind not in FILE_KINDS:
            return None
        layer, rel = self.r.content_node(node, final)
        if self.scan.content.is_seekable(layer):
            return self.scan.content.open(layer, rel)
        copy = self._streamed(layer).get(rel)
        return open(copy, "rb") if copy else None

    def head(self, path: str, n: int = 256) -> bytes:
        final, node = self.lookup(path)
        if node is None or node.kind not in FILE_KINDS:
            return b""
        return self.r.head(node, final, n) or (self.read(path, n) or b"")

    def _streamed(self, layer: int) -> dict[str, str]:
        """Source-like files of a streamed layer, copied once to the scratch directory."""
        got = self._extracted.get(layer)
        if got is not None:
            return got
        from imgopt.image.tarstream import iter_entries

        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="imgopt-closure-")
            weakref.finalize(self, shutil.rmtree, self._scratch, True)
        got = {}
        d = os.path.join(self._scratch, str(layer))
        os.makedirs(d, exist_ok=True)
        lay = self.scan.image.layers[layer]
        stream = lay.open_tar()
        try:
            for e, _m, reader in iter_entries(stream, lay.subject):
                if e.kind is not Kind.FILE or e.size > MAX_SOURCE or not e.path.endswith(SOURCE_SUFFIXES):
                    continue
                dest = os.path.join(d, str(len(got)))
                with open(dest, "wb") as out:
                    while chunk := reader.read_member(1 << 20):
                        out.write(chunk)
                got[e.path] = dest  # a later entry for the same path wins, as in the tree
            stream.verify()
        finally:
            stream.close()
        self._extracted[layer] = got
        return got


__all__ = ["ImageFiles", "MAX_SOURCE", "FILE_KINDS"]
