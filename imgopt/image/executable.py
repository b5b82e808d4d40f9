"""What the kernel and the dynamic loader need to run a file: the one home for interpreter detection.

* :func:`shebang` -- the words of a script's ``#!`` line;
* :func:`elf_interp` / :func:`interpreter_of` -- ``PT_INTERP`` from the first
  bytes of an ELF (what the trace recorder checks for every exec, cheaply);
* :func:`parse_elf` -- the whole dynamic section (interpreter, ``DT_NEEDED``,
  RPATH/RUNPATH, SONAME) with pyelftools, for the static closure in analyze
  and minify.
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import BinaryIO


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


__all__ = ["ElfInfo", "parse_elf", "shebang", "elf_interp", "interpreter_of"]
