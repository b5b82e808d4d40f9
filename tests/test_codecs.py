"""Codecs: sniffing, round trips, truncation and corruption on real bytes."""

from __future__ import annotations

import gzip
import io
import os

import pytest
import zstandard

from imgopt.errors import BadInput
from imgopt.image.codecs import Compression, compress_bytes, open_decompressed, sniff

# real bytes: an ELF binary and text, plus a long run of zeros
DATA = open("/bin/ls", "rb").read() + open(__file__, "rb").read() * 50 + b"\0" * 3_000_000


def _read(blob: bytes) -> tuple[Compression, bytes]:
    codec, raw = open_decompressed(io.BytesIO(blob), "blob")
    return codec, io.BufferedReader(raw).read()


@pytest.mark.parametrize("codec", list(Compression))
def test_round_trip_and_sniff(codec):
    blob = compress_bytes(DATA, codec)
    assert sniff(blob[:4]) is codec
    got_codec, out = _read(blob)
    assert got_codec is codec and out == DATA


def test_gzip_multi_member_and_trailing_zeros():
    # eStargz blobs are many gzip members; gzip(1) tolerates zero padding
    blob = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]) + b"\0" * 512
    assert _read(blob)[1] == DATA


def test_zstd_multi_frame_and_skippable_frames():
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    blob = skippable + zstandard.ZstdCompressor().compress(DATA[:5000]) + skippable + \
        zstandard.ZstdCompressor(write_checksum=True).compress(DATA[5000:])
    codec, out = _read(blob)
    assert codec is Compression.ZSTD and out == DATA


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.ZSTD])
@pytest.mark.parametrize("cut", [0.1, 0.5, 0.999])
def test_truncated_stream_is_reported(codec, cut):
    blob = compress_bytes(DATA, codec)
    with pytest.raises(BadInput, match="truncated|corrupt"):
        _read(blob[: int(len(blob) * cut)])


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.ZSTD])
def test_corrupt_stream_is_reported(codec):
    blob = bytearray(compress_bytes(DATA, codec))
    for i in range(len(blob) // 3, len(blob) // 3 + 64):
        blob[i] ^= 0x5A
    with pytest.raises(BadInput, match=f"corrupt {codec.value}"):
        _read(bytes(blob))


def test_gzip_output_is_deterministic():
    assert compress_bytes(DATA, Compression.GZIP, 6) == compress_bytes(DATA, Compression.GZIP, 6)
    assert compress_bytes(DATA, Compression.ZSTD, 3) == compress_bytes(DATA, Compression.ZSTD, 3)


def test_inflate_memory_is_bounded():
    # 400 MB of zeros inflate in bounded pieces: no single read returns more than asked
    blob = gzip.compress(b"\0" * 400_000_000, 9)
    codec, raw = open_decompressed(io.BytesIO(blob), "zeros")
    buf = bytearray(1 << 20)
    total = 0
    while n := raw.readinto(buf):
        assert n <= len(buf)
        total += n
    assert total == 400_000_000


@pytest.mark.parametrize("codec,level", [(Compression.GZIP, 0), (Compression.GZIP, 10), (Compression.ZSTD, 23)])
def test_invalid_levels(codec, level):
    with pytest.raises(BadInput, match="level"):
        codec.check_level(level)


def test_uncompressed_random_bytes_are_not_misdetected():
    assert sniff(os.urandom(4).replace(b"\x1f", b"\x00").replace(b"\x28", b"\x00")) is Compression.NONE
