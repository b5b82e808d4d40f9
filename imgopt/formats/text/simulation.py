"""``imgopt simulate``: one row per image x registry x client (and, with --details, each critical path)."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.simulate.result import Result, SimulationResult

HEADERS = ["image", "registry", "client", "pull s", "start s", "total s", "network s", "cpu s", "bound by"]
ALIGN = ("left", "left", "left", "right", "right", "right", "right", "right", "left")


def _bound(r: Result) -> str:
    b = {k: v for k, v in r.breakdown.items() if v > 0}
    if not b:
        return "-"
    k = max(b, key=b.get)  # type: ignore[arg-type]
    return f"{k} {100 * b[k] / r.total:.0f}%" if r.total else k


def rows(results: list[Result]) -> list[list]:
    """The table rows text and Markdown share."""
    out = []
    for r in results:
        img = f"{r.image} [{r.variant}]" if r.variant else r.image
        out.append([img, r.registry, r.client, f"{r.pull:.2f}", f"{r.start:.2f}", f"{r.total:.2f}",
                    f"{r.breakdown.get('network', 0):.2f}", f"{r.breakdown.get('cpu', 0):.2f}", _bound(r)])
    return out


def notes(results: list[Result]) -> list[str]:
    """Every row's notes once, in order."""
    seen: list[str] = []
    for r in results:
        for n in r.notes:
            if n not in seen:
                seen.append(n)
    return seen


def render(sim: SimulationResult, options: RenderOptions) -> str:
    results = sim.results
    out = [tabulate(rows(results), headers=HEADERS, tablefmt="simple", disable_numparse=True, colalign=ALIGN)]
    if results:
        out.append("")
        out.append(f"host profile: {results[0].host}; network/cpu = time on the critical path; "
                   "start = container create+start + app until ready")
    for n in notes(results):
        out.append(f"note: {n}")
    if options.extra.get("details"):
        for r in results:
            out.append("")
            img = f"{r.image} [{r.variant}]" if r.variant else r.image
            out.append(f"critical path: {img} / {r.registry} / {r.client}")
            for c in r.critical_path:
                out.append(f"  {c['start']:8.3f} .. {c['end']:8.3f}  {c['category']:<8} {c['label']}")
    return "\n".join(out)
