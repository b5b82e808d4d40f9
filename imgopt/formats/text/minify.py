"""``imgopt minify`` / ``imgopt slim``: before and after, verification, what was removed."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.minify.result import MinifyResult, predicted_gain
from imgopt.progress import human


def render(rep: MinifyResult, options: RenderOptions) -> str:
    o, s = rep.original, rep.slim
    ratio = o.compressed_bytes / s.compressed_bytes if s.compressed_bytes else float("inf")
    lines = [
        f"imgopt minify  {rep.image} -> {rep.output}",
        f"  {rep.manifest_digest}",
        "",
        f"  compressed      {human(o.compressed_bytes):>10} -> {human(s.compressed_bytes):>10}   ({ratio:.1f}x smaller)",
        f"  uncompressed    {human(o.uncompressed_bytes):>10} -> {human(s.uncompressed_bytes):>10}",
        f"  files           {o.files:>10,} -> {s.files:>10,}   ({s.startup_files} startup files first)",
        f"  layers          {o.layers:>10} -> {s.layers:>10}",
    ]
    v = rep.verification
    if v is not None:
        state = "PASSED" if v.passed else "FAILED (written with --force)"
        lines.append(f"  verification    {state} after {v.rounds} round(s)")
        for r in v.results:
            lines.append(f"    round {r.round} {r.backend:<7} {'pass' if r.passed else 'FAIL: ' + r.failure}"
                         + (f", ready in {r.ready_time:.2f} s" if r.ready_time else ""))
        for a in v.added[:10]:
            lines.append(f"    added {a.path}: {a.why}")
    lines += _optimization_lines(rep)
    lines += ["", "  kept by reason:"]
    for k, t in rep.kept_by_reason.items():
        lines.append(f"    {k:<28} {human(t.bytes):>10} in {t.files:,} files")
    if rep.language_closure_unresolved:
        lines.append("    not resolved by the language closure (--kept lists them): " + ", ".join(
            f"{n} {k}" for k, n in rep.language_closure_unresolved.items()))
    lines += ["", "  removed by junk class:"]
    for k, t in list(rep.removed_by_class.items())[:10]:
        lines.append(f"    {k:<28} {human(t.bytes):>10} in {t.files:,} files")
    lines += ["", "  removed by directory:"]
    for k, t in list(rep.removed_by_dir.items())[:10]:
        lines.append(f"    {k:<40} {human(t.bytes):>10} in {t.files:,} files")
    lines += _probing_lines(rep)
    lines.append(f"\n  done in {rep.seconds:.1f} s")
    return "\n".join(lines)


def _optimization_lines(rep: MinifyResult) -> list[str]:
    """--optimize-for: the choice, its predicted gain, and every candidate's prediction."""
    o = rep.optimization
    if o is None:
        return []
    c = o.chosen
    gain = ""
    if o.default is not None:
        d = o.default
        gain = (f"; default {d.label}: {d.total_seconds:.2f} s, predicted gain {o.predicted_gain_seconds:.2f} s "
                f"({100 * predicted_gain(c, d):.0f} %)")
        b = o.best
        if b is not None and b is not c:
            gain = (f" (the default, kept: the best candidate, {b.label} at {b.total_seconds:.2f} s, is predicted "
                    f"only {100 * predicted_gain(b, d):.0f} % faster, below --min-gain {100 * o.min_gain:.0f} %)")
    lines = ["", f"  optimized for   {o.registry},{o.client} (host {o.host}): {c.label}, predicted pull + start "
                 f"{c.total_seconds:.2f} s{gain}",
             f"    why: {o.why}",
             f"    sizes: {o.size_estimate}",
             "    candidates (predicted pull, pull + start; estimated compressed size):"]
    for k in sorted(o.candidates, key=lambda k: (k.total_seconds, len(k.layers))):
        mark = "*" if k is c or k == c else " "
        lines.append(f"    {mark} {k.label:<34} {k.pull_seconds:7.2f} s {k.total_seconds:7.2f} s   "
                     f"{human(k.compressed_bytes):>10}")
    return lines


def _probing_lines(rep: MinifyResult) -> list[str]:
    """Zero-config probing, served and listed directories, and the names written."""
    lines: list[str] = []
    pr = rep.probing
    if pr:
        ports = ", ".join(f":{s.port} {s.protocol or 'no answer'}" for s in pr.sockets) or "no port"
        ready = f", ready in {pr.ready_time:.2f} s" if pr.ready_time is not None else ""
        lines += ["", f"  probing         automatic: {pr.kind} ({ports}), decided in {pr.decided_after:.2f} s"
                      f"{ready}; {pr.requests} requests ({pr.crawled} crawled)"]
        passed = [p for p in pr.probes if p.passed]
        lines.append(f"    {len(passed)} of {len(pr.probes)} automatic probes answered; replayed against the slim "
                     "image")
        for p in pr.probes[:12]:
            lines.append(f"    {'ok  ' if p.passed else 'FAIL' if p.required else 'miss'} {p.name}: {p.detail}")
        if len(pr.probes) > 12:
            lines.append(f"    ... and {len(pr.probes) - 12} more (--format json lists them all)")
        for n in pr.notes:
            lines.append(f"    note: {n}")
    if rep.dirs:
        lines += ["", "  served and listed directories:"]
        for d in rep.dirs:
            state = f"kept whole ({d.files} files, {human(d.bytes)})" if d.kept else "not kept whole"
            lines.append(f"    {d.path:<40} {d.reason}: {state}; {d.why}")
    if rep.tags:
        lines.append(f"\n  named           {', '.join(rep.tags)}")
    return lines
