"""``imgopt simulate --format markdown``: the prediction table and its notes."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.formats.text.simulation import ALIGN, HEADERS, notes, rows
from imgopt.simulate.result import SimulationResult


def render(sim: SimulationResult, options: RenderOptions) -> str:
    out = [tabulate(rows(sim.results), headers=HEADERS, tablefmt="github", disable_numparse=True, colalign=ALIGN)]
    found = notes(sim.results)
    if found:
        out.append("")
        out += [f"- {n}" for n in found]
    return "\n".join(out)
