"""Scratch directories of a trace run (rootfs, overlay, logs), and removing them whatever their permissions."""

from __future__ import annotations

import os
import tempfile

from imgopt.trace.options import TraceOptions


def mkscratch(opts: TraceOptions) -> str:
    base = opts.scratch_dir
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="imgopt-trace-", dir=base)


def rmtree(path: str) -> None:
    """Remove a scratch tree, fixing permissions that block it (overlay work dirs, 0555 dirs),
    without recursion (an image may nest directories 10,000 deep) and never crossing a mount point."""
    from imgopt.scratch import remove_tree

    remove_tree(path)


__all__ = ["mkscratch", "rmtree"]
