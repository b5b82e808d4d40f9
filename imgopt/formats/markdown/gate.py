"""``imgopt gate --format markdown`` (and the GitHub step summary): the verdict, a table of the checks,
then each failure with where it comes from and what to do."""

from __future__ import annotations

from tabulate import tabulate

from imgopt.formats import RenderOptions
from imgopt.formats.text.gate import verdict, where
from imgopt.gate.result import GateResult

ICON = {"fail": "❌ fail", "pass": "✅ pass", "skip": "⏭️ skip", "info": "ℹ️ info"}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(r: GateResult, options: RenderOptions) -> str:
    out = [f"## imgopt gate: `{r.image}`", "", f"**{verdict(r)}**", ""]
    rows = [[ICON[c.status], f"`{c.id}`", _cell(c.title), _cell(c.summary)] for c in r.checks]
    out.append(tabulate(rows, headers=["", "check", "what", "measured vs limit"], tablefmt="github",
                        disable_numparse=True))
    failed = r.failed_checks
    if failed:
        out += ["", "### What to do", ""]
        for c in failed:
            out.append(f"- **{_cell(c.title)}** (`gate.{c.id}`): {_cell(c.summary)}")
            for loc in c.locations[:5]:
                out.append(f"  - at {_cell(where(loc))}")
            if c.advice:
                out.append(f"  - do: {_cell(c.advice)}")
            if c.command:
                out.append(f"  - fix: `{c.command}`")
    src = [f"config `{r.config or 'defaults'}`"] + ([f"dive rules `{r.dive_ci}`"] if r.dive_ci else []) + \
        ([f"Dockerfile `{r.dockerfile}`"] if r.dockerfile else []) + ([f"baseline `{r.baseline}`"] if r.baseline
                                                                      else [])
    out += ["", "<sub>" + ", ".join(src) + "</sub>"]
    return "\n".join(out) + "\n"
