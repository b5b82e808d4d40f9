"""Content digests and streams that verify them."""

from __future__ import annotations

import hashlib
import io
import re
from typing import BinaryIO

from imgopt.errors import BadInput, DigestMismatch

_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_HEX_LEN = {"sha256": 64, "sha512": 128}


def parse_digest(digest: str, subject: str | None = None) -> tuple[str, str]:
    """Split ``sha256:abc..`` into (algorithm, hex), rejecting anything else."""
    m = _DIGEST_RE.match(digest or "")
    if not m or len(m.group(2)) != _HEX_LEN[m.group(1)]:
        raise BadInput(subject, f"invalid digest {digest!r}")
    return m.group(1), m.group(2)


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_hasher(digest: str):
    alg, _ = parse_digest(digest)
    return hashlib.new(alg)


class VerifyingReader(io.RawIOBase):
    """Read-through wrapper that checks size and digest when the stream ends.

    ``expected_size`` may be None (unknown, e.g. a diffID). Reading past the
    declared size, or reaching EOF with the wrong size or digest, raises
    :class:`DigestMismatch` naming ``subject``.  Call :meth:`drain` to read
    and verify the rest when a consumer stopped early (a tar reader leaves
    the end-of-archive padding unread).
    """

    def __init__(self, raw: BinaryIO, digest: str, expected_size: int | None, subject: str):
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._hasher = new_hasher(digest)
        self._expected = expected_size
        self._subject = subject
        self._count = 0
        self._done = False

    def readable(self) -> bool:
        return True

    @property
    def bytes_read(self) -> int:
        return self._count

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._done:
            return 0
        n = self._raw.readinto(b) if hasattr(self._raw, "readinto") else _readinto(self._raw, b)
        if n is None:
            n = 0
        if n:
            self._hasher.update(memoryview(b)[:n])
            self._count += n
            if self._expected is not None and self._count > self._expected:
                raise DigestMismatch(self._subject, f"blob is larger than its declared size {self._expected}")
        else:
            self._finish()
        return n

    def _finish(self) -> None:
        self._done = True
        if self._expected is not None and self._count != self._expected:
            raise DigestMismatch(
                self._subject, f"blob is truncated: {self._count} bytes, descriptor says {self._expected}"
            )
        got = f"{self._hasher.name}:{self._hasher.hexdigest()}"
        if got != self._digest:
            raise DigestMismatch(self._subject, f"digest mismatch: content hashes to {got}, expected {self._digest}")

    def drain(self) -> None:
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _readinto(raw, b) -> int:
    data = raw.read(len(b))
    n = len(data)
    b[:n] = data
    return n


class HashingWriter:
    """File-like sink that counts and hashes what is written through it."""

    def __init__(self, out: BinaryIO | None = None, algorithm: str = "sha256"):
        self._out = out
        self._hasher = hashlib.new(algorithm)
        self.size = 0

    def write(self, data) -> int:
        self._hasher.update(data)
        self.size += len(data)
        if self._out is not None:
            self._out.write(data)
        return len(data)

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    @property
    def digest(self) -> str:
        return f"{self._hasher.name}:{self._hasher.hexdigest()}"
