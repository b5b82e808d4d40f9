"""``imgopt scan --format markdown``: fleet totals, then tables of images, shared layers and junk."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.formats.cells import short
from imgopt.formats.text.scan import headline
from imgopt.progress import human
from imgopt.scan.result import ScanResult


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render(r: ScanResult, options: RenderOptions) -> str:
    f = r.fleet
    out = ["# imgopt scan", "", f"Sources: {', '.join(f'`{s}`' for s in r.sources)}"
           + (f", shard {r.shard}" if r.shard else "") + ".", ""]
    if r.partial:
        out += ["**Partial result**: some repositories or images failed (see the end).", ""]
    out.append("| | |\n|---|---|")
    for k, v in headline(r):
        out.append(f"| **{k}** | {v} |")
    out.append(f"| Exact waste | {human(f.exact_waste_bytes)} |")
    out.append(f"| Uncompressed | {human(f.uncompressed_stored_bytes)} in images, "
               f"{human(f.uncompressed_unique_bytes)} distinct |")
    out += ["", "## Images to fix first", ""]
    byref = {i.reference: i for i in r.images}
    rows = []
    for x in f.top_removable:
        i = byref[x.reference]
        cold = ", ".join(f"{c.registry} {c.total_s:.2f} s" for c in i.cold_start) or "-"
        rows.append([f"`{_md(i.reference)}`", human(i.compressed_bytes), human(i.removable_junk_bytes),
                     human(i.exact_waste_bytes), f"{i.shared_layers}/{len(i.layers)}", cold])
    out.append(tabulate(rows, headers=["image", "compressed", "safe junk", "exact waste", "shared layers",
                                       "cold start"], tablefmt="github", disable_numparse=True))
    if f.top_cold_start:
        out += ["", "## Slowest cold starts (simulated)", ""]
        rows = [[f"`{_md(x.reference)}`", f"{x.value:.2f} s"] for x in f.top_cold_start]
        out.append(tabulate(rows, headers=["image", "slowest profile"], tablefmt="github", disable_numparse=True))
    layers = {l.diff_id: l for l in r.layers}
    if f.most_shared_layers:
        out += ["", "## Most shared layers", ""]
        rows = [[layers[d].images, layers[d].repositories, human(layers[d].compressed_bytes), f"`{d[:19]}`",
                 _md(short(layers[d].created_by, 70))] for d in f.most_shared_layers]
        out.append(tabulate(rows, headers=["images", "repositories", "compressed", "diffID", "made by"],
                            tablefmt="github", disable_numparse=True))
    if f.junk:
        out += ["", "## Junk across the fleet", ""]
        rows = [[j.id, j.images, human(j.bytes_in_images), human(j.bytes_in_layers)] for j in f.junk]
        out.append(tabulate(rows, headers=["class", "images", "in images", "stored once"], tablefmt="github",
                            disable_numparse=True))
    failures = r.failures()
    if failures:
        out += ["", "## Failed", ""]
        out += [f"- `{_md(what)}`: {_md(why)}" for what, why in failures]
    s = r.stats
    out += ["", f"_{s.layers_read} layers read ({human(s.blob_bytes_read)}), {s.layers_cached} from the cache, "
                f"{s.images_merged} images merged, {s.images_cached} from the cache; {s.seconds:.1f} s on "
                f"{s.engine}._"]
    return "\n".join(out) + "\n"
