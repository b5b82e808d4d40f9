"""Formatting simulation results: text table, markdown, JSON."""

from __future__ import annotations

import json

from tabulate import tabulate

from imgopt.simulate.model import Result

HEADERS = ["image", "registry", "client", "pull s", "start s", "total s", "network s", "cpu s", "bound by"]
ALIGN = ("left", "left", "left", "right", "right", "right", "right", "right", "left")


def _bound(r: Result) -> str:
    b = {k: v for k, v in r.breakdown.items() if v > 0}
    if not b:
        return "-"
    k = max(b, key=b.get)
    return f"{k} {100 * b[k] / r.total:.0f}%" if r.total else k


def rows(results: list[Result]) -> list[list]:
    out = []
    for r in results:
        img = f"{r.image} [{r.variant}]" if r.variant else r.image
        out.append([img, r.registry, r.client, f"{r.pull:.2f}", f"{r.start:.2f}", f"{r.total:.2f}",
                    f"{r.breakdown.get('network', 0):.2f}", f"{r.breakdown.get('cpu', 0):.2f}", _bound(r)])
    return out


def _notes(results: list[Result]) -> list[str]:
    seen: list[str] = []
    for r in results:
        for n in r.notes:
            if n not in seen:
                seen.append(n)
    return seen


def text(results: list[Result], details: bool = False) -> str:
    out = [tabulate(rows(results), headers=HEADERS, tablefmt="simple", disable_numparse=True, colalign=ALIGN)]
    if results:
        out.append("")
        out.append(f"host profile: {results[0].host}; network/cpu = time on the critical path; "
                   "start = container create+start + app until ready")
    for n in _notes(results):
        out.append(f"note: {n}")
    if details:
        for r in results:
            out.append("")
            img = f"{r.image} [{r.variant}]" if r.variant else r.image
            out.append(f"critical path: {img} / {r.registry} / {r.client}")
            for c in r.critical_path:
                out.append(f"  {c['start']:8.3f} .. {c['end']:8.3f}  {c['category']:<8} {c['label']}")
    return "\n".join(out)


def markdown(results: list[Result]) -> str:
    out = [tabulate(rows(results), headers=HEADERS, tablefmt="github", disable_numparse=True, colalign=ALIGN)]
    notes = _notes(results)
    if notes:
        out.append("")
        out += [f"- {n}" for n in notes]
    return "\n".join(out)


def as_json(results: list[Result], timeline: bool = True) -> str:
    return json.dumps({"schema": "imgopt.simulate/v1", "results": [r.to_json(timeline) for r in results]}, indent=2)


__all__ = ["text", "markdown", "as_json", "rows", "HEADERS"]
