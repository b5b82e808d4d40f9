"""Where the final filesystem's bytes are, by directory: the data behind a treemap.

One walk over the merged tree's regular files adds each file's size to its
ancestors down to ``max_depth`` (``/usr``, ``/usr/lib``, ``/usr/lib/x86_64-linux-gnu``).
Directories with less than ``min_fraction`` of the total are left out (their
bytes stay in their parent's total), so a viewer draws the parent's remainder
as "other".  Junk bytes (paths a junk class claims) are counted alongside.
"""

from __future__ import annotations

from collections import defaultdict

from imgopt.analyze.result import DirectorySize
from imgopt.image.filetree import FileTree
from imgopt.image.tarstream import Kind

MAX_DEPTH = 4
MIN_FRACTION = 0.002
LIMIT = 400


def directory_sizes(tree: FileTree, junk: dict[str, str], *, max_depth: int = MAX_DEPTH,
                    min_fraction: float = MIN_FRACTION, limit: int = LIMIT) -> list[DirectorySize]:
    """``/`` first, then the directories holding at least ``min_fraction`` of the bytes (at most ``limit``,
    largest kept), in path order; ``junk``: path -> junk class id (analyze's assignment)."""
    size: dict[str, int] = defaultdict(int)
    files: dict[str, int] = defaultdict(int)
    junk_bytes: dict[str, int] = defaultdict(int)
    for path, node in tree.walk():
        if node.kind is not Kind.FILE:
            continue
        parts = path.split("/")[:-1]
        is_junk = path in junk
        for d in ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, min(len(parts), max_depth) + 1)]:
            size[d] += node.size
            files[d] += 1
            if is_junk:
                junk_bytes[d] += node.size
    return select_directories({d: (size[d], files[d], junk_bytes[d]) for d in size}, min_fraction=min_fraction,
                              limit=limit)


def select_directories(sizes: dict[str, tuple[int, int, int]], *, min_fraction: float = MIN_FRACTION,
                       limit: int = LIMIT) -> list[DirectorySize]:
    """From every directory's (bytes, regular files, junk bytes): ``/`` and those worth drawing (see above)."""
    total = sizes["/"][0] if "/" in sizes else 0
    keep = [d for d, v in sizes.items() if d == "/" or v[0] >= total * min_fraction and v[0] > 0]
    keep = sorted(keep, key=lambda d: (d != "/", -sizes[d][0], d))[:limit]
    return [DirectorySize(d, *sizes[d]) for d in sorted(keep)]

__all__ = ["directory_sizes", "select_directories", "MAX_DEPTH", "MIN_FRACTION"]
