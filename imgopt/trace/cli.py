"""``imgopt trace``: run an image's entrypoint in a sandbox, record what it touches."""

from __future__ import annotations

import os
import sys

import click

from imgopt.cli_options import (format_option, handle_errors, insecure_option, limit_options, platform_option,
                                source_options)
from imgopt.errors import BadInput, Failed


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
@limit_options
@click.option("--userns", type=click.Choice(["auto", "off"]), default="auto", show_default=True,
              help="native, as root: run the app in a user namespace (its root is an unprivileged host uid); "
                   "off: root inside is root outside (still without dangerous capabilities, seccomp-filtered).")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VAL", help="Set an environment variable.")
@click.option("-v", "--volume", "volumes", multiple=True, metavar="SRC:DST[:ro]", help="Bind mount (docker backend).")
@click.option("-u", "--user", default=None, help="Run as USER[:GROUP] (name or id).")
@click.option("--entrypoint", default=None, help="Override the image's ENTRYPOINT (drops its CMD).")
@click.option("-w", "--workdir", default=None, help="Override the working directory.")
@click.option("--scratch-dir", default=None, metavar="DIR", help="Where to unpack (default: $TMPDIR).")
@click.option("--keep-scratch", is_flag=True, help="Keep the scratch directory (rootfs, logs) and print it.")
@format_option("trace")
@platform_option
@insecure_option
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@handle_errors
def trace(image: str, args: tuple[str, ...], probe_file: str | None, emit_file: str | None, output: str | None,
          backend: str, network: str,
          timeout: float, settle: float, tracer: str, reads: bool, cpus: str, pids: int | None,
          memory: int | None, cpu_limit: float | None, userns: str, env: tuple[str, ...],
          volumes: tuple[str, ...], user: str | None, entrypoint: str | None, workdir: str | None,
          scratch_dir: str | None, keep_scratch: bool, fmt: str, platform: str | None, insecure: bool,
          quiet: bool) -> None:
    """Run IMAGE's entrypoint in a sandbox and record every file it touches, and when.

    ARGS after the image replace its CMD (as with docker run).  Exit status:
    0 the probes passed, 1 a probe failed (the profile is still written),
    2 bad input.
    """
    from imgopt import api
    from imgopt.formats import emit, render
    from imgopt.trace.probes import load_probes
    from imgopt.trace.options import TraceOptions
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
                        keep_scratch=keep_scratch, pids=pids, memory=memory, cpu_limit=cpu_limit,
                        userns=userns)
    opts.check()
    result = api.trace(image, opts, probes=probes, output=output, source=source_options(platform, insecure))
    prof = result.profile
    if emit_file:
        from imgopt.trace.autoprobe import write_probe_file

        write_probe_file(prof, emit_file)
    if fmt == "json" and not output:
        emit(render("trace", "json", result))
    elif not quiet:
        emit(render("trace", "text", result))
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


__all__ = ["trace"]
if __name__ == "__main__":  # pragma: no cover
    trace(sys.argv[1:])
