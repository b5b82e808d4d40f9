"""Scratch directories of a trace run (rootfs, overlay, logs), and removing them whatever their permissions."""

from __future__ import annotations

from imgopt.trace.options import TraceOptions


def mkscratch(opts: TraceOptions) -> str:
    """A scratch directory marked with its owner; dead runs' leftovers beside it removed (imgopt.trace.owner)."""
    from imgopt.trace.owner import make_scratch

    return make_scratch(opts.scratch_dir)


def rmtree(path: str) -> None:
    """Remove a scratch tree, fixing permissions that block it (overlay work dirs, 0555 dirs),
    without recursion (an image may nest directories 10,000 deep) and never crossing a mount point."""
    from imgopt.scratch import remove_tree

    remove_tree(path)


__all__ = ["mkscratch", "rmtree"]
