"""``imgopt analyze --format markdown``: the headline and the layer, junk and largest-file tables."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.analyze.result import AnalysisResult
from imgopt.formats import RenderOptions
from imgopt.formats.cells import short
from imgopt.formats.text.analysis import headline
from imgopt.progress import human


def render(r: AnalysisResult, options: RenderOptions) -> str:
    s = r.summary
    out = [f"# imgopt analyze: `{r.image.reference}`", "",
           f"Manifest `{r.image.manifest_digest}`, {r.image.platform}.", ""]
    out.append("| | |\n|---|---|")
    for k, v in headline(r):
        out.append(f"| **{k}** | {v} |")
    out.append(f"| Needs review | {human(s.possibly_removable_bytes)} |")
    out.append(f"| Duplicates | {human(s.duplicate_bytes)} |")
    out.append(f"| Entrypoint needs | {human(r.entrypoint.bytes)} in {len(r.entrypoint.files)} files "
               f"(`{r.entrypoint.executable}`) |")
    out.append(f"| dive-compatible | efficiency {100 * r.waste.dive_efficiency:.2f} %, wasted "
               f"{human(r.waste.dive_wasted_bytes)} |")
    out += ["", "## Layers", ""]
    rows = [[l.index, human(l.compressed_bytes), human(l.uncompressed_bytes), f"+{l.added} ~{l.modified} -{l.removed}",
             human(l.hidden_later_bytes), human(l.junk_bytes),
             (f"line {l.dockerfile.line}: " if l.dockerfile else "") + short(l.instruction, 80).replace("|", "\\|")]
            for l in r.layers]
    out.append(tabulate(rows, headers=["#", "compressed", "size", "files", "hidden later", "junk", "made by"],
                        tablefmt="github", disable_numparse=True))
    out += ["", "## Junk", ""]
    rows = [[c.title, "yes" if c.safe_to_remove else "review", human(c.bytes), c.files,
             ", ".join(f"`{e.path}`" for e in c.examples[:2])] for c in sorted(r.junk, key=lambda c: -c.bytes) if c.files]
    out.append(tabulate(rows, headers=["class", "safe", "bytes", "files", "examples"], tablefmt="github",
                        disable_numparse=True))
    out += ["", "## Largest files", ""]
    rows = [[human(f.size), f.layer, f.junk_class or "", f"`{f.path}`"] for f in r.largest]
    out.append(tabulate(rows, headers=["bytes", "layer", "junk", "path"], tablefmt="github", disable_numparse=True))
    return "\n".join(out) + "\n"
