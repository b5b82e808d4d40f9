"""``imgopt inspect``: manifest, config and one row per layer."""

from __future__ import annotations

import json

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.image.inspect import InspectResult
from imgopt.progress import human


def render(r: InspectResult, options: RenderOptions) -> str:
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
