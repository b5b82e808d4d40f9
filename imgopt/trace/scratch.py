"""Scratch directories of a trace run (rootfs, overlay, logs), and removing them whatever their permissions."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from imgopt.trace.options import TraceOptions


def mkscratch(opts: TraceOptions) -> str:
    base = opts.scratch_dir
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="imgopt-trace-", dir=base)


def rmtree(path: str) -> None:
    """Remove a scratch tree, fixing permissions that block it (overlay work dirs, 0555 dirs)."""
    def fix(func, p, exc) -> None:
        parent = os.path.dirname(p)
        for q in (parent, p):
            try:
                os.chmod(q, stat.S_IRWXU, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass

    if os.path.exists(path):
        shutil.rmtree(path, onerror=fix)


__all__ = ["mkscratch", "rmtree"]
