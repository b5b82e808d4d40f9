"""``imgopt gate``: parse the arguments, run :func:`imgopt.gate.run_gate`, render, exit 0 / 1 / 2."""

from __future__ import annotations

import os
import sys

import click

from imgopt.cli_options import format_option, handle_errors, insecure_option, platform_option, quiet_option, \
    source_options


@click.command()
@click.argument("image")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="imgopt's configuration file with the gate: section (default: .imgopt.yaml / pyproject.toml "
                   "found upwards).")
@click.option("--baseline", default=None, metavar="IMAGE|RESULT.json",
              help="Compare with this image, or a gate / analysis JSON document (growth, new junk, new lint errors).")
@click.option("--dockerfile", type=click.Path(dir_okay=False), default=None,
              help="The image's Dockerfile: failures name its lines, and it is linted (max-lint).")
@click.option("--target", default=None, help="Dockerfile stage the image was built from (default: the last).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None, metavar="TRACE.json",
              help="Trace profile (imgopt trace): startup set and ready time for max-cold-start.")
@click.option("--dive-ci", "dive_ci", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="dive's CI rules file (default: the config's dive-ci:, else ./.dive-ci when there).")
@format_option("gate")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file (atomically).")
@click.option("--also", multiple=True, metavar="FORMAT:FILE",
              help="Also write the result in FORMAT to FILE (repeatable; e.g. junit:gate.xml codeclimate:quality.json).")
@platform_option
@insecure_option
@quiet_option
@handle_errors
def gate(image: str, config_path: str | None, baseline: str | None, dockerfile: str | None, target: str | None,
         profile_path: str | None, dive_ci: str | None, fmt: str, output: str | None, also: tuple[str, ...],
         platform: str | None, insecure: bool, quiet: bool) -> None:
    """Check IMAGE against size, junk, waste, dive, cold-start, lint and baseline thresholds.

    Thresholds come from the gate: section of the configuration (sizes like 500MB, 1.5GiB);
    without one, exact waste over 10 % (and 10 MB), lint errors and, with --baseline, growth
    over 10 % (and 10 MB) and new junk classes fail.  Each check prints measured vs limit and what
    to do.  With --format github the failures become annotations on the Dockerfile lines and a
    Markdown summary is appended to $GITHUB_STEP_SUMMARY.  Exit 0: pass, 1: a check failed,
    2: bad input or configuration.  See docs/gate.md.
    """
    from imgopt import api
    from imgopt.formats import RenderOptions, emit, render
    from imgopt.gate import GateOptions
    from imgopt.progress import Progress

    extra = [_also(a) for a in also]  # bad ones fail before the work
    prog = Progress("analyzing", enabled=False if quiet else None)
    result = api.gate(image, GateOptions(config=config_path, dive_ci=dive_ci, baseline=baseline,
                                         dockerfile=dockerfile, target=target, profile=profile_path, progress=prog),
                      source=source_options(platform, insecure))
    prog.finish()
    color = fmt == "text" and not output and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    emit(render("gate", fmt, result, RenderOptions(color=color)), output)
    for extra_fmt, path in extra:
        emit(render("gate", extra_fmt, result), path)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary:
        with open(summary, "a", encoding="utf-8") as f:  # GitHub's summary file is appended to, step by step
            f.write(render("gate", "markdown", result))
    for note in result.notes:
        click.echo(f"imgopt: note: {note}", err=True)
    if not result.passed:
        sys.exit(1)


def _also(spec: str) -> tuple[str, str]:
    from imgopt.errors import BadInput
    from imgopt.formats import choices

    fmt, sep, path = spec.partition(":")
    if not sep or not path or fmt not in choices("gate"):
        raise BadInput(f"--also {spec}", f"expected FORMAT:FILE with FORMAT one of {', '.join(choices('gate'))}")
    return fmt, path


__all__ = ["gate"]
