"""``imgopt inspect``: what an image is made of, without unpacking it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from tabulate import tabulate

from imgopt.image.model import Image
from imgopt.progress import human

SCHEMA = "imgopt.inspect/v1"


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


def format_text(r: InspectResult) -> str:
    def js(v) -> str:
        return json.dumps(v) if v else "-"

    lines = [
        f"Image        {r.reference}",
        f"Manifest     {r.manifest_digest}  ({r.manifest_media_type}, {r.manifest_size} B)",
        f"Config       {r.config_digest}",
        f"Platform     {r.platform}",
        f"Created      {r.created or '-'}",
    ]
    if r.repo_tags:
        lines.append(f"Tags         {', '.join(r.repo_tags)}")
    lines += [
        f"Entrypoint   {js(r.entrypoint)}",
        f"Cmd          {js(r.cmd)}",
        f"WorkingDir   {r.workdir or '/'}",
        f"User         {r.user or '(root)'}",
        f"Ports        {', '.join(r.exposed_ports) or '-'}",
    ]
    for i, e in enumerate(r.env):
        lines.append(("Env          " if i == 0 else "             ") + e)
    for k, v in sorted(r.labels.items()):
        lines.append(f"Label        {k}={v}")
    total_unc = human(r.total_uncompressed_size) if r.total_uncompressed_size is not None else "? (use --deep)"
    lines.append(f"Size         {human(r.total_size)} compressed, {total_unc} uncompressed, {len(r.layers)} layers")
    lines.append("")
    rows = []
    for l in r.layers:
        instr = (l.instruction or "-").replace("\n", " ")
        if len(instr) > 70:
            instr = instr[:67] + "..."
        rows.append([l.index, l.digest[7:19], l.compression, human(l.size),
                     human(l.uncompressed_size) if l.uncompressed_size is not None else "?",
                     l.entries if l.entries is not None else "", instr])
    headers = ["#", "digest", "codec", "compressed", "uncompressed", "files" if any(l.entries for l in r.layers) else "", "created by"]
    lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    return "\n".join(lines)
