"""``imgopt gate`` as text: the verdict, then one block per check (failed first): measured vs limit,
where it comes from (layer, Dockerfile line) and what to do."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.gate.result import Check, GateResult, Location

_COLORS = {"fail": "\033[1;31m", "pass": "\033[32m", "skip": "\033[33m", "info": "\033[2m"}
_RESET = "\033[0m"


def where(loc: Location) -> str:
    """``layer 1, Dockerfile:5 (RUN apt-get ...)``."""
    parts = []
    if loc.layer is not None:
        parts.append(f"layer {loc.layer}")
    if loc.file and loc.line:
        parts.append(f"{loc.file}:{loc.line}")
    text = ", ".join(parts)
    if loc.instruction:
        ins = loc.instruction if len(loc.instruction) <= 70 else loc.instruction[:69] + "…"
        text += f" ({ins})" if text else ins
    if loc.detail:
        text += f": {loc.detail}" if text else loc.detail
    return text


def verdict(r: GateResult) -> str:
    limited = [c for c in r.checks if c.status in ("pass", "fail")]
    failed = r.failed_checks
    if failed:
        return f"FAIL: {len(failed)} of {len(limited)} checks failed"
    return f"PASS: {len(limited)} checks passed"


def render(r: GateResult, options: RenderOptions) -> str:
    def tag(c: Check) -> str:
        t = f"{c.status.upper():4}"
        return f"{_COLORS[c.status]}{t}{_RESET}" if options.color else t

    out = [f"imgopt gate  {r.image}  {verdict(r)}"]
    inputs = [f"config {r.config or '(defaults)'}"]
    if r.dive_ci:
        inputs.append(f"dive rules {r.dive_ci}")
    if r.dockerfile:
        inputs.append(f"Dockerfile {r.dockerfile}")
    if r.baseline:
        inputs.append(f"baseline {r.baseline}")
    out.append("  " + ", ".join(inputs))
    out.append("")
    for c in r.checks:
        src = f"  [{c.source}]" if c.source and c.status != "info" else ""
        out.append(f"{tag(c)}  {c.title}: {c.summary}{src}")
        if c.status != "info":
            out.append(f"      key: gate.{c.id}")
        for loc in c.locations[:5]:
            out.append(f"      at {where(loc)}")
        if len(c.locations) > 5:
            out.append(f"      ... and {len(c.locations) - 5} more")
        if c.advice and c.status == "fail":
            out.append(f"      do: {c.advice}")
        if c.command and c.status == "fail":
            out.append(f"      fix: {c.command}")
    return "\n".join(out) + "\n"
