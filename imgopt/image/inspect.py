"""``imgopt inspect``: what an image is made of, without unpacking it.

:func:`inspect_image` returns an :class:`InspectResult`, the
``imgopt.inspect/v1`` document (schema: docs/schema/inspect.schema.json);
the text form is :mod:`imgopt.formats.text.inspection`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from imgopt.image.model import Image

SCHEMA = "imgopt.inspect/v1"


@dataclass
class InspectOptions:
    deep: bool = False  # read every layer: verify digests, count files, measure uncompressed sizes
    progress: Callable[[int, int], None] | None = None  # called with the bytes of each layer read (deep)


@dataclass
class LayerInfo:
    index: int
    digest: str
    diff_id: str
    media_type: str
    compression: str
    size: int  # compressed (blob) bytes
    uncompressed_size: int | None  # None unless known (stored uncompressed, or --deep)
    entries: int | None
    created_by: str | None
    instruction: str | None


@dataclass
class InspectResult:
    schema: str
    reference: str
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    config_digest: str
    platform: str
    created: str | None
    entrypoint: list[str]
    cmd: list[str]
    env: list[str]
    workdir: str
    user: str
    exposed_ports: list[str]
    labels: dict[str, str]
    repo_tags: list[str]
    layers: list[LayerInfo]
    history: list[dict] = field(default_factory=list)
    total_size: int = 0
    total_uncompressed_size: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def inspect_image(image: Image, deep: bool = False, progress=None) -> InspectResult:
    layers = []
    hist = image.layer_history()
    for i, (l, h) in enumerate(zip(image.layers, hist)):
        codec = l.compression
        unc = l.size if codec.value == "none" else l.uncompressed_size
        entries = None
        if deep:
            unc, entries = _measure(l, progress)
        layers.append(LayerInfo(i, l.digest, l.diff_id, l.descriptor.media_type, codec.value, l.size, unc, entries,
                                h.created_by if h else None, h.instruction if h else None))
    total_unc = sum(x.uncompressed_size for x in layers) if all(x.uncompressed_size is not None for x in layers) else None
    cfg = image.config
    return InspectResult(
        schema=SCHEMA, reference=image.name, manifest_digest=image.manifest.digest,
        manifest_media_type=image.manifest.media_type, manifest_size=len(image.manifest.serialize()),
        config_digest=image.config_digest, platform=str(cfg.platform), created=cfg.raw.get("created"),
        entrypoint=cfg.entrypoint, cmd=cfg.cmd, env=cfg.env, workdir=cfg.workdir, user=cfg.user,
        exposed_ports=cfg.exposed_ports, labels=cfg.labels, repo_tags=image.repo_tags, layers=layers,
        history=[h.to_json() for h in cfg.history], total_size=sum(l.size for l in image.layers),
        total_uncompressed_size=total_unc,
    )


def _measure(layer, progress) -> tuple[int, int]:
    from imgopt.image.tarstream import iter_tar
    from imgopt.image.verify_write import remember

    n = 0
    stream = layer.open_tar()
    try:
        for _ in iter_tar(stream, layer.subject):
            n += 1
        stream.verify()
        size = stream.uncompressed_bytes
        remember(layer)  # read end to end, every check passed: a copy need not decompress it again
    finally:
        stream.close()
    if progress:
        progress(layer.size, 0)
    return size, n


__all__ = ["InspectOptions", "InspectResult", "LayerInfo", "inspect_image", "SCHEMA"]
