"""``imgopt trace``: what the traced run touched, and when the probes passed."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.progress import human
from imgopt.trace.result import TraceResult


def render(result: TraceResult, options: RenderOptions) -> str:
    """The text summary: files, bytes, ready time, the last first-accesses before ready."""
    p = result.profile
    top = int(options.extra.get("top", 10))
    existing = [f for f in p.files if f.exists]
    startup = p.startup_files()
    size = sum(f.size or 0 for f in startup)
    read = sum(f.bytes_read or 0 for f in p.files if f.exists)
    lines = [f"imgopt trace: {p.image} ({p.backend}, {p.tracer})",
             f"  entrypoint: {' '.join(p.argv)}" + (f"  (user {p.user})" if p.user else ""),
             "  ready:      " + (f"{p.ready_time:.3f} s" if p.ready_time is not None else "never (probes failed)")]
    lines += _discovery_lines(p)
    for pr in p.probes:
        when = f" at {pr.first_success:.3f} s" if pr.first_success is not None else ""
        state = "PASS" if pr.passed else "FAIL" if pr.required else "miss"
        lines.append(f"    {state} {pr.name}: {pr.detail}{when}")
    lines.append("  exit:       " + (f"{p.exit_code}" if p.exit_code is not None else "still running (stopped)"))
    lines.append(f"  files:      {len(p.files)} paths touched: {len(existing)} in the image, "
                 f"{len(p.files) - len(existing)} failed lookups")
    known = any(f.bytes_read is not None for f in p.files)
    lines.append(f"  startup:    {len(startup)} regular files before ready, {human(size)}"
                 + (f" ({human(read)} read through read())" if known else ""))
    lines.append(f"  processes:  {len(p.processes)}; traced for {p.duration:.2f} s")
    tail = sorted((f for f in startup), key=lambda f: f.first_access, reverse=True)[:top]
    if tail:
        lines.append("  slowest first accesses (the last files startup waited for):")
        for f in tail:
            lines.append(f"    {f.first_access:8.3f} s  {human(f.size or 0):>9}  {f.path}")
    for n in p.notes:
        lines.append(f"  note: {n}")
    if result.profile_path:
        lines.append(f"  profile:    {result.profile_path}")
    if result.scratch:
        lines.append(f"  scratch:    {result.scratch}")
    return "\n".join(lines)


def _discovery_lines(profile, indent: str = "  ") -> list[str]:
    """What zero-config probing found, and the served directories."""
    from imgopt.trace.autoprobe import describe

    lines = []
    d = profile.discovery
    if d is not None:
        lines.append(f"{indent}probing:    automatic: {describe(d)}")
        for s in d.sockets:
            lines.append(f"{indent}  port {s.port} ({s.address}) {s.protocol or 'no answer'}: {s.detail}")
        for n in d.notes:
            lines.append(f"{indent}  note: {n}")
    for u in profile.served_dirs:
        lines.append(f"{indent}served dir: {u.path} ({u.reason}{': ' + ', '.join(u.probes[:3]) if u.probes else ''})")
    return lines
