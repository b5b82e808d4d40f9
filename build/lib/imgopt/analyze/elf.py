"""What an ELF file needs to run: interpreter, needed libraries, search paths."""

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
