"""The image model: descriptors, manifests, indexes, configs, layers, images.

Every source (archive, OCI layout, daemon, registry) produces the same
:class:`Image`; every sink consumes it; transformations take an Image and
return an Image.  Layers are lazy: nothing is read until a stream is opened,
and every stream verifies the bytes against the digest that names them.
"""

from __future__ import annotations

import io
import json
import os
import platform as _platform
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from imgopt.errors import BadInput, DigestMismatch, NotFound
from imgopt.image import mediatypes as mt
from imgopt.image.codecs import CHUNK, Compression, PeekReader, open_decompressed, sniff
from imgopt.image.digest import VerifyingReader, parse_digest, sha256_bytes
from imgopt.image.jsonfields import Fields
from imgopt.image.limits import MAX_CONFIG, MAX_MANIFEST, load_json

# ---------------------------------------------------------------- platform

_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadInput("--platform", f"{text!r} is not os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> "Platform":
        m = _platform.machine().lower()
        arch = _GOARCH.get(m, m)
        variant = {"armv7l": "v7", "armv6l": "v6"}.get(m)
        if arch == "arm64":
            variant = "v8"
        return cls("linux", arch, variant)

    @classmethod
    def from_json(cls, d: "dict | Fields | None", subject: str | None = None) -> "Platform | None":
        if not d:
            return None
        f = d if isinstance(d, Fields) else Fields(d, subject, "platform")
        return cls(f.str("os"), f.str("architecture"), f.str("variant") or None)

    def to_json(self) -> dict:
        d = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        return d

    def matches(self, other: "Platform") -> bool:
        """Does ``other`` (a descriptor's platform) satisfy this request?"""
        if self.os != other.os or self.architecture != other.architecture:
            return False
        if self.variant and other.variant and self.variant != other.variant:
            return False
        return True

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# -------------------------------------------------------------- descriptor


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Any, subject: str, path: str = "") -> "Descriptor":
        f = d if isinstance(d, Fields) else Fields(d, subject, path, what="descriptor")
        for key in ("digest", "size"):
            if not f.has(key):
                raise BadInput(subject, f"descriptor {f.path + ' ' if f.path else ''}has no {key!r}")
        digest = f.str("digest")
        parse_digest(digest, subject)
        platform = f.obj("platform")
        return cls(
            media_type=f.str("mediaType"),
            digest=digest,
            size=f.int("size", min=0),  # type: ignore[arg-type]
            annotations=f.str_map("annotations"),
            platform=Platform.from_json(platform) if platform else None,
            urls=tuple(f.str_list("urls")),
        )

    def to_json(self) -> dict:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(sorted(self.annotations.items()))
        if self.platform:
            d["platform"] = self.platform.to_json()
        return d

    @property
    def short(self) -> str:
        return self.digest.split(":", 1)[-1][:12]


def descriptor_for(data: bytes, media_type: str, **kw: Any) -> Descriptor:
    return Descriptor(media_type=media_type, digest=sha256_bytes(data), size=len(data), **kw)


def _load_json(raw: bytes, subject: str, limit: int = MAX_MANIFEST) -> Fields:
    """A manifest, index or config: bounded in size and depth, an object."""
    return Fields(load_json(raw, subject, limit), subject)


def canonical_json(doc: Any) -> bytes:
    """Deterministic serialization used for every manifest/config we write.

    UTF-8 as written; a document holding lone surrogates (``"\\udcff"`` in the
    input) cannot be UTF-8, and is written with ASCII escapes instead.
    """
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()


# --------------------------------------------------------- manifest / index


@dataclass
class Manifest:
    media_type: str
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # exact bytes read, so the digest survives a copy
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. subject, artifactType

    @classmethod
    def parse(cls, raw: bytes, subject: str, media_type_hint: str | None = None) -> "Manifest":
        f = _load_json(raw, subject)
        media_type = f.str("mediaType") or media_type_hint or ""
        version = f.get("schemaVersion")
        if media_type in (mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED) or version == 1:
            raise BadInput(subject, "Docker schema 1 manifests are not supported (deprecated since 2017)")
        if not media_type and f.has("layers") and f.has("config"):
            media_type = mt.OCI_MANIFEST  # mediaType is optional in OCI manifests
        if media_type in mt.INDEXES:
            raise BadInput(subject, "is an image index, not a manifest")
        if media_type not in mt.MANIFESTS:
            raise BadInput(subject, f"unknown manifest media type {media_type!r}")
        if f.int("schemaVersion") != 2:
            raise BadInput(subject, f"unsupported schemaVersion {version!r}")
        config_f = f.obj("config")
        if config_f is None:
            raise BadInput(subject, "manifest has no config")
        config = Descriptor.from_json(config_f, f"{subject} config")
        if config.media_type not in mt.CONFIGS:
            raise BadInput(subject, f"unknown config media type {config.media_type!r} (not a container image)")
        layers = [Descriptor.from_json(l, f"{subject} layer {i}") for i, l in enumerate(f.objs("layers"))]
        for i, l in enumerate(layers):
            if l.media_type not in mt.LAYERS:
                raise BadInput(subject, f"layer {i} has unknown media type {l.media_type!r}")
        extra: dict[str, Any] = {}
        subject_f = f.obj("subject")
        if subject_f is not None:
            Descriptor.from_json(subject_f, f"{subject} subject")  # checked; kept as written
            extra["subject"] = subject_f.doc
        if f.has("artifactType"):
            extra["artifactType"] = f.str("artifactType")
        return cls(media_type, config, layers, f.str_map("annotations"), raw, extra)

    @property
    def format(self) -> str:
        return mt.manifest_format(self.media_type)

    def to_json(self) -> dict:
        d: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        d.update({k: v for k, v in self.extra.items() if k == "artifactType"})
        d["config"] = self.config.to_json()
        d["layers"] = [l.to_json() for l in self.layers]
        if "subject" in self.extra:
            d["subject"] = self.extra["subject"]
        if self.annotations:
            d["annotations"] = dict(sorted(self.annotations.items()))
        return d

    def serialize(self) -> bytes:
        """The bytes to write: the original bytes when unchanged, else canonical JSON."""
        return self.raw if self.raw is not None else canonical_json(self.to_json())

    @property
    def digest(self) -> str:
        return sha256_bytes(self.serialize())


@dataclass
class Index:
    media_type: str
    manifests: list[Descriptor]
    annotations: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    @classmethod
    def parse(cls, raw: bytes, subject: str, media_type_hint: str | None = None,
              limit: int = MAX_MANIFEST) -> "Index":
        """``limit``: the size bound (an OCI layout's index.json may list many tags: larger)."""
        f = _load_json(raw, subject, limit)
        media_type = f.str("mediaType") or media_type_hint or (mt.OCI_INDEX if f.has("manifests") else "")
        if media_type not in mt.INDEXES:
            raise BadInput(subject, f"unknown index media type {media_type!r}")
        if f.list("manifests") is None:
            raise BadInput(subject, "index has no manifest list")
        ms = [Descriptor.from_json(m, f"{subject} manifest {i}") for i, m in enumerate(f.objs("manifests"))]
        return cls(media_type, ms, f.str_map("annotations"), raw)

    def select(self, platform: Platform | None, subject: str) -> Descriptor:
        """The image manifest for ``platform`` (default: the host's)."""
        want = platform or Platform.host()
        images = [m for m in self.manifests if m.media_type in mt.MANIFESTS | mt.INDEXES]
        # attestation manifests (buildx) carry platform unknown/unknown
        cands = [m for m in images if m.platform and want.matches(m.platform)]
        if not cands:
            if platform is None and len(images) == 1 and images[0].platform is None:
                return images[0]
            have = ", ".join(str(m.platform) for m in images if m.platform) or "none declared"
            raise NotFound(subject, f"no image for platform {want} (index has: {have})")
        if want.variant:  # prefer the exact variant over a variant-less entry
            exact = [m for m in cands if m.platform and m.platform.variant == want.variant]
            cands = exact or cands
        return cands[0]


# ------------------------------------------------------------------ config


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    author: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_json(cls, d: "dict | Fields") -> "HistoryEntry":
        f = d if isinstance(d, Fields) else Fields(d, None, "history entry")
        return cls(f.opt_str("created"), f.opt_str("created_by"), f.opt_str("comment"), f.opt_str("author"),
                   f.bool("empty_layer"))

    def to_json(self) -> dict:
        d: dict[str, Any] = {}
        for k in ("created", "created_by", "author", "comment"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.empty_layer:
            d["empty_layer"] = True
        return d

    @property
    def instruction(self) -> str:
        """The Dockerfile-ish instruction, with builder noise stripped."""
        from imgopt.dockerfile.created_by import instruction_text

        return instruction_text(self.created_by)

def _str_slice(v: Any) -> list[str]:
    """Entrypoint / Cmd: a list of strings, or one string (Docker's StrSlice accepts both)."""
    if isinstance(v, str):
        return [v]
    return list(v or [])


def check_config(f: Fields) -> None:
    """Type-check the fields of an image config that imgopt reads (see the OCI image spec's
    config.md); a wrong type is a one-line error naming the field.  Unknown fields stay."""
    for key in ("architecture", "os", "variant", "created", "author", "os.version"):
        f.str(key)
    f.str_list("os.features")
    c = f.obj("config")
    if c is not None:
        c.str_list("Entrypoint", allow_string=True)
        c.str_list("Cmd", allow_string=True)
        c.str_list("Env")
        c.str_list("Shell")
        for key in ("WorkingDir", "User", "StopSignal"):
            c.str(key)
        c.keys_of("ExposedPorts")
        c.keys_of("Volumes")
        c.str_map("Labels")
        c.bool("ArgsEscaped")
    rootfs = f.obj("rootfs")
    if rootfs is not None:
        rootfs.str("type")
        for i, d in enumerate(rootfs.str_list("diff_ids")):
            parse_digest(d, f.subject)
    for h in f.objs("history"):
        HistoryEntry.from_json(h)


@dataclass
class ImageConfig:
    """The image configuration (OCI config / Docker image JSON), unknown fields kept."""

    raw: dict

    @classmethod
    def parse(cls, data: bytes, subject: str) -> "ImageConfig":
        f = _load_json(data, subject, MAX_CONFIG)
        rootfs = f.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
            raise BadInput(subject, "config has no rootfs.diff_ids (not a container image config)")
        check_config(f)
        return cls(f.doc)

    def _c(self) -> dict:
        c = self.raw.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def architecture(self) -> str:
        return self.raw.get("architecture", "")

    @property
    def os(self) -> str:
        return self.raw.get("os", "")

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.raw.get("variant"))

    @property
    def entrypoint(self) -> list[str]:
        return _str_slice(self._c().get("Entrypoint"))

    @property
    def cmd(self) -> list[str]:
        return _str_slice(self._c().get("Cmd"))

    @property
    def env(self) -> list[str]:
        return list(self._c().get("Env") or [])

    @property
    def env_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.env:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    @property
    def workdir(self) -> str:
        return self._c().get("WorkingDir") or ""

    @property
    def user(self) -> str:
        return self._c().get("User") or ""

    @property
    def exposed_ports(self) -> list[str]:
        return sorted((self._c().get("ExposedPorts") or {}).keys())

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._c().get("Labels") or {})

    @property
    def stop_signal(self) -> str:
        return self._c().get("StopSignal") or ""

    @property
    def diff_ids(self) -> list[str]:
        return list(self.raw["rootfs"]["diff_ids"])

    @property
    def history(self) -> list[HistoryEntry]:
        return [HistoryEntry.from_json(h) for h in self.raw.get("history") or [] if isinstance(h, dict)]

    def validate(self, subject: str) -> "ImageConfig":
        """Check every field imgopt reads (a config built in code, not parsed)."""
        check_config(Fields(self.raw, subject))
        return self

    def layer_history(self, n_layers: int) -> list[HistoryEntry | None]:
        """History entries aligned with the layers (empty_layer entries skipped)."""
        real = [h for h in self.history if not h.empty_layer]
        if len(real) != n_layers:
            # inconsistent history (squashed or hand-made image): align from the top
            pad: list[HistoryEntry | None] = [None] * max(0, n_layers - len(real))
            return (pad + list(real))[-n_layers:] if n_layers else []
        return list(real)

    def serialize(self) -> bytes:
        return canonical_json(self.raw)


# ------------------------------------------------------------------ layers

Opener = Callable[[], BinaryIO]


class Layer:
    """One layer: a compressed blob (``descriptor``) whose tar hashes to ``diff_id``.

    ``opener`` returns the raw blob bytes; this class adds verification and
    decompression.  Layers are immutable; sources create them, sinks read them.
    """

    def __init__(self, descriptor: Descriptor, diff_id: str, opener: Opener, subject: str,
                 compression: Compression | None = None, uncompressed_size: int | None = None):
        self.descriptor = descriptor
        self.diff_id = diff_id
        self._opener = opener
        self.subject = subject
        self._compression = compression
        self.uncompressed_size = uncompressed_size
        # (file, offset, size) when the blob lies on local disk, else None
        self.local: tuple[str, int, int] | None = None
        # stored in a docker archive as a link to an identical layer's tar
        self.archive_link = False
        # every byte read and checked in this process (blob digest, diffID, tar headers), or
        # made by imgopt itself: sinks copy it without checking again (imgopt.image.verify_write)
        self.verified = False

    def __repr__(self) -> str:
        return f"Layer({self.descriptor.digest[:19]}, {self.descriptor.size} B, {self._compression})"

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size

    @property
    def compression(self) -> Compression:
        """The codec, sniffed from the blob's first bytes (opens the blob once)."""
        if self._compression is None:
            with self._opener() as f:
                self._compression = sniff(PeekReader(f).peek(4))
        return self._compression

    def open_blob(self) -> VerifyingReader:
        """The compressed blob, verified against descriptor digest and size."""
        return VerifyingReader(self._opener(), self.descriptor.digest, self.descriptor.size, self.subject)

    def open_seekable_tar(self) -> BinaryIO | None:
        """The layer tar as a seekable file, when stored uncompressed on local disk.

        Reading it this way is NOT verified: call :meth:`verify` as well
        (analysis does it in a parallel thread).
        """
        if self.compression is not Compression.NONE:
            return None
        f = self._opener()
        if getattr(f, "seekable", lambda: False)():
            return f
        f.close()
        return None

    def verify(self, pool: Any = None) -> Any:
        """Read the whole blob and check its digest (and the diffID).

        With a process ``pool`` and a blob on local disk, the hashing runs in
        another process (no GIL) and a future is returned; ``.result()``
        raises :class:`DigestMismatch`.
        """
        if self.compression is Compression.NONE and self.descriptor.digest != self.diff_id:
            raise DigestMismatch(self.subject, f"uncompressed layer's digest {self.descriptor.digest} is not "
                                               f"its diffID {self.diff_id}")
        if pool is not None and self.local is not None:
            return pool.submit(verify_file_range, *self.local, self.descriptor.digest, self.descriptor.size,
                               self.subject)
        blob = self.open_blob()
        try:
            blob.drain()
        finally:
            blob.close()
        return None

    def open_tar(self) -> "UncompressedStream":
        """The uncompressed tar stream, verified against the diffID at EOF.

        The blob digest is verified too, unless the blob is uncompressed and
        its digest is the diffID (then one check covers both).  Call
        :meth:`UncompressedStream.verify` after reading to check what a tar reader
        left unread (end-of-archive padding).
        """
        blob = self.open_blob()
        codec, raw = open_decompressed(blob, self.subject)
        self._compression = codec
        if not (codec is Compression.NONE and self.descriptor.digest == self.diff_id):
            raw = VerifyingReader(raw, self.diff_id, self.uncompressed_size, f"{self.subject} (uncompressed)")
        return UncompressedStream(raw, blob)


def verify_file_range(path: str, offset: int, size: int, digest: str, expected_size: int, subject: str) -> None:
    """Hash ``size`` bytes of ``path`` at ``offset`` (runs in a worker process)."""
    import hashlib

    if size != expected_size:
        raise DigestMismatch(subject, f"blob is {size} bytes, descriptor says {expected_size}")
    alg = digest.split(":", 1)[0]
    h = hashlib.new(alg)
    buf = bytearray(8 << 20)
    left = size
    with open(path, "rb") as f:
        f.seek(offset)
        while left > 0:
            n = f.readinto(memoryview(buf)[: min(left, len(buf))])
            if not n:
                raise DigestMismatch(subject, "blob is truncated on disk")
            h.update(memoryview(buf)[:n])
            left -= n
    got = f"{alg}:{h.hexdigest()}"
    if got != digest:
        raise DigestMismatch(subject, f"digest mismatch: content hashes to {got}, expected {digest}")


class UncompressedStream(io.BufferedReader):
    """Buffered uncompressed layer stream; :meth:`verify` checks the digests."""

    def __init__(self, raw: Any, blob: VerifyingReader):
        super().__init__(raw, CHUNK)
        self._blob = blob
        self._counter = raw if isinstance(raw, VerifyingReader) else blob

    def _blame(self, err: BadInput) -> None:
        """A decode error on a blob that does not match its digest is a digest error."""
        if isinstance(err, DigestMismatch):
            raise err
        try:
            self._blob.drain()
        except DigestMismatch as dm:
            raise dm from None
        except BadInput:
            pass
        raise err

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        try:
            return super().read(n)
        except BadInput as e:
            self._blame(e)
            raise

    def readinto(self, b) -> int:  # type: ignore[override]
        try:
            return super().readinto(b)
        except BadInput as e:
            self._blame(e)
            raise

    def read1(self, n: int = -1) -> bytes:  # type: ignore[override]
        try:
            return super().read1(n)
        except BadInput as e:
            self._blame(e)
            raise

    @property
    def uncompressed_bytes(self) -> int:
        """Uncompressed bytes pulled from the layer so far (all, after verify())."""
        return self._counter.bytes_read

    def verify(self) -> int:
        """Read the rest and verify; returns the bytes that were left."""
        left = 0
        while True:
            b = self.read(CHUNK)
            if not b:
                break
            left += len(b)
        self._blob.drain()
        return left


# ------------------------------------------------------------------- image


@dataclass
class Image:
    """A single-platform container image."""

    manifest: Manifest
    config: ImageConfig
    config_blob: bytes
    layers: list[Layer]
    name: str = ""  # what the user called it, for messages
    repo_tags: list[str] = field(default_factory=list)
    index: Index | None = None  # the index it was selected from, if any
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        n, m = len(self.layers), len(self.config.diff_ids)
        if n != m:
            raise BadInput(self.name, f"manifest lists {n} layers but config has {m} diff_ids")

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def config_digest(self) -> str:
        return sha256_bytes(self.config_blob)

    @property
    def image_id(self) -> str:
        """What `docker images` shows: the config digest."""
        return self.config_digest

    def layer_history(self) -> list[HistoryEntry | None]:
        return self.config.layer_history(len(self.layers))

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_image(name: str, manifest_raw: bytes, config_raw: bytes, blob_opener: Callable[[Descriptor], BinaryIO],
                media_type_hint: str | None = None, repo_tags: list[str] | None = None,
                index: Index | None = None, verify_config_digest: bool = True) -> Image:
    """Assemble an Image from a manifest, its config bytes and a blob opener."""
    man = Manifest.parse(manifest_raw, f"{name} manifest", media_type_hint)
    if verify_config_digest and sha256_bytes(config_raw) != man.config.digest:
        raise BadInput(name, f"config blob does not match its digest {man.config.digest}")
    cfg = ImageConfig.parse(config_raw, f"{name} config")
    diff_ids = cfg.diff_ids
    if len(diff_ids) != len(man.layers):
        raise BadInput(name, f"manifest lists {len(man.layers)} layers but config has {len(diff_ids)} diff_ids")
    layers = []
    for i, (d, diff) in enumerate(zip(man.layers, diff_ids)):
        layers.append(Layer(d, diff, (lambda d=d: blob_opener(d)), f"{name} layer {i} ({d.digest[:19]})"))
    return Image(man, cfg, config_raw, layers, name, list(repo_tags or []), index)


def file_opener(path: str | os.PathLike) -> Opener:
    return lambda: open(path, "rb")


__all__ = [
    "Platform", "Descriptor", "Manifest", "Index", "ImageConfig", "HistoryEntry", "Layer", "Image",
    "UncompressedStream", "build_image", "descriptor_for", "canonical_json", "file_opener",
]
