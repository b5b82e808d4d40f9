"""``imgopt scan`` as text: the fleet's headline numbers, then the images to fix first."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.formats.cells import pct, short
from imgopt.progress import human
from imgopt.scan.result import ScanResult


def headline(r: ScanResult) -> list[tuple[str, str]]:
    f = r.fleet
    return [
        ("Images", f"{f.images_ok} analysed" + (f", {f.images_failed} failed" if f.images_failed else "")
         + f" in {f.repositories} repositories"),
        ("Stored vs unique", f"{human(f.stored_bytes)} pulled as images, {human(f.unique_bytes)} in "
                             f"{f.distinct_layers} distinct layers (deduplication {f.dedup_ratio:.2f}x)"),
        ("Removable", f"{human(f.removable_bytes)} across images (safe junk + exact waste)"),
    ]


def render(r: ScanResult, options: RenderOptions) -> str:
    out = [f"{k}: {v}" for k, v in headline(r)]
    s = r.stats
    out.append(f"Work: {s.layers_read} layers read ({human(s.blob_bytes_read)}), {s.layers_cached} from the cache, "
               f"{s.images_merged} images merged, {s.images_cached} from the cache, {s.seconds:.1f} s on {s.engine}")
    if r.partial:
        out.append("PARTIAL: some repositories or images failed (listed below)")
    f = r.fleet
    if f.junk:
        out += ["", "Junk by class (bytes in images / stored once in layers):"]
        rows = [[j.id, j.images, human(j.bytes_in_images), human(j.bytes_in_layers)] for j in f.junk[:15]]
        out.append(tabulate(rows, headers=["class", "images", "in images", "in layers"], disable_numparse=True))
    byref = {i.reference: i for i in r.images}
    if f.top_removable:
        out += ["", "Images by removable bytes:"]
        rows = [[short(x.reference, 70), human(x.value), pct(int(x.value), byref[x.reference].uncompressed_bytes)]
                for x in f.top_removable]
        out.append(tabulate(rows, headers=["image", "removable", "of its size"], disable_numparse=True))
    if f.top_cold_start:
        out += ["", "Images by simulated cold start (slowest registry profile):"]
        rows = [[short(x.reference, 70), f"{x.value:.2f} s"] for x in f.top_cold_start]
        out.append(tabulate(rows, headers=["image", "cold start"], disable_numparse=True))
    layers = {l.diff_id: l for l in r.layers}
    if f.most_shared_layers:
        out += ["", "Most shared layers:"]
        rows = [[layers[d].images, human(layers[d].compressed_bytes), d[:19], short(layers[d].created_by, 50)]
                for d in f.most_shared_layers]
        out.append(tabulate(rows, headers=["images", "bytes", "diffID", "made by"], disable_numparse=True))
    failures = r.failures()
    if failures:
        out += ["", "Failed:"]
        out += [f"  {what}: {why}" for what, why in failures]
    return "\n".join(out) + "\n"
