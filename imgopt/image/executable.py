"""What the kernel and the dynamic loader need to run a file: the one home for interpreter detection.

* :func:`shebang` -- the words of a script's ``#!`` line;
* :func:`elf_interp` / :func:`interpreter_of` -- ``PT_INTERP`` from the first
  bytes of an ELF (what the trace recorder checks for every exec, cheaply);
* :func:`parse_elf` -- the whole dynamic section (interpreter, ``DT_NEEDED``,
  RPATH/RUNPATH, SONAME) with pyelftools, for the static closure in analyze
  and minify.

:func:`read_elf` is the fast path the analysis uses for every ELF file of a
layer: it decodes the ELF header, the program headers and the dynamic
segment with ``struct`` (the loader's view: strings through ``DT_STRTAB``
mapped by the ``PT_LOAD`` segments) in tens of microseconds, where
pyelftools takes milliseconds (it walks the section headers first).  Anything
unusual (``PN_XNUM`` program headers, a string table no segment maps,
unterminated strings) goes to :func:`parse_elf`; tests/test_executable.py
checks both agree on every ELF file of the fixture images.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Callable


@dataclass
class ElfInfo:
    elf_class: int  # 32 or 64
    machine: str
    interp: str | None = None  # PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2
    needed: list[str] = field(default_factory=list)  # DT_NEEDED
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    soname: str | None = None
    static: bool = False  # no PT_DYNAMIC


def parse_elf(f: BinaryIO) -> ElfInfo | None:
    """Parse the dynamic section of an ELF file; None if it is not a valid ELF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(f)
        info = ElfInfo(elf.elfclass, elf["e_machine"])
        has_dynamic = False
        for seg in elf.iter_segments():
            t = seg["p_type"]
            if t == "PT_INTERP":
                info.interp = seg.get_interp_name()
            elif t == "PT_DYNAMIC":
                has_dynamic = True
                for tag in seg.iter_tags():
                    d = tag.entry.d_tag
                    if d == "DT_NEEDED":
                        info.needed.append(tag.needed)
                    elif d == "DT_RPATH":
                        info.rpath.extend(p for p in tag.rpath.split(":") if p)
                    elif d == "DT_RUNPATH":
                        info.runpath.extend(p for p in tag.runpath.split(":") if p)
                    elif d == "DT_SONAME":
                        info.soname = tag.soname
        info.static = not has_dynamic
        return info
    except (ELFError, ValueError, KeyError, AttributeError, IndexError, OSError, UnicodeDecodeError, AssertionError):
        return None
    except Exception:  # noqa: BLE001 - a hostile ELF must not crash analysis
        return None


class _Unusual(Exception):
    """The fast reader's input needs the full parser."""


_MACHINES: dict[int, str] | None = None


def _machine_name(n: int):
    """pyelftools' name for e_machine (EM_X86_64, ...); the number when unknown, as pyelftools does."""
    global _MACHINES
    if _MACHINES is None:
        from elftools.elf.enums import ENUM_E_MACHINE

        _MACHINES = {v: k for k, v in ENUM_E_MACHINE.items() if not k.startswith("_")}
    return _MACHINES.get(n, n)


PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29
MAX_PHDRS = 4096
MAX_DYN = 1 << 16


def read_elf(read: Callable[[int, int], bytes], size: int) -> ElfInfo | None:
    """ElfInfo of an ELF file whose bytes ``read(offset, n)`` returns (``size`` bytes in all).

    Same answer as :func:`parse_elf` (which it falls back to for unusual files),
    without reading more than the headers, the dynamic segment and its strings.
    """
    try:
        return _read_elf(read, size)
    except _Unusual:
        return parse_elf(_ReadFile(read, size))
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        return parse_elf(_ReadFile(read, size))


def _read_elf(read: Callable[[int, int], bytes], size: int) -> ElfInfo | None:
    ident = bytes(read(0, 64))
    if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise _Unusual
    is64 = ident[4] == 2
    e = "<" if ident[5] == 1 else ">"
    if is64:
        machine, = struct.unpack_from(e + "H", ident, 18)
        phoff, = struct.unpack_from(e + "Q", ident, 32)
        phentsize, phnum = struct.unpack_from(e + "HH", ident, 54)
        ph, want = struct.Struct(e + "IIQQQQQQ"), 56
    else:
        machine, = struct.unpack_from(e + "H", ident, 18)
        phoff, = struct.unpack_from(e + "I", ident, 28)
        phentsize, phnum = struct.unpack_from(e + "HH", ident, 42)
        ph, want = struct.Struct(e + "IIIIIIII"), 32
    if phnum >= 0xFFFF or phnum > MAX_PHDRS or (phnum and phentsize < want) or phoff + phnum * phentsize > size:
        raise _Unusual
    table = bytes(read(phoff, phnum * phentsize))
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    interp_off = dyn = None
    for i in range(phnum):
        f = ph.unpack_from(table, i * phentsize)
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = f[:6]
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = f[:5]
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == PT_INTERP and interp_off is None:
            interp_off = p_offset
        elif p_type == PT_DYNAMIC and dyn is None:
            dyn = (p_offset, p_filesz)
    info = ElfInfo(64 if is64 else 32, _machine_name(machine))
    if interp_off is not None:
        info.interp = _cstring(read, interp_off, size).decode("utf-8")
    info.static = dyn is None
    if dyn is None or dyn[1] == 0:
        return info
    entry = struct.Struct(e + ("qQ" if is64 else "iI"))
    tags: list[tuple[int, int]] = []
    off, left = dyn[0], max(dyn[1], entry.size)
    done = False
    while not done:  # like pyelftools: tags until DT_NULL (which may lie past p_filesz)
        raw = bytes(read(off, min(left, MAX_DYN * entry.size)))
        n = len(raw) // entry.size
        if n == 0 or len(tags) > MAX_DYN:
            raise _Unusual
        for tag, val in entry.iter_unpack(raw[: n * entry.size]):
            tags.append((tag, val))
            if tag == DT_NULL:
                done = True
                break
        off += n * entry.size
        left = 64 * entry.size
    strtab = next((v for t, v in tags if t == DT_STRTAB), None)
    wanted = [(t, v) for t, v in tags if t in (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME)]
    if not wanted:
        return info
    if strtab is None:
        raise _Unusual
    base = next((strtab - va + fo for va, fs, fo in loads if va <= strtab and strtab + 1 <= va + fs), None)
    if base is None:
        raise _Unusual  # pyelftools would try the section headers
    for t, v in wanted:
        s = _cstring(read, base + v, size).decode("utf-8")
        if t == DT_NEEDED:
            info.needed.append(s)
        elif t == DT_RPATH:
            info.rpath.extend(p for p in s.split(":") if p)
        elif t == DT_RUNPATH:
            info.runpath.extend(p for p in s.split(":") if p)
        else:
            info.soname = s
    return info


def _cstring(read: Callable[[int, int], bytes], off: int, size: int, limit: int = 1 << 16) -> bytes:
    out = b""
    while len(out) < limit and off < size:
        chunk = bytes(read(off, 256))
        head, sep, _ = chunk.partition(b"\0")
        out += head
        if sep:
            return out
        if len(chunk) < 256:
            break
        off += len(chunk)
    raise _Unusual


class _ReadFile:
    """A read-only file over ``read(offset, n)`` (for pyelftools)."""

    def __init__(self, read: Callable[[int, int], bytes], size: int):
        self._read, self._size, self._pos = read, size, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else self._size + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n < 0 else min(n, max(0, self._size - self._pos))
        b = bytes(self._read(self._pos, n)) if n > 0 else b""
        self._pos += len(b)
        return b


def file_reader(f: BinaryIO) -> Callable[[int, int], bytes]:
    """``read(offset, n)`` over a seekable file."""

    def read(off: int, n: int) -> bytes:
        f.seek(off)
        return f.read(n)

    return read


def shebang(head: bytes) -> list[str] | None:
    """The words of the ``#!`` line of a file starting with ``head`` (None: not a script).

    ``#!/usr/bin/env python3 -u`` -> ``["/usr/bin/env", "python3", "-u"]``; bytes
    that are not UTF-8 survive as surrogate escapes (paths stay exact).
    """
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].strip()
    return [w.decode("utf-8", "surrogateescape") for w in line.split()]


def interpreter_of(head: bytes) -> list[str] | None:
    """What the kernel runs for an executable starting with ``head``.

    ``#!`` scripts: the interpreter path (and its argument); ELF: PT_INTERP.
    None for a static ELF or anything else.
    """
    words = shebang(head)
    if words is not None:
        return words[:1] or None
    if head.startswith(b"\x7fELF"):
        interp = elf_interp(head)
        return [interp] if interp else None
    return None


def elf_interp(data: bytes) -> str | None:
    """PT_INTERP of an ELF file from its first bytes (program headers must be inside)."""
    import struct

    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    is64, little = data[4] == 2, data[5] == 1
    end = "<" if little else ">"
    try:
        if is64:
            phoff, = struct.unpack_from(end + "Q", data, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
        else:
            phoff, = struct.unpack_from(end + "I", data, 0x1C)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
        for i in range(min(phnum, 64)):
            off = phoff + i * phentsize
            if is64:
                p_type, = struct.unpack_from(end + "I", data, off)
                p_offset, = struct.unpack_from(end + "Q", data, off + 8)
                p_filesz, = struct.unpack_from(end + "Q", data, off + 32)
            else:
                p_type, p_offset = struct.unpack_from(end + "II", data, off)
                p_filesz, = struct.unpack_from(end + "I", data, off + 16)
            if p_type == 3:  # PT_INTERP
                raw = data[p_offset: p_offset + p_filesz]
                return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") or None
    except struct.error:
        return None
    return None


__all__ = ["ElfInfo", "parse_elf", "read_elf", "file_reader", "shebang", "elf_interp", "interpreter_of"]
