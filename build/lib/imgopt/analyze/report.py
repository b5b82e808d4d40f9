"""Formatters for an AnalysisResult: one-screen text and Markdown (JSON is to_json)."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.analyze.result import AnalysisResult
from imgopt.progress import human


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _short(text: str | None, n: int = 60) -> str:
    t = " ".join((text or "-").split())
    return t if len(t) <= n else t[: n - 1] + "…"


def headline(r: AnalysisResult) -> list[tuple[str, str]]:
    s = r.summary
    top_junk = sorted((c for c in r.junk if c.safe_to_remove and c.bytes), key=lambda c: -c.bytes)[:3]
    junk_detail = ", ".join(f"{c.title.lower()} {human(c.bytes)}" for c in top_junk)
    reasons = ", ".join(f"{k} {human(v)}" for k, v in sorted(r.waste.by_reason.items(), key=lambda x: -x[1]) if v)
    return [
        ("Total size", f"{human(s.uncompressed_bytes)} uncompressed, {human(s.compressed_bytes)} compressed, "
                       f"{r.image.layers} layers, {s.final_files:,} paths"),
        ("Removable junk", f"{human(s.removable_junk_bytes)} ({_pct(s.removable_junk_bytes, s.final_bytes)} of the "
                           f"final filesystem)" + (f": {junk_detail}" if junk_detail else "")),
        ("Exact waste", f"{human(s.exact_waste_bytes)} ({_pct(s.exact_waste_bytes, s.stored_file_bytes)} of stored "
                        f"bytes) hidden by upper layers" + (f": {reasons}" if reasons else "")),
    ]


def format_text(r: AnalysisResult) -> str:
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
                     human(l.junk_bytes) if l.junk_bytes else "", src + _short(l.instruction)])
    out.append(tabulate(rows, headers=["#", "compressed", "size", "files +/~/-", "hidden later", "junk", "made by"],
                        tablefmt="simple", disable_numparse=True))
    junk = [c for c in r.junk if c.bytes or c.files]
    if junk:
        out += ["", "Junk"]
        rows = [[c.id, "yes" if c.safe_to_remove else "review", human(c.bytes), c.files,
                 ",".join(c.layers), _short(c.examples[0].path if c.examples else "", 50)] for c in
                sorted(junk, key=lambda c: -c.bytes)]
        out.append(tabulate(rows, headers=["class", "safe", "bytes", "files", "layers", "largest"],
                            tablefmt="simple", disable_numparse=True))
    if r.waste.top:
        out += ["", "Hidden by upper layers (largest)"]
        rows = [[human(h.size), h.reason, f"{h.layer}→{h.hidden_by}", _short(h.path, 70)] for h in r.waste.top[:10]]
        out.append(tabulate(rows, headers=["bytes", "why", "layers", "path"], tablefmt="simple", disable_numparse=True))
    if r.largest:
        out += ["", "Largest files"]
        rows = [[human(f.size), f.layer, f.junk_class or "", _short(f.path, 70)] for f in r.largest[:10]]
        out.append(tabulate(rows, headers=["bytes", "layer", "junk", "path"], tablefmt="simple", disable_numparse=True))
    if r.duplicates.groups:
        out += ["", "Duplicate content (largest)"]
        rows = [[human(g.size), len(g.copies), _short(", ".join(c.path for c in g.copies[:3]), 80)]
                for g in r.duplicates.groups[:5]]
        out.append(tabulate(rows, headers=["size", "copies", "paths"], tablefmt="simple", disable_numparse=True))
    for path, events in r.paths.items():
        out += ["", f"History of {path}"]
        if not events:
            out.append("  never stored in any layer")
        for ev in events:
            out.append(f"  layer {ev.layer}: {ev.action}" + (f", {human(ev.size)}" if ev.size else "")
                       + f"  ({_short(ev.instruction, 60)})")
    if r.problems:
        out += ["", f"Problems ({len(r.problems)})"]
        out += [f"  layer {p.layer}: {p.path}: {p.problem}" for p in r.problems[:10]]
    return "\n".join(out)


def format_markdown(r: AnalysisResult) -> str:
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
             (f"line {l.dockerfile.line}: " if l.dockerfile else "") + _short(l.instruction, 80).replace("|", "\\|")]
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
