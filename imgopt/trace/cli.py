"""``imgopt trace``: run an image's entrypoint in a sandbox, record what it touches."""

from __future__ import annotations

import json
import os
import sys

import click

from imgopt.cli import _insecure_opt, _platform_opt, _source_opts, handle_errors
from imgopt.errors import BadInput, Failed
from imgopt.progress import human
from imgopt.trace.profile import AccessProfile


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("image")
@click.argument("args", nargs=-1)
@click.option("--probe", "probe_file", metavar="FILE",
              help="Probes (YAML/JSON): http, tcp, exec, exit, timeout.  Default: found automatically (the ports "
                   "the app listens on, HTTP or a TCP greeting, a crawl; else a job run to exit).")
@click.option("--emit-probes", "emit_file", metavar="FILE",
              help="Write the probes that passed (the automatic ones, expecting the answers seen) as a probe file "
                   "(YAML; JSON if FILE ends in .json) to edit and commit.")
@click.option("-o", "--output", metavar="FILE", help="Write the access profile (JSON) here (atomically).")
@click.option("--backend", type=click.Choice(["auto", "native", "docker"]), default="auto", show_default=True,
              help="native: namespaces + pivot_root, no daemon; docker: the real engine; auto: docker when an "
                   "engine answers, else native.")
@click.option("--network", type=click.Choice(["none", "host"]), default="none", show_default=True,
              help="none: only the sandbox's own loopback; host: the host's network (explicit).")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Wall-clock limit, seconds.")
@click.option("--settle", type=float, default=1.0, show_default=True,
              help="After ready, keep tracing until no file activity for this many seconds (0: stop at ready; "
                   "at most 15 s).")
@click.option("--tracer", type=click.Choice(["strace", "fanotify", "none"]), default="strace", show_default=True,
              help="strace (complete); fanotify (opens only, root); none (untraced run, for timing).")
@click.option("--reads", is_flag=True,
              help="Also trace read() and mmap(): bytes_read per file, every mapping (a little slower).")
@click.option("--cpus", default="auto", show_default=True, metavar="auto|all|LIST",
              help="CPUs for the tracer and the app.  auto: one CPU when traced (ptrace stops stay on one CPU, "
                   "much cheaper); all: no pinning; or a list like 0,1.")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VAL", help="Set an environment variable.")
@click.option("-v", "--volume", "volumes", multiple=True, metavar="SRC:DST[:ro]", help="Bind mount (docker backend).")
@click.option("-u", "--user", default=None, help="Run as USER[:GROUP] (name or id).")
@click.option("--entrypoint", default=None, help="Override the image's ENTRYPOINT (drops its CMD).")
@click.option("-w", "--workdir", default=None, help="Override the working directory.")
@click.option("--scratch-dir", default=None, metavar="DIR", help="Where to unpack (default: $TMPDIR).")
@click.option("--keep-scratch", is_flag=True, help="Keep the scratch directory (rootfs, logs) and print it.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_platform_opt
@_insecure_opt
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@handle_errors
def trace(image: str, args: tuple[str, ...], probe_file: str | None, emit_file: str | None, output: str | None,
          backend: str, network: str,
          timeout: float, settle: float, tracer: str, reads: bool, cpus: str, env: tuple[str, ...],
          volumes: tuple[str, ...], user: str | None, entrypoint: str | None, workdir: str | None,
          scratch_dir: str | None, keep_scratch: bool, fmt: str, platform: str | None, insecure: bool,
          quiet: bool) -> None:
    """Run IMAGE's entrypoint in a sandbox and record every file it touches, and when.

    ARGS after the image replace its CMD (as with docker run).  Exit status:
    0 the probes passed, 1 a probe failed (the profile is still written),
    2 bad input.
    """
    from imgopt.image.sources import open_image
    from imgopt.trace.probes import load_probes
    from imgopt.trace.run import TraceOptions, trace_image
    from imgopt.trace.runspec import Overrides

    probes = load_probes(probe_file) if probe_file else None
    for path in (output, emit_file):
        if path:
            _check_output(path)
    for v in volumes:
        if ":" not in v:
            raise BadInput(f"-v {v}", "expected SRC:DST[:ro]")
    ov = Overrides(entrypoint=[entrypoint] if entrypoint else None, args=list(args) or None, env=list(env),
                   user=user, workdir=workdir)
    opts = TraceOptions(backend=backend, tracer=tracer, network=network, timeout=timeout, settle=settle,
                        trace_reads=reads, cpus=cpus, overrides=ov, volumes=list(volumes), scratch_dir=scratch_dir,
                        keep_scratch=keep_scratch)
    opts.check()
    with open_image(image, _source_opts(platform, insecure)) as img:
        result = trace_image(img, probes, opts)
    prof = result.profile
    if output:
        prof.save(output)
    if emit_file:
        from imgopt.trace.autoprobe import write_probe_file

        write_probe_file(prof, emit_file)
    if fmt == "json" and not output:
        click.echo(json.dumps(prof.to_json(), indent=1))
    elif not quiet:
        click.echo(summary(prof, output, result.scratch))
    if not prof.passed:
        raise Failed(image, result.failure or "probes did not pass")


def _check_output(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise BadInput(path, "the output directory does not exist")
    if os.path.isdir(path):
        raise BadInput(path, "is a directory")
    if not os.access(parent, os.W_OK):
        raise BadInput(path, "the output directory is not writable")


def summary(p: AccessProfile, output: str | None = None, scratch: str | None = None, top: int = 10) -> str:
    """The text summary: files, bytes, ready time, the last first-accesses before ready."""
    existing = [f for f in p.files if f.exists]
    startup = p.startup_files()
    size = sum(f.size or 0 for f in startup)
    read = sum(f.bytes_read or 0 for f in p.files if f.exists)
    lines = [f"imgopt trace: {p.image} ({p.backend}, {p.tracer})",
             f"  entrypoint: {' '.join(p.argv)}" + (f"  (user {p.user})" if p.user else ""),
             "  ready:      " + (f"{p.ready_time:.3f} s" if p.ready_time is not None else "never (probes failed)")]
    from imgopt.trace.autoprobe import summary_lines

    lines += summary_lines(p)
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
    if output:
        lines.append(f"  profile:    {output}")
    if scratch:
        lines.append(f"  scratch:    {scratch}")
    return "\n".join(lines)


__all__ = ["trace", "summary"]
if __name__ == "__main__":  # pragma: no cover
    trace(sys.argv[1:])
