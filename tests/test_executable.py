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


def _elf_files(archive: Path, limit: int | None = None):
    """(path, bytes) of the ELF files in an image's layers."""
    from imgopt.image.tarstream import Kind, iter_entries
    from imgopt.image.transports import open_image

    out = []
    with open_image(f"docker-archive:{archive}") as img:
        for layer in img.layers:
            stream = layer.open_tar()
            try:
                for e, _m, reader in iter_entries(stream, layer.subject):
                    if e.kind is Kind.FILE and e.size > 64:
                        data = reader.read_member()
                        if data[:4] == b"\x7fELF":
                            out.append((e.path, data))
                            if limit and len(out) >= limit:
                                return out
            finally:
                stream.close()
    return out


def _both(data: bytes):
    import io

    from imgopt.image.executable import read_elf

    fast = read_elf(lambda o, n: data[o:o + n], len(data))
    return fast, parse_elf(io.BytesIO(data))


@pytest.mark.slow
def test_the_fast_elf_reader_agrees_with_pyelftools_on_every_elf_of_an_app(app_archive):
    files = _elf_files(app_archive("pyweb"))
    assert len(files) > 300  # executables, shared libraries, Python extension modules
    for path, data in files:
        fast, slow = _both(data)
        assert fast == slow, path
    assert sum(1 for _, d in files if _both(d)[0].needed) > 200


def test_the_fast_elf_reader_on_damaged_files():
    """Truncated, absurd or hostile ELF files: never a crash, the full parser's answer where it has one."""
    import struct

    from conftest import SAMPLE_TAR

    path, data = _elf_files(SAMPLE_TAR, limit=1)[0]
    fast, slow = _both(data)
    assert fast == slow and fast is not None, path
    for cut in (16, 52, 64, 200, len(data) // 2):
        fast, slow = _both(data[:cut])
        assert fast == slow, cut
    bad = bytearray(data)
    struct.pack_into("<H", bad, 56, 0xFFFF)  # PN_XNUM: the count is in section 0 (pyelftools' job)
    assert _both(bytes(bad))[0] == _both(bytes(bad))[1]
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 32, 1 << 60)  # program headers far outside the file
    fast, slow = _both(bytes(bad))
    assert fast == slow
