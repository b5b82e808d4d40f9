"""``imgopt scan --format html``: the fleet on one self-contained page (template: scan.html.j2)."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.formats.html import environment
from imgopt.formats.text.scan import headline
from imgopt.scan.result import ScanResult


def render(r: ScanResult, options: RenderOptions) -> str:
    layers = {l.diff_id: l for l in r.layers}
    ok = [i for i in r.images if i.status == "ok"]
    widest = max((i.compressed_bytes for i in ok), default=0)
    return environment().get_template("scan.html.j2").render(
        r=r, f=r.fleet, headline=headline(r), ok=ok, failures=r.failures(),
        shared=[layers[d] for d in r.fleet.most_shared_layers], widest=widest,
        biggest_junk=max((j.bytes_in_images for j in r.fleet.junk), default=0))
