"""A lean tar reader for layer analysis (ustar, GNU and PAX headers).

``tarfile`` spends most of a layer scan building TarInfo objects; this reader
decodes the few header fields analysis needs with one ``struct`` call per
header.  It reads forward-only streams (content skipped by reading) and
seekable files (content skipped by seeking, so a 1 GB uncompressed layer is
scanned without reading its file bodies).

Handled: ustar prefix, GNU long names/links (L/K), PAX extended headers
(path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*), PAX global headers
(applied to the members that follow), base-256 numbers.  Damaged input raises
:class:`BadInput` naming the layer.

Every header field is range-checked (:mod:`imgopt.image.limits`) before
anything uses it: negative or impossible sizes, uids/gids beyond ``uid_t``,
device numbers a header cannot hold, names and link targets longer than
Linux allows are errors; an mtime that is not a usable time (``inf``, ``nan``,
10^30) is clamped and the change noted in :attr:`Member.issues`.  A member
whose declared size runs past the end of a seekable layer is "truncated".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from imgopt.errors import BadInput
from imgopt.image import limits

BLOCK = 512
_HDR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12x")
_ZERO = bytes(BLOCK)
HEADER_ONLY = frozenset((b"1", b"2", b"3", b"4", b"5", b"6"))


@dataclass(slots=True)
class Member:
    name: str
    type: bytes  # tar typeflag, b"0" regular, b"5" dir, b"2" symlink, b"1" hardlink...
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: str
    uname: str
    gname: str
    devmajor: int
    devminor: int
    offset_data: int  # position of the content in the tar
    pax: dict[str, str] = field(default_factory=dict)
    issues: list[str] | None = None  # header values that had to be changed (clamped), for findings


def _num(field_: bytes, subject: str) -> int:
    try:  # the common case: NUL/space padded octal
        return int(field_.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        pass
    if field_ and field_[0] & 0x80:  # GNU base-256
        n = int.from_bytes(field_[1:], "big")
        if field_[0] & 0x40:
            n -= 1 << (8 * (len(field_) - 1))
        return n
    s = field_.split(b"\0", 1)[0].strip(b" ")
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise BadInput(subject, f"corrupt tar header: bad number {field_!r}") from None


def _str(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes, subject: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise BadInput(subject, "corrupt PAX header") from None
        if length <= 0:
            raise BadInput(subject, "corrupt PAX header")
        rec = data[sp + 1: pos + length - 1]  # without the trailing newline
        k, _, v = rec.partition(b"=")
        key = k.decode("utf-8", "surrogateescape")
        # hdrcharset=BINARY is rare; paths are UTF-8 per POSIX
        out[key] = v.decode("utf-8", "surrogateescape")
        pos += length
    return out


class TarReader:
    """Iterate the members of a layer tar.  ``read_member`` reads the current one."""

    def __init__(self, f: BinaryIO, subject: str, seekable: bool | None = None):
        self._f = f
        self._subject = subject
        self._seekable = f.seekable() if seekable is None else seekable
        self._pos = f.tell() if self._seekable else 0
        self._end: int | None = None  # the size of a seekable stream
        if self._seekable:
            self._end = f.seek(0, 2)
            f.seek(self._pos)
        self._left = 0  # unread content bytes of the current member (+ padding)
        self._content_left = 0

    def _read(self, n: int) -> bytes:
        data = self._f.read(n)
        if data is None:
            data = b""
        while len(data) < n:  # raw streams may return short reads
            more = self._f.read(n - len(data))
            if not more:
                break
            data += more
        self._pos += len(data)
        return data

    def _skip(self, n: int) -> None:
        if n <= 0:
            return
        if self._seekable:
            if self._end is not None and self._pos + n > self._end:
                raise BadInput(self._subject, "tar archive is truncated (a member's size runs past the end)")
            self._pos += n
            self._f.seek(self._pos)
            return
        while n > 0:
            chunk = self._f.read(min(n, 1 << 20))
            if not chunk:
                raise BadInput(self._subject, "tar archive is truncated")
            n -= len(chunk)
            self._pos += len(chunk)

    def read_member(self, n: int = -1) -> bytes:
        """Content of the current member (up to n bytes)."""
        want = self._content_left if n < 0 else min(n, self._content_left)
        data = self._read(want)
        if len(data) < want:
            raise BadInput(self._subject, "tar archive is truncated")
        self._content_left -= len(data)
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[Member]:
        global_pax: dict[str, str] = {}
        global_size = 0
        pax: dict[str, str] = {}
        longname: str | None = None
        longlink: str | None = None
        subject = self._subject
        while True:
            self._skip(self._left)
            self._left = self._content_left = 0
            buf = self._read(BLOCK)
            if not buf:
                return  # EOF without end-of-archive blocks: accepted, as Docker does
            if len(buf) < BLOCK:
                raise BadInput(subject, "tar archive is truncated (partial header)")
            if buf == _ZERO:
                return
            f = _HDR.unpack(buf)
            chk = _num(f[6], subject)
            if chk != sum(buf) - sum(buf[148:156]) + 256 and chk != _signed_sum(buf):
                raise BadInput(subject, f"corrupt tar header at offset {self._pos - BLOCK} (bad checksum)")
            name = f[0]
            if f[9] == b"ustar\x00" and f[15][:1] != b"\x00":
                name = f[15].split(b"\0", 1)[0] + b"/" + name.split(b"\0", 1)[0]
            typ = f[7] or b"0"
            size = _num(f[4], subject)
            data_at = self._pos
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            if size < 0:
                raise BadInput(subject, f"corrupt tar header at offset {self._pos - BLOCK}: negative size {size}")
            if typ in (b"x", b"g", b"L", b"K", b"X"):
                if size > limits.PAX_MAX:
                    raise BadInput(subject, f"tar extension header of {size} bytes at offset {self._pos - BLOCK}: "
                                            f"larger than {limits.human(limits.PAX_MAX)}")
                data = self._read(padded)[:size]
                if len(data) < size:
                    raise BadInput(subject, "tar archive is truncated")
                if typ == b"x" or typ == b"X":
                    pax.update(_parse_pax(data, subject))
                elif typ == b"g":
                    global_size += size
                    if global_size > limits.PAX_GLOBAL_MAX:
                        raise BadInput(subject, f"PAX global headers larger than "
                                                f"{limits.human(limits.PAX_GLOBAL_MAX)} in all")
                    global_pax.update(_parse_pax(data, subject))
                elif typ == b"L":
                    longname = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                else:
                    longlink = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                continue
            merged = {**global_pax, **pax} if global_pax else pax
            m = Member(
                name=longname if longname is not None else name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
                type=b"0" if typ == b"\x00" else typ,
                size=size, mode=_num(f[1], subject), uid=_num(f[2], subject), gid=_num(f[3], subject),
                mtime=_num(f[5], subject),
                linkname=longlink if longlink is not None else _str(f[8]),
                uname=_str(f[11]), gname=_str(f[12]),
                devmajor=_num(f[13], subject) if typ in (b"3", b"4") else 0,
                devminor=_num(f[14], subject) if typ in (b"3", b"4") else 0,
                offset_data=data_at, pax=merged,
            )
            if merged:
                _apply_pax(m, merged, subject)
                padded = (m.size + BLOCK - 1) // BLOCK * BLOCK
            _check_ranges(m, subject)
            pax = {}
            longname = longlink = None
            if m.type in HEADER_ONLY:
                # links, devices, dirs, fifos carry no content whatever the size
                # field says (as tarfile and Go's archive/tar read them)
                self._left = self._content_left = 0
            else:
                self._left = padded
                self._content_left = m.size
            yield m


def limits_short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _note(m: Member, issue: str) -> None:
    if m.issues is None:
        m.issues = []
    m.issues.append(issue)


def _byte_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogateescape"))


def _check_ranges(m: Member, subject: str) -> None:
    """Reject header values nothing downstream can honour; clamp the mtime (noted)."""
    where = limits_short(m.name)
    if m.uid < 0 or m.uid > limits.UID_MAX or m.gid < 0 or m.gid > limits.UID_MAX:
        raise BadInput(subject, f"tar entry {where}: owner {m.uid}:{m.gid} is out of range "
                                f"(0..{limits.UID_MAX})")
    if m.type in (b"3", b"4") and not (0 <= m.devmajor <= limits.DEV_MAX and 0 <= m.devminor <= limits.DEV_MAX):
        raise BadInput(subject, f"tar entry {where}: device number {m.devmajor},{m.devminor} is out of range "
                                f"(0..{limits.DEV_MAX})")
    if not isinstance(m.mtime, int) or not limits.MTIME_MIN <= m.mtime <= limits.MTIME_MAX:
        m.mtime, issue = limits.clamp_mtime(m.mtime)
        if issue:
            _note(m, issue)
    if len(m.name) > limits.NAME_MAX // 4:  # no shorter name can be too long, even in 4-byte UTF-8
        raw = m.name.encode("utf-8", "surrogateescape")
        if len(raw) >= limits.PATH_MAX:
            raise BadInput(subject, f"tar entry {where}: name is {len(raw)} bytes, longer than Linux's PATH_MAX "
                                    f"({limits.PATH_MAX})")
        if len(raw) > limits.NAME_MAX:
            longest = max(len(part) for part in raw.split(b"/"))
            if longest > limits.NAME_MAX:
                raise BadInput(subject, f"tar entry {where}: a path component is {longest} bytes, longer than "
                                        f"Linux's NAME_MAX ({limits.NAME_MAX})")
    if len(m.linkname) > limits.LINK_MAX // 4 and _byte_len(m.linkname) > limits.LINK_MAX:
        raise BadInput(subject, f"tar entry {where}: link target is {_byte_len(m.linkname)} bytes, longer than "
                                f"Linux allows ({limits.LINK_MAX})")


def _signed_sum(buf: bytes) -> int:
    """Checksum with signed chars (some old tars)."""
    return sum((b - 256 if b > 127 else b) for b in buf[:148]) + 256 + sum((b - 256 if b > 127 else b) for b in buf[156:])


def _apply_pax(m: Member, pax: dict[str, str], subject: str) -> None:
    if "path" in pax:
        m.name = pax["path"]
    if "linkpath" in pax:
        m.linkname = pax["linkpath"]
    for key, attr in (("size", "size"), ("uid", "uid"), ("gid", "gid")):
        if key in pax:
            text = pax[key].strip()
            # decimal digits only, as POSIX says (and Go's archive/tar checks); int() would take "1_0"
            if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 40:
                raise BadInput(subject, f"corrupt PAX {key} {limits_short(pax[key])}")
            setattr(m, attr, int(text))
    if "mtime" in pax:
        text = pax["mtime"].strip()
        try:
            value: float | int = int(text) if text.lstrip("-").isdigit() and len(text) < 40 else float(text)
        except ValueError:
            _note(m, f"PAX mtime {limits_short(text)} is not a number; the header's mtime kept")
        else:
            m.mtime = value  # type: ignore[assignment]  # a float (even inf or nan) is settled by _check_ranges
    if "uname" in pax:
        m.uname = pax["uname"]
    if "gname" in pax:
        m.gname = pax["gname"]
