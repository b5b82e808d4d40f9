"""``imgopt report -o report.md``: the report for a pull-request comment -- the same numbers and the
same ranked recommendations as the HTML, in tables, under 64 KiB (GitHub's comment limit is 65,536
characters): long tables are cut until it fits."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.progress import human

LIMIT = 64 * 1024 - 512  # bytes, with room for a bot's header


def _cell(text) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


def _t(rows, headers, align=None) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True,
                    colalign=align if rows else None)


def _pct(part, whole) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def render(r, options: RenderOptions) -> str:
    for n in (40, 25, 15, 8, 4):
        text = _render(r, n)
        if len(text.encode()) <= LIMIT:
            return text
    return text[: LIMIT - 200].rsplit("\n", 1)[0] + "\n\n*(cut to fit a comment; the HTML report has it all)*\n"


def _render(r, n: int) -> str:
    a, s = r.analysis, r.analysis.summary
    out = [f"## imgopt report: `{r.image}`", ""]
    eager = {sc.registry: sc for sc in r.scenarios if sc.image == "original" and sc.mode == "eager"}
    rows = [["Size", f"{human(s.uncompressed_bytes)} ({human(s.compressed_bytes)} compressed, {a.image.layers} layers)"
             + (f"; slim {human(r.slim_analysis.summary.uncompressed_bytes)}" if r.slim_analysis else "")],
            ["Removable junk", f"{human(s.removable_junk_bytes)} ({_pct(s.removable_junk_bytes, s.final_bytes)} of the "
                               "final filesystem)"],
            ["Exact waste", f"{human(s.exact_waste_bytes)} ({_pct(s.exact_waste_bytes, s.stored_file_bytes)} of stored "
                            f"bytes); dive efficiency {100 * s.dive_efficiency:.1f} %"],
            ["Cold start (simulated, docker)", " / ".join(f"{reg} {sc.total_s:.2f} s" for reg, sc in eager.items())]]
    out += [_t(rows, ["", ""]), ""]
    out += ["### Recommendations", ""]
    if r.recommendations:
        rows = []
        for i, rec in enumerate(r.recommendations[:n], 1):
            secs = ", ".join(f"{v:.2f} s ({k})" for k, v in rec.seconds_saved.items()) or "-"
            rows.append([i, _cell(rec.title), _cell(rec.where), _cell(rec.lint_rule or ""), f"`{_cell(rec.command)}`",
                         human(rec.bytes_saved) if rec.bytes_saved else "-", secs])
        out.append(_t(rows, ["#", "recommendation", "where", "rule", "do", "saves (image)", "saves (cold start)"],
                      ("right", "left", "left", "left", "left", "right", "right")))
    else:
        out.append("Nothing to recommend.")
    out += ["", "### Layers", ""]
    rows = [[b.index, human(b.file_bytes), human(b.app_bytes), human(b.junk_bytes), human(b.waste_bytes),
             human(b.compressed_bytes),
             _cell((f"line {b.dockerfile.line}: {b.dockerfile.instruction}" if b.dockerfile else b.instruction or "-")[:90])]
            for b in r.layers[:n]]
    out.append(_t(rows, ["#", "stored", "app", "junk", "waste", "compressed", "made by"],
                  ("right", "right", "right", "right", "right", "right", "left")))
    out += ["", "### Largest directories", ""]
    dirs = sorted((d for d in a.directories if d.path != "/"), key=lambda d: -d.bytes)[: min(n, 15)]
    out.append(_t([[f"`{_cell(d.path)}`", human(d.bytes), d.files, human(d.junk_bytes)] for d in dirs],
                  ["directory", "bytes", "files", "junk"], ("left", "right", "right", "right")))
    if r.startup:
        st = r.startup
        out += ["", "### Startup set vs the rest", "",
                f"{human(st.bytes)} in {st.files} files read before ready, of {human(st.total_bytes)} "
                f"({_pct(st.bytes, st.total_bytes)}).", ""]
        out.append(_t([[f"`{_cell(d.path)}`", human(d.startup_bytes), human(d.bytes), _pct(d.startup_bytes, d.bytes)]
                       for d in st.by_directory[: min(n, 12)]], ["directory", "startup", "all", "share"],
                      ("left", "right", "right", "right")))
    out += ["", "### Simulated pull + start", ""]
    out.append(_t([[sc.image, sc.registry, f"{sc.mode} ({sc.client})", human(sc.bytes_downloaded), f"{sc.pull_s:.2f} s",
                    f"{sc.start_s:.2f} s", f"**{sc.total_s:.2f} s**"] for sc in r.scenarios],
                  ["image", "registry", "pull", "downloaded", "pull", "start", "total"],
                  ("left", "left", "left", "right", "right", "right", "right")))
    if r.lint is not None:
        out += ["", "### Lint findings", ""]
        if r.lint:
            out.append(_t([[f.line, f"`{f.code}`", f.severity, "-" if f.layer is None else f.layer, _cell(f.message)[:160]]
                           for f in r.lint[: n * 2]], ["line", "rule", "severity", "layer", "message"],
                          ("right", "left", "left", "right", "left")))
            if len(r.lint) > n * 2:
                out.append(f"\n*and {len(r.lint) - n * 2} more*")
        else:
            out.append(f"No findings in `{r.dockerfile}`.")
    out += ["", f"<sub>imgopt {r.version}; cold-start times are the simulator's predictions.</sub>"]
    return "\n".join(out) + "\n"
