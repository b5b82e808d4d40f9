"""A tar member as it streams by: its content hash, its first chunk, and its ELF facts when it is ELF.

Both readers of layer bytes use this: the per-layer summary the cache keeps
(:mod:`imgopt.analyze.summary`) and the in-process scan of an image
(:mod:`imgopt.analyze.scan`).  An ELF file is spooled (in memory up to
``SPOOL_MEM``, then a temporary file) because its dynamic section can be
anywhere in it; everything else is hashed and dropped.
"""

from __future__ import annotations

import tempfile
from typing import IO, Any, Callable

import xxhash

ELF_MAGIC = b"\x7fELF"
SPOOL_MEM = 8 << 20
CHUNK = 1 << 20  # also the first chunk: every head an analysis keeps fits in it


def read_member(read: Callable[[int], bytes], parse_elf: Callable[[IO[bytes], int], Any]) \
        -> tuple[bytes, bytes, Any]:
    """(xxh3-128 digest, first chunk, ``parse_elf(file at 0, size)`` or None when not ELF) of the member
    that ``read(n)`` returns the rest of (b"" at its end)."""
    h = xxhash.xxh3_128()
    first = read(CHUNK)
    h.update(first)
    if not first.startswith(ELF_MAGIC):
        while chunk := read(CHUNK):
            h.update(chunk)
        return h.digest(), first, None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEM) as spool:
        spool.write(first)
        while chunk := read(CHUNK):
            h.update(chunk)
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        return h.digest(), first, parse_elf(spool, size)


__all__ = ["read_member", "ELF_MAGIC", "SPOOL_MEM", "CHUNK"]
