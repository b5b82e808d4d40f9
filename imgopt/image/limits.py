"""Bounds on everything imgopt reads from an image, in one place.

Images are hostile input: every size, depth and count read from one is
checked against a limit here before it can cost memory, recursion or time.
The limits are generous for real images and follow the engines':

* manifests and indexes: 4 MiB, as containerd (``MaxManifestSize``,
  4 * 1048 * 1048 bytes) and distribution (4 MiB) accept;
* image configs: 8 MiB (a config with 127 layers of long ``RUN`` lines is
  well under 1 MiB);
* ``manifest.json`` / ``repositories`` of a ``docker save`` archive: 20 MiB,
  containerd's archive importer ``jsonLimit``;
* JSON nesting: 64 levels (OCI documents nest 5 deep);
* tar headers: names up to PATH_MAX (4096 bytes) and components up to
  NAME_MAX (255), link targets up to 4095 bytes, uid/gid within Linux's
  32-bit ``uid_t``, device numbers within the 7 octal digits of a ustar
  header, PAX extension headers up to 1 MiB; mtimes that do not fit
  (huge, ``inf``, ``nan``) are clamped and reported, not trusted.
"""

from __future__ import annotations

import json
import math
from typing import Any

from imgopt.errors import BadInput

KiB = 1 << 10
MiB = 1 << 20

MAX_MANIFEST = 4 * MiB  # manifests and indexes
MAX_CONFIG = 8 * MiB  # image configs
MAX_ARCHIVE_JSON = 20 * MiB  # manifest.json, repositories, oci-layout, index.json of a file layout
MAX_JSON_DEPTH = 64
MAX_INDEX_DEPTH = 4  # an index inside an index inside ... (OCI allows nesting; nobody needs more)

PATH_MAX = 4096  # bytes of a path, as Linux counts them (with the NUL)
NAME_MAX = 255  # bytes of one path component
LINK_MAX = 4095  # bytes of a symlink target (symlink(2) refuses longer)
UID_MAX = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown(2)
DEV_MAX = 0o7777777  # device major/minor: 7 octal digits, what a ustar header (and tarfile) can write back
PAX_MAX = 1 * MiB  # one PAX / GNU long-name extension header
PAX_GLOBAL_MAX = 1 * MiB  # all PAX global headers of a layer together
MTIME_MIN = -(1 << 33)  # ~1697 ... ~2242: every time that survives os.utime (ns in int64) and datetime
MTIME_MAX = (1 << 33) - 1

MAX_TREE_ENTRIES = 2_000_000  # tar entries applied to one merged tree (all layers together)


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(raw: bytes | str, subject: str | None, limit: int = MAX_MANIFEST, what: str = "document") -> Any:
    """Parse a JSON document of at most ``limit`` bytes and :data:`MAX_JSON_DEPTH` levels.

    Every failure is a :class:`BadInput` naming ``subject``: too large, not
    JSON (NaN and Infinity are not JSON), nested too deeply.
    """
    if len(raw) > limit:
        raise BadInput(subject, f"{what} is {len(raw)} bytes, more than the {human(limit)} imgopt accepts")
    if isinstance(raw, (bytes, bytearray)):
        # UTF-8 only, no byte order mark, as Go's encoding/json reads it (json.loads would guess UTF-16/32)
        if raw.startswith(b"\xef\xbb\xbf"):
            raise BadInput(subject, f"{what} is not valid JSON: it starts with a byte order mark")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadInput(subject, f"{what} is not valid JSON: not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BadInput(subject, f"{what} is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(subject, f"{what} is not valid JSON: {e}") from None
    check_depth(doc, subject, what)
    return doc


def check_depth(doc: Any, subject: str | None, what: str = "document", limit: int = MAX_JSON_DEPTH) -> None:
    """Raise when ``doc`` nests lists/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise BadInput(subject, f"{what} is not valid JSON: nested deeper than {limit} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))


def clamp_mtime(value: float | int) -> tuple[int, str | None]:
    """An mtime that every later step can use, and a note when it had to be changed."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return 0, f"mtime {value} is not a time; 0 used"
        value = int(value)
    if value < MTIME_MIN:
        return MTIME_MIN, f"mtime {value} is out of range; clamped to {MTIME_MIN}"
    if value > MTIME_MAX:
        return MTIME_MAX, f"mtime {value} is out of range; clamped to {MTIME_MAX}"
    return value, None


__all__ = [
    "MAX_MANIFEST", "MAX_CONFIG", "MAX_ARCHIVE_JSON", "MAX_JSON_DEPTH", "MAX_INDEX_DEPTH", "PATH_MAX", "NAME_MAX",
    "LINK_MAX", "UID_MAX", "DEV_MAX", "PAX_MAX", "PAX_GLOBAL_MAX", "MTIME_MIN", "MTIME_MAX", "MAX_TREE_ENTRIES",
    "load_json", "check_depth", "clamp_mtime", "human",
]
