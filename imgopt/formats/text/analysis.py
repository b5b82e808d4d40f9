"""``imgopt analyze`` as one screen of text: the three numbers to act on, then the tables."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.analyze.result import AnalysisResult
from imgopt.formats import RenderOptions
from imgopt.formats.cells import pct, short
from imgopt.progress import human


def headline(r: AnalysisResult) -> list[tuple[str, str]]:
    s = r.summary
    top_junk = sorted((c for c in r.junk if c.safe_to_remove and c.bytes), key=lambda c: -c.bytes)[:3]
    junk_detail = ", ".join(f"{c.title.lower()} {human(c.bytes)}" for c in top_junk)
    reasons = ", ".join(f"{k} {human(v)}" for k, v in sorted(r.waste.by_reason.items(), key=lambda x: -x[1]) if v)
    return [
        ("Total size", f"{human(s.uncompressed_bytes)} uncompressed, {human(s.compressed_bytes)} compressed, "
                       f"{r.image.layers} layers, {s.final_files:,} paths"),
        ("Removable junk", f"{human(s.removable_junk_bytes)} ({pct(s.removable_junk_bytes, s.final_bytes)} of the "
                           f"final filesystem)" + (f": {junk_detail}" if junk_detail else "")),
        ("Exact waste", f"{human(s.exact_waste_bytes)} ({pct(s.exact_waste_bytes, s.stored_file_bytes)} of stored "
                        f"bytes) hidden by upper layers" + (f": {reasons}" if reasons else "")),
    ]


def render(r: AnalysisResult, options: RenderOptions) -> str:
    s = r.summary
    out = [f"imgopt analyze  {r.image.reference}", f"  {r.image.manifest_digest}  {r.image.platform}", ""]
    for k, v in headline(r):
        out.append(f"  {k:<18}{v}")
    out.append(f"  {'Needs review':<18}{human(s.possibly_removable_bytes)} (toolchains, test suites: not marked safe)")
    out.append(f"  {'Duplicates':<18}{human(s.duplicate_bytes)} in identical files at different paths")
    ep = r.entrypoint
    ep_line = f"{human(ep.bytes)} in {len(ep.files)} files statically ({ep.executable or 'not found'})"
    if ep.missing:
        ep_line += f"; MISSING: {', '.join(m.name for m in ep.missing[:5])}"
    out.append(f"  {'Entrypoint needs':<18}{ep_line}")
    uwr = r.waste.dive_user_wasted_ratio
    out.append(f"  {'dive-compatible':<18}efficiency {100 * r.waste.dive_efficiency:.4f} %, wasted "
               f"{human(r.waste.dive_wasted_bytes)}, user wasted "
               f"{f'{100 * uwr:.4f} %' if uwr is not None else 'n/a'}")
    out.append("")
    rows = []
    for l in r.layers:
        src = f"L{l.dockerfile.line}: " if l.dockerfile else ""
        rows.append([l.index, human(l.compressed_bytes), human(l.uncompressed_bytes), f"+{l.added} ~{l.modified} -{l.removed}",
                     human(l.hidden_later_bytes) if l.hidden_later_bytes else "",
                     human(l.junk_bytes) if l.junk_bytes else "", src + short(l.instruction)])
    out.append(tabulate(rows, headers=["#", "compressed", "size", "files +/~/-", "hidden later", "junk", "made by"],
                        tablefmt="simple", disable_numparse=True))
    junk = [c for c in r.junk if c.bytes or c.files]
    if junk:
        out += ["", "Junk"]
        rows = [[c.id, "yes" if c.safe_to_remove else "review", human(c.bytes), c.files,
                 ",".join(c.layers), short(c.examples[0].path if c.examples else "", 50)] for c in
                sorted(junk, key=lambda c: -c.bytes)]
        out.append(tabulate(rows, headers=["class", "safe", "bytes", "files", "layers", "largest"],
                            tablefmt="simple", disable_numparse=True))
    if r.waste.top:
        out += ["", "Hidden by upper layers (largest)"]
        rows = [[human(h.size), h.reason, f"{h.layer}→{h.hidden_by}", short(h.path, 70)] for h in r.waste.top[:10]]
        out.append(tabulate(rows, headers=["bytes", "why", "layers", "path"], tablefmt="simple", disable_numparse=True))
    if r.largest:
        out += ["", "Largest files"]
        rows = [[human(f.size), f.layer, f.junk_class or "", short(f.path, 70)] for f in r.largest[:10]]
        out.append(tabulate(rows, headers=["bytes", "layer", "junk", "path"], tablefmt="simple", disable_numparse=True))
    if r.duplicates.groups:
        out += ["", "Duplicate content (largest)"]
        rows = [[human(g.size), len(g.copies), short(", ".join(c.path for c in g.copies[:3]), 80)]
                for g in r.duplicates.groups[:5]]
        out.append(tabulate(rows, headers=["size", "copies", "paths"], tablefmt="simple", disable_numparse=True))
    for path, events in r.paths.items():
        out += ["", f"History of {path}"]
        if not events:
            out.append("  never stored in any layer")
        for ev in events:
            out.append(f"  layer {ev.layer}: {ev.action}" + (f", {human(ev.size)}" if ev.size else "")
                       + f"  ({short(ev.instruction, 60)})")
    if r.problems:
        out += ["", f"Problems ({len(r.problems)})"]
        out += [f"  layer {p.layer}: {p.path}: {p.problem}" for p in r.problems[:10]]
    return "\n".join(out)
