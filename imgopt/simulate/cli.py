"""`imgopt simulate` and `imgopt calibrate`."""

from __future__ import annotations

import click

from imgopt.cli_options import format_option, handle_errors, insecure_option, platform_option, source_options


@click.command()
@click.argument("image")
@click.option("--profile", "profile_path", metavar="TRACE.json", default=None,
              help="Access profile from `imgopt trace`: startup files and ready time.")
@click.option("--registry", "registries", default="vpc,public", show_default=True, metavar="NAME[,NAME...]",
              help="Registry/network profiles (built in: vpc, public; or YAML files).")
@click.option("--client", "clients", default="docker", show_default=True, metavar="NAME[,NAME...]",
              help="Client profiles: docker, ctr, containerd, lazy (or YAML files).")
@click.option("--host", "host", default=None, metavar="NAME|FILE",
              help="Host profile (default: the one `imgopt calibrate` wrote, else 'reference').")
@click.option("--compare", "compare", multiple=True, metavar="OTHER_IMAGE",
              help="Another image to predict alongside (e.g. the slim version). Repeatable.")
@click.option("--what-if", "what_ifs", multiple=True, metavar="SPEC",
              help="A variant to predict: compress=gzip|zstd|none, slim (needs --profile); "
                   "combine with commas. Repeatable.")
@click.option("--ready-time", type=float, default=None, metavar="SECONDS",
              help="App time from entrypoint start to ready (default: the profile's, else 1 s).")
@click.option("--strict", is_flag=True, help="A trace profile of another image is an error, not a warning.")
@format_option("simulation")
@click.option("--details", is_flag=True, help="Text: also print each row's critical path.")
@click.option("--no-timeline", is_flag=True, help="JSON: leave out the per-task timeline.")
@platform_option
@insecure_option
@handle_errors
def simulate(image, profile_path, registries, clients, host, compare, what_ifs, ready_time, strict, fmt, details,
             no_timeline, platform, insecure):
    """Predict cold pull + start latency of IMAGE per registry and client.

    Models the pull as a task graph (auth, manifest, config, per-layer
    download, decompress, extract, container create, app ready) run as a
    discrete-event simulation with the client's concurrency and shared
    bandwidth.  Prints pull, start and total seconds per image x registry x
    client.
    """
    from imgopt import api
    from imgopt.formats import RenderOptions, emit, render
    from imgopt.simulate import profiles as P
    from imgopt.simulate.api import SimulateOptions
    from imgopt.simulate.workload import parse_what_if

    opts = SimulateOptions(registries=P.load_many("registry", registries), clients=P.load_many("client", clients),
                           host=P.load("host", host or P.default_host_name()), compare=list(compare),
                           what_ifs=[parse_what_if(w) for w in what_ifs], profile_path=profile_path,
                           ready_time=ready_time, strict=strict)
    result = api.simulate(image, opts, source=source_options(platform, insecure),
                          warn=lambda m: click.echo(m, err=True))
    if no_timeline:
        result = result.without_timeline()
    emit(render("simulation", fmt, result, RenderOptions(extra={"details": details})))


@click.command()
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Host profile to write (default: ~/.config/imgopt/simulate/host/calibrated.yaml).")
@click.option("--docker-host", default=None, metavar="URL",
              help="Docker daemon to measure (default: DOCKER_HOST or the default socket).")
@click.option("--containerd", default=None, metavar="SOCKET",
              help="Measure containerd through ctr instead of the Docker daemon (e.g. "
                   "/run/containerd/containerd.sock; a namespace of its own, removed afterwards).")
@click.option("--registry", default="auto", show_default=True, metavar="auto|HOST:PORT",
              help="Loopback registry the daemon pulls from; auto starts a temporary docker-registry.")
@click.option("--no-docker", is_flag=True, help="Only measure in-process (codecs, file extraction): less faithful.")
@click.option("--reps", type=click.IntRange(1, 20), default=3, show_default=True, help="Pulls per measurement.")
@click.option("--payload-mb", type=click.IntRange(4, 1024), default=48, show_default=True,
              help="Size of the synthetic byte-heavy layer.")
@click.option("--name", default=None, help="Profile name (default: this host's name).")
@click.option("-q", "--quiet", is_flag=True)
@handle_errors
def calibrate(output, docker_host, containerd, registry, no_docker, reps, payload_mb, name, quiet):
    """Measure this host's pull pipeline and write a host profile.

    Pushes small synthetic images (real binaries from this host, one with
    thousands of small files, one uncompressed, one with many empty layers)
    to a loopback registry and times cold pulls through the Docker daemon
    from its progress events: decompression and extraction per byte, cost
    per file and per layer, download ingest rate, container create and start.
    On a virtual machine a pull that lost more than 10 % of the CPU to the
    hypervisor (steal) is measured again, and calibrate warns if it stays so.

    With --containerd the pulls go through containerd's ctr instead: each
    image's blobs are fetched first, then unpacked, and ctr's own unpack
    time is used.
    """
    from imgopt.formats import emit, render
    from imgopt.simulate.calibrate import CalibrateOptions, run_calibration

    if containerd and (no_docker or docker_host):
        from imgopt.errors import BadInput

        raise BadInput("--containerd", "measures containerd instead of the Docker daemon: drop "
                                       f"{'--no-docker' if no_docker else '--docker-host'}")
    opts = CalibrateOptions(output=output, docker_host=docker_host, containerd=containerd, registry=registry,
                            use_docker=not no_docker,
                            reps=reps, payload_mb=payload_mb, name=name, quiet=quiet)
    if containerd:
        from imgopt.simulate.calibrate_ctr import run_ctr_calibration as run_calibration  # noqa: F811
    result = run_calibration(opts, log=(lambda m: None) if quiet else (lambda m: click.echo(m, err=True)))
    emit(render("calibration", "text", result))
