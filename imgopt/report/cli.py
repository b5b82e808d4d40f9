"""``imgopt report``: parse the arguments, build the report (:func:`imgopt.report.build_report`), write it."""

from __future__ import annotations

import click

from imgopt.cli_options import handle_errors, insecure_option, platform_option, quiet_option, source_options
from imgopt.formats import choices


@click.command()
@click.argument("image")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="report.html|report.md",
              help="Where to write the report (atomically); the format comes from the suffix.")
@click.option("--format", "fmt", type=click.Choice(choices("report")), default=None, help="html, markdown or json (default: from the output's suffix).")
@click.option("--slim", default=None, metavar="SLIM_IMAGE", help="The slim image to compare with (imgopt slim's output).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None, metavar="TRACE.json",
              help="Trace profile (imgopt trace): the startup set, lazy pulls, the slim estimate.")
@click.option("--dockerfile", type=click.Path(dir_okay=False), default=None,
              help="The image's Dockerfile: layers are tied to its lines, and it is linted.")
@click.option("--target", default=None, help="Dockerfile stage the image was built from (default: the last).")
@click.option("--registry", "registries", default="vpc,public", show_default=True, metavar="NAME[,NAME...]",
              help="Simulator registry profiles to predict the pull from.")
@platform_option
@insecure_option
@quiet_option
@handle_errors
def report(image: str, output: str, fmt: str | None, slim: str | None, profile_path: str | None,
           dockerfile: str | None, target: str | None, registries: str, platform: str | None, insecure: bool,
           quiet: bool) -> None:
    """Write a report on IMAGE: sizes, junk, waste, largest directories, the startup set, the
    simulated pull + start (VPC vs public, original vs slim, eager vs lazy), lint findings and
    recommendations ranked by the bytes and seconds they save.

    HTML is one self-contained file (no network, works offline, dark mode, phone, print);
    Markdown fits a pull-request comment.
    """
    from imgopt import api
    from imgopt.report import ReportOptions, format_for, write_report

    fmt = fmt or format_for(output)
    opts = ReportOptions(slim=slim, profile=profile_path, dockerfile=dockerfile, target=target,
                         registries=[r.strip() for r in registries.split(",") if r.strip()],
                         progress=None if quiet else (lambda m: click.echo(m, err=True)))
    result = api.report(image, opts, source=source_options(platform, insecure))
    write_report(result, output, fmt)
    if not quiet:
        click.echo(f"wrote {output} ({len(result.recommendations)} recommendations)", err=True)


__all__ = ["report"]
