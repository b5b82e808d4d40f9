"""imgopt.image.executable: the one home of interpreter detection (trace, analyze and minify use it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imgopt.image.executable import elf_interp, interpreter_of, parse_elf, shebang


def test_shebang_words():
    assert shebang(b"#!/usr/bin/env python3 -u\nimport x") == ["/usr/bin/env", "python3", "-u"]
    assert shebang(b"#!  /bin/sh\n") == ["/bin/sh"]
    assert shebang(b"#!\n") == [] and interpreter_of(b"#!\n") is None
    assert shebang(b"\x7fELF...") is None and shebang(b"") is None
    assert shebang(b"#!/opt/\xff/bin/x\n") == ["/opt/\udcff/bin/x"]  # not UTF-8: the path's bytes survive
    assert interpreter_of(b"#!/usr/bin/env python3 -u\n") == ["/usr/bin/env"]


@pytest.mark.parametrize("prog", ["true", "python3", "sh"])
def test_the_two_elf_readers_agree_on_real_binaries(prog):
    path = Path(shutil.which(prog) or "/nonexistent").resolve()
    assert path.is_file(), prog
    head = path.read_bytes()[:4096]
    with open(path, "rb") as f:
        info = parse_elf(f)
    if head.startswith(b"#!"):  # a script on this host: its interpreter is an ELF
        return
    assert info is not None and info.elf_class in (32, 64)
    assert elf_interp(head) == info.interp
    assert interpreter_of(head) == ([info.interp] if info.interp else None)
    if info.interp:
        assert "libc.so.6" in info.needed or any(n.startswith("libc") for n in info.needed)
