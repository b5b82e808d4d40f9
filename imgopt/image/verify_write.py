"""Sinks verify what they write: every layer imgopt writes out is one ``inspect --deep`` accepts.

A source's blob digest only proves that the bytes are the ones the manifest
names; the config's diffID, the compression and the tar inside are claims
too.  ``imgopt copy`` used to pass a truncated gzip, a gzip whose diffID lies,
a gzip of non-tar data, gzip-in-gzip, trailing garbage and corrupt tar headers
straight through and exit 0.  Now:

* :func:`checked_opener` opens a layer checked as it streams; sinks iterate
  :func:`imgopt.image.transports.partial.checked_blobs`, built on it, to write an image's blobs.
  A layer not already verified in this process is checked *in the pass that
  copies it*: the compressed bytes the sink reads are handed to a thread that
  decompresses them (the codec sniffed, as readers do), hashes the result
  against the diffID and walks the tar headers with the same reader
  ``inspect --deep`` uses (checksums, sizes, field ranges, truncation).  The
  copy thread and the check thread run side by side (inflate and SHA-256
  release the GIL), so the check costs CPU, not a second read of the blob.
* The blob's last chunk is handed to the sink only after the blob digest and
  that check have passed: a registry never receives a complete bad blob, a
  file sink's temporary file is removed.
* :class:`TarCheck` does the same walk over a stream that is decompressed
  anyway (recompression, ``mutate.recode_layer``).

Layers made by imgopt itself (re-encoded, minified) and layers a full scan
has already verified carry ``layer.verified = True`` and are copied without
the check.  Blobs a registry already has (or mounts) are not transferred and
so not checked.

A verified pair (compressed digest, diffID) is also remembered across runs, as
containerd (the ``containerd.io/uncompressed`` label) and Docker
(``diffid-by-digest``) remember theirs: a marker file named by the pair in
``verified-layers/`` of imgopt's cache directory (``$IMGOPT_CACHE``, else
``$XDG_CACHE_HOME/imgopt`` or ``~/.cache/imgopt``; :mod:`imgopt.cache.location`).  The compressed digest is checked on every copy, so a
blob with that digest *is* the content once verified: copying it again needs
no decompression.  ``IMGOPT_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from typing import Any, Callable

from imgopt.errors import BadInput, DigestMismatch, ImgoptError
from imgopt.image.codecs import CHUNK, Compression, open_decompressed
from imgopt.image.digest import VerifyingReader

_QUEUE_CHUNKS = 8  # chunks in flight between the copy and the check (memory: 8 x 1 MiB)


# ------------------------------------------------------- verified layers


def _cache_root() -> str | None:
    from imgopt.cache.location import default_dir, disabled

    return None if disabled() else os.path.join(default_dir(), "verified-layers")


def _marker(digest: str, diff_id: str) -> str | None:
    root = _cache_root()
    if root is None:
        return None
    key = hashlib.sha256(f"{digest} {diff_id}".encode()).hexdigest()
    return os.path.join(root, key[:2], key[2:])


def is_verified(layer: Any) -> bool:
    """Checked in this process, made by imgopt, or its (digest, diffID) pair verified before."""
    if getattr(layer, "verified", False):
        return True
    m = _marker(layer.digest, layer.diff_id)
    if m is not None and os.path.exists(m):
        layer.verified = True
        return True
    return False


def remember(layer: Any) -> None:
    """``layer``'s blob has been read end to end and every check passed: note it (best effort)."""
    layer.verified = True
    m = _marker(layer.digest, layer.diff_id)
    if m is None or os.path.exists(m):
        return
    try:
        os.makedirs(os.path.dirname(m), mode=0o700, exist_ok=True)
        os.close(os.open(m, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError:
        pass  # a read-only or missing home: no cache, every copy checks


class _QueueReader(io.RawIOBase):
    """The bytes put into a queue (``None`` ends them), as a raw stream."""

    def __init__(self, q: "queue.Queue[bytes | None]"):
        super().__init__()
        self._q = q
        self._buf = memoryview(b"")
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._buf:
            if self.eof:
                return 0
            item = self._q.get()
            if item is None:
                self.eof = True
                return 0
            self._buf = memoryview(item)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while not self.eof:
            if self._q.get() is None:
                self.eof = True
        self._buf = memoryview(b"")


def walk_tar(stream: Any, subject: str) -> int:
    """Walk every tar header of ``stream`` (content skipped by reading); returns the entry count.

    Raises :class:`BadInput` for what ``inspect --deep`` rejects: bad checksums,
    out-of-range fields, truncation.
    """
    from imgopt.image.fasttar import TarReader

    n = 0
    for _ in TarReader(stream, subject, False):
        n += 1
    return n


class _Check:
    """A check running in its own thread over bytes fed to it."""

    def __init__(self, subject: str, target: Callable[[_QueueReader], None]):
        self.subject = subject
        self._q: "queue.Queue[bytes | None]" = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._reader = _QueueReader(self._q)
        self._target = target
        self.error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"check {subject}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._target(self._reader)
        except BaseException as e:  # noqa: BLE001 - handed to the feeding thread
            self.error = e
        finally:
            self._reader.drain()  # never leave the feeder blocked on a full queue

    def feed(self, chunk: bytes) -> None:
        if self.error is not None:
            self._raise()
        self._q.put(chunk)

    def finish(self) -> None:
        """End of input: wait for the check, raise what it found."""
        if not self._closed:
            self._closed = True
            self._q.put(None)
        self._thread.join()
        if self.error is not None:
            self._raise()

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
        self._thread.join()

    def _raise(self) -> None:
        e = self.error
        if isinstance(e, ImgoptError):
            raise e
        raise BadInput(self.subject, f"layer content check failed: {type(e).__name__}: {e}")


class LayerCheck(_Check):
    """The compressed blob of ``layer``: codec sniffed, decompressed, diffID and tar structure checked."""

    def __init__(self, layer: Any):
        self.layer = layer
        super().__init__(layer.subject, self._check)

    def _check(self, blob: _QueueReader) -> None:
        layer = self.layer
        codec, raw = open_decompressed(blob, layer.subject)
        if codec is Compression.NONE and layer.digest != layer.diff_id:
            raise DigestMismatch(layer.subject, f"uncompressed layer's digest {layer.digest} is not its "
                                                f"diffID {layer.diff_id}")
        if codec is not Compression.NONE:  # uncompressed: the blob digest is the diffID, verified by the copy
            raw = VerifyingReader(raw, layer.diff_id, None, f"{layer.subject} (uncompressed)")
        stream = io.BufferedReader(raw, CHUNK)
        walk_tar(stream, layer.subject)
        while stream.read(CHUNK):  # end-of-archive padding: the diffID covers it
            pass


class TarCheck(_Check):
    """The uncompressed tar of a layer, fed as it streams by: headers walked."""

    def __init__(self, subject: str):
        super().__init__(subject, self._check)

    def _check(self, tar: _QueueReader) -> None:
        stream = io.BufferedReader(tar, CHUNK)
        walk_tar(stream, self.subject)
        while stream.read(CHUNK):
            pass


class CheckedBlob(io.RawIOBase):
    """A blob stream whose last bytes are released only when every check passed.

    ``src`` is the verifying blob reader (digest and size); ``check`` (may be
    None) sees every byte too.  When the declared size is reached, the source
    is read to its end (its digest checked) and the check finished before the
    read that carries the final bytes returns.
    """

    def __init__(self, src: Any, size: int, check: _Check | None, layer: Any = None):
        super().__init__()
        self._src = src
        self._size = size
        self._check = check
        self._layer = layer
        self._pos = 0
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._finished:
            return 0
        n = self._src.readinto(b) or 0
        if n:
            if self._check is not None:
                self._check.feed(bytes(memoryview(b)[:n]))
            self._pos += n
            if self._pos >= self._size:
                self._finish()
            return n
        self._finish()
        return 0

    def _finish(self) -> None:
        self._finished = True
        self._src.drain()  # the blob digest and size (raises on a mismatch or extra bytes)
        if self._check is not None:
            self._check.finish()
            if self._layer is not None:
                remember(self._layer)

    def drain(self) -> None:
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            pass

    def close(self) -> None:
        if not self.closed:
            try:
                if self._check is not None and not self._finished:
                    self._check.abort()
            finally:
                self._src.close()
        super().close()


def checked_opener(layer: Any) -> Callable[[], CheckedBlob]:
    """An opener for ``layer``'s blob that checks it while it is copied (unless already verified)."""

    def opener() -> CheckedBlob:
        check = None if is_verified(layer) else LayerCheck(layer)
        try:
            src = layer.open_blob()
        except BaseException:
            if check is not None:
                check.abort()
            raise
        return CheckedBlob(src, layer.size, check, layer)

    return opener


__all__ = ["checked_opener", "CheckedBlob", "LayerCheck", "TarCheck", "walk_tar", "is_verified",
           "remember"]
