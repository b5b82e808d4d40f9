"""Atomic output: write to a temporary file beside the destination, rename on success.

Every file imgopt writes (reports, profiles, archives) goes through
:class:`atomic_file`, so a failed or interrupted run leaves nothing half
written.  The temporary file's name carries its owner
(:mod:`imgopt.scratch`): one left by a run killed with ``kill -9`` is removed
by the next write into the same directory.  Standard library only: commands
that import nothing heavy (lint) use it too.
"""

from __future__ import annotations

import os

from imgopt.errors import BadInput
from imgopt.scratch import make_scratch, temp_path


class atomic_file:
    """``with atomic_file(dest) as tmp:`` write tmp; renamed to dest on success."""

    def __init__(self, dest: str):
        self.dest = os.path.abspath(dest)
        parent = os.path.dirname(self.dest)
        if not os.path.isdir(parent):
            raise BadInput(dest, f"directory {parent} does not exist")
        if os.path.isdir(self.dest):
            raise BadInput(dest, "is a directory")
        self.tmp = temp_path(self.dest)

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.dest)
        else:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass


def scratch_dir(near: str | None, prefix: str) -> str:
    """A new private directory beside ``near`` (a destination path) when its directory is writable -- so
    what is built there is on the destination's filesystem -- else in ``$TMPDIR``."""
    base = None
    if near:
        parent = os.path.dirname(os.path.abspath(near)) or "."
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            base = parent
    return make_scratch(prefix, base)


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8; a name's undecodable bytes as they were, see imgopt.outtext) to ``path`` atomically."""
    from imgopt.outtext import ERRORS

    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8", errors=ERRORS) as f:
            f.write(text)
