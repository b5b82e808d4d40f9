"""Which image paths a profile says must stay: what the "traced files only" check keeps.

minify decides what it keeps on its own; this is the plain reading of a
profile used by the trace tests and benchmarks: every path the app touched
that existed in the image (files, directories, and each symlink of every
chain, which are recorded link by link).  Parents come with them when the
set is given to :func:`imgopt.image.unpack.unpack` as ``keep``.
"""

from __future__ import annotations

from imgopt.trace.profile import AccessProfile


def traced_paths(profile: AccessProfile, before_ready_only: bool = False) -> set[str]:
    """Absolute in-image paths that existed and were touched (optionally only before ready)."""
    return {f.path for f in profile.files if f.exists and (f.before_ready or not before_ready_only)}
