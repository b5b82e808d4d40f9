"""Text lines of the slim summary for zero-config probing, served directories and naming."""

from __future__ import annotations

from imgopt.progress import human


def probing_lines(rep: dict) -> list[str]:
    """From the report dict of ``imgopt minify``/``slim`` (its ``probing``, ``dirs`` and ``tags``)."""
    lines: list[str] = []
    pr = rep.get("probing")
    if pr:
        ports = ", ".join(f":{s['port']} {s['protocol'] or 'no answer'}" for s in pr["sockets"]) or "no port"
        ready = f", ready in {pr['ready_time']:.2f} s" if pr.get("ready_time") is not None else ""
        lines += ["", f"  probing         automatic: {pr['kind']} ({ports}), decided in {pr['decided_after']:.2f} s"
                      f"{ready}; {pr['requests']} requests ({pr['crawled']} crawled)"]
        passed = [p for p in pr["probes"] if p["passed"]]
        lines.append(f"    {len(passed)} of {len(pr['probes'])} automatic probes answered; replayed against the slim "
                     "image")
        for p in pr["probes"][:12]:
            lines.append(f"    {'ok  ' if p['passed'] else 'FAIL' if p['required'] else 'miss'} {p['name']}: {p['detail']}")
        if len(pr["probes"]) > 12:
            lines.append(f"    ... and {len(pr['probes']) - 12} more (--format json lists them all)")
        for n in pr.get("notes") or []:
            lines.append(f"    note: {n}")
    if rep.get("dirs"):
        lines += ["", "  served and listed directories:"]
        for d in rep["dirs"]:
            state = f"kept whole ({d['files']} files, {human(d['bytes'])})" if d["kept"] else "not kept whole"
            lines.append(f"    {d['path']:<40} {d['reason']}: {state}; {d['why']}")
    if rep.get("tags"):
        lines.append(f"\n  named           {', '.join(rep['tags'])}")
    return lines
