"""``imgopt lint``: parse the options (hadolint's, so scripts written for it keep working), lint,
render through the output layer.  The work is in :mod:`imgopt.lint`.

The options are defined once, in :data:`OPTIONS`.  From that table come both the click command
(``lint``, built on first access and registered in ``imgopt.cli.LAZY_COMMANDS``) and
:func:`parse_fast`, a small parser the ``imgopt`` entry point (:mod:`imgopt.entry`) uses for
``imgopt lint ...`` without importing click: click's import is about half of a one-file lint run's
start-up (measured in reports/lint-vs-hadolint.md).  Anything :func:`parse_fast` does not take
(``--help``, a bad value, an unknown option) goes to click, so messages and help are click's.
"""

from __future__ import annotations

import os
import sys

from imgopt.formats import ALIASES as FORMATTER_ALIASES
from imgopt.formats import choices

SEVERITY_CHOICES = ("error", "warning", "info", "style", "ignore", "none")
FORMATS = tuple(choices("lint"))  # the output layer's table, then hadolint's names for ours
ALIASES = FORMATTER_ALIASES["lint"]

# (flags, parameter, kind, choices, metavar, help); kind: flag | value | multi | choice
OPTIONS = (
    (("-f", "--format"), "fmt", "choice", FORMATS, None,
     "Output format (default: tty; hadolint's gitlab_codeclimate is codeclimate)."),
    (("-o", "--output"), "output", "value", None, "FILE", "Write the report to FILE (atomically)."),
    (("--no-color",), "no_color", "flag", None, None,
     "No ANSI colours (also: NO_COLOR set, or output not a terminal)."),
    (("-c", "--config"), "config_path", "value", None, "FILE",
     "Configuration file: imgopt's (with a lint: section) or a hadolint .hadolint.yaml."),
    (("--ignore",), "ignore", "multi", None, "RULE", "Ignore this rule (repeatable)."),
    (("--error",), "as_error", "multi", None, "RULE", "Report RULE as an error."),
    (("--warning",), "as_warning", "multi", None, "RULE", "Report RULE as a warning."),
    (("--info",), "as_info", "multi", None, "RULE", "Report RULE as info."),
    (("--style",), "as_style", "multi", None, "RULE", "Report RULE as style."),
    (("-t", "--failure-threshold"), "failure_threshold", "choice", SEVERITY_CHOICES, None,
     "Exit 1 only for findings at or above this severity (default: info)."),
    (("--no-fail",), "no_fail", "flag", None, None, "Exit 0 even with findings."),
    (("--trusted-registry",), "trusted_registry", "multi", None, "REGISTRY",
     "Allowed registry for FROM images (DL3026; repeatable, * wildcards)."),
    (("--require-label",), "require_label", "multi", None, "LABEL:TYPE",
     "Required label and its format: text, url, spdx, hash, rfc3339, semver, email."),
    (("--strict-labels",), "strict_labels", "flag", None, None, "Labels outside the label schema are findings."),
    (("--disable-ignore-pragma",), "disable_ignore_pragma", "flag", None, None,
     "Ignore '# hadolint ignore=' pragmas."),
    (("--file-path-in-report",), "file_path_in_report", "value", None, "NAME",
     "File name to report (for standard input, or a path as CI sees it)."),
    (("-V", "--verbose"), "verbose", "flag", None, None, "Say which configuration files were read."),
    (("--list-rules",), "list_rules", "flag", None, None, "List every rule (id, default severity, title) and exit."),
)

HELP = """Lint Dockerfiles: hadolint's DL rules, ShellCheck on RUN scripts, and cold-start rules (IMG1xx)
that say what slows image pulls down and what it costs.

DOCKERFILE "-" reads standard input; with no DOCKERFILE, ./Dockerfile.  Exit 1 when a finding is
at or above the failure threshold, 2 for unreadable input, else 0.  Rules: docs/lint-rules.md.
"""


def defaults() -> dict:
    out: dict = {"files": ()}
    for _, dest, kind, _, _, _ in OPTIONS:
        out[dest] = () if kind == "multi" else False if kind == "flag" else None
    return out


def parse_fast(argv: list[str]) -> dict | None:
    """``imgopt lint`` arguments as the click command would take them, or None when click should
    see them (help, errors, forms this parser does not handle)."""
    by_flag = {f: opt for opt in OPTIONS for f in opt[0]}
    params = defaults()
    multi: dict[str, list[str]] = {}
    files: list[str] = []
    i, only_files = 0, False
    while i < len(argv):
        a = argv[i]
        i += 1
        if only_files or a == "-" or not a.startswith("-"):
            files.append(a)
            continue
        if a == "--":
            only_files = True
            continue
        value = None
        if a.startswith("--"):
            name, eq, v = a.partition("=")
            value = v if eq else None
        elif len(a) > 2:  # -fjson
            name, value = a[:2], a[2:]
        else:
            name = a
        opt = by_flag.get(name)
        if opt is None:
            return None
        _, dest, kind, choices, _, _ = opt
        if kind == "flag":
            if value is not None:
                return None
            params[dest] = True
            continue
        if value is None:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
        if choices is not None and value not in choices:
            return None
        if kind == "multi":
            multi.setdefault(dest, []).append(value)
        else:
            params[dest] = value
    for dest, vals in multi.items():
        params[dest] = tuple(vals)
    params["files"] = tuple(files)
    return params


def run(p: dict) -> int:
    """Lint with parsed parameters ``p``; the exit code (ImgoptError for bad input)."""
    from imgopt.errors import BadInput
    from imgopt.lint.config import LABEL_TYPES, build
    from imgopt.lint.model import check_severity

    if p["list_rules"]:
        from imgopt.lint.rules import load

        sys.stdout.write("".join(f"{r.id:8} {r.severity:8} {r.title}\n" for r in load()))
        return 0
    cfg = build(p["config_path"])
    cfg.ignored |= {r.strip().upper() for r in p["ignore"]}
    for sev, key in (("error", "as_error"), ("warning", "as_warning"), ("info", "as_info"), ("style", "as_style")):
        for c in p[key]:
            cfg.overrides[c.strip().upper()] = sev
    if p["failure_threshold"]:
        cfg.failure_threshold = check_severity(p["failure_threshold"])
    if p["no_fail"]:
        cfg.no_fail = True
    cfg.trusted_registries += list(p["trusted_registry"])
    for item in p["require_label"]:
        name, _, typ = item.partition(":")
        if typ not in LABEL_TYPES:
            raise BadInput(f"--require-label {item}", f"type must be one of {', '.join(t for t in LABEL_TYPES if t)}")
        cfg.label_schema[name] = typ or "text"
    if p["strict_labels"]:
        cfg.strict_labels = True
    if p["disable_ignore_pragma"]:
        cfg.disable_ignore_pragma = True
    if p["verbose"]:
        sys.stderr.write("imgopt: configuration: " + (", ".join(cfg.sources) or "defaults") + "\n")

    from imgopt.lint import lint_paths

    paths = list(p["files"])
    if not paths:
        if not os.path.isfile("Dockerfile"):
            raise BadInput("imgopt lint", "no DOCKERFILE given and no ./Dockerfile")
        paths = ["Dockerfile"]
    if paths.count("-") > 1:
        raise BadInput("-", "standard input can be read once")
    result = lint_paths(paths, cfg, report_name=p["file_path_in_report"])

    from imgopt.formats import Format, RenderOptions, emit, renderer

    fmt = ALIASES.get(p["fmt"] or "tty", p["fmt"] or "tty")
    output = p["output"]
    color = (fmt == "tty" and not p["no_color"] and not output and "NO_COLOR" not in os.environ
             and sys.stdout.isatty())
    text = renderer("lint", Format(fmt))(result, RenderOptions(color=color))
    if text or output:
        emit(text, output)
    for note in result.notes:
        sys.stderr.write(f"imgopt: note: {note}\n")
    return 1 if result.failed and not cfg.no_fail else 0


def _click_command():
    import click

    from imgopt.cli import handle_errors

    @handle_errors
    def callback(**kw):
        code = run(kw)
        if code:
            sys.exit(code)

    params = [click.Argument(["files"], nargs=-1, metavar="[DOCKERFILE]...")]
    for flags, dest, kind, values, metavar, help_ in OPTIONS:
        decls = list(flags) + [dest]
        if kind == "flag":
            params.append(click.Option(decls, is_flag=True, default=False, help=help_))
        elif kind == "multi":
            params.append(click.Option(decls, multiple=True, metavar=metavar, help=help_))
        elif kind == "choice":
            params.append(click.Option(decls, type=click.Choice(list(values)), default=None, help=help_))
        else:
            params.append(click.Option(decls, default=None, metavar=metavar, help=help_))
    return click.Command("lint", params=params, callback=callback, help=HELP,
                         short_help="Lint Dockerfiles: hadolint rules, ShellCheck, cold start.",
                         context_settings={"help_option_names": ["-h", "--help"]})


_COMMAND = None


def __getattr__(name: str):
    """``lint``, the click command, built (and click imported) on first access."""
    global _COMMAND
    if name == "lint":
        if _COMMAND is None:
            _COMMAND = _click_command()
        return _COMMAND
    raise AttributeError(f"module 'imgopt.lint.cli' has no attribute {name!r}")


__all__ = ["OPTIONS", "parse_fast", "run", "lint"]  # noqa: F822  (lint: built on first use, __getattr__)
