"""The one output layer: every command's typed result, rendered in the format asked for.

A command builds a typed result (a dataclass with ``to_json()``) and hands it
to :func:`render` with the result's *kind* and the ``--format`` the user
chose.  Which function renders which (kind, format) is one table,
:data:`FORMATTERS`, of ``"module:function"`` strings imported only when used,
so a command pays only for the formatter it prints with (``imgopt lint``
must not import the image stack to print SARIF).

A renderer is ``fn(result, options: RenderOptions) -> str`` and lives in a
small module of this package, one per format (``imgopt/formats/sarif.py``),
or one per kind for the long human formats (``imgopt/formats/text/<kind>.py``).

To add a format: write the module, add one line per kind it serves to
:data:`FORMATTERS`; the CLI's ``--format`` choices come from :func:`choices`.

Layout: :mod:`imgopt.formats.json` renders every kind (``to_json()``),
:mod:`imgopt.formats.jsonl` the kinds made of records; ``text/<kind>.py``,
``markdown/<kind>.py`` and ``html/<kind>.py`` (+ its jinja2 template) the human forms;
:mod:`imgopt.formats.cells` the table-cell helpers they share.  Each table
entry's comment names the command and the result type it renders.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable


class Format(str, Enum):
    """Every output format imgopt knows (not every kind has every format)."""

    TEXT = "text"
    TTY = "tty"
    JSON = "json"
    JSONL = "jsonl"
    MARKDOWN = "markdown"
    HTML = "html"
    SARIF = "sarif"
    JUNIT = "junit"
    CHECKSTYLE = "checkstyle"
    GNU = "gnu"
    CODECLIMATE = "codeclimate"
    GITHUB = "github"


@dataclass
class RenderOptions:
    """What a renderer may need beyond the result (each ignores what it does not use)."""

    color: bool = False  # ANSI colour (text/tty on a terminal, unless --no-color)
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific switches (e.g. details, timeline)


Renderer = Callable[[Any, RenderOptions], str]

# kind -> format -> "module:function".  Kinds are the result types of the commands.
FORMATTERS: dict[str, dict[str, str]] = {
    "inspection": {  # imgopt inspect: imgopt.image.inspect.InspectResult
        "text": "imgopt.formats.text.inspection:render",
        "json": "imgopt.formats.json:render",
    },
    "analysis": {  # imgopt analyze: imgopt.analyze.result.AnalysisResult
        "text": "imgopt.formats.text.analysis:render",
        "json": "imgopt.formats.json:render",
        "markdown": "imgopt.formats.markdown.analysis:render",
    },
    "trace": {  # imgopt trace: imgopt.trace.result.TraceResult (JSON: its access profile)
        "text": "imgopt.formats.text.trace:render",
        "json": "imgopt.formats.json:render",
    },
    "minify": {  # imgopt minify / slim: imgopt.minify.result.MinifyResult
        "text": "imgopt.formats.text.minify:render",
        "json": "imgopt.formats.json:render",
    },
    "removed": {  # imgopt minify --removed FILE: imgopt.minify.result.RemovedFiles
        "json": "imgopt.formats.json:render",
    },
    "kept": {  # imgopt minify --kept FILE: imgopt.minify.result.KeptFiles
        "json": "imgopt.formats.json:render",
    },
    "simulation": {  # imgopt simulate: imgopt.simulate.result.SimulationResult
        "text": "imgopt.formats.text.simulation:render",
        "json": "imgopt.formats.json:render",
        "markdown": "imgopt.formats.markdown.simulation:render",
    },
    "scan": {  # imgopt scan / scan merge: imgopt.scan.result.ScanResult
        "text": "imgopt.formats.text.scan:render",
        "json": "imgopt.formats.json:render",
        "jsonl": "imgopt.formats.jsonl:render",
        "markdown": "imgopt.formats.markdown.scan:render",
        "html": "imgopt.formats.html.scan:render",
    },
    "cache": {  # imgopt cache info / prune: imgopt.cache.result.CacheInfo
        "text": "imgopt.formats.text.cache:render",
        "json": "imgopt.formats.json:render",
    },
    "calibration": {  # imgopt calibrate: imgopt.simulate.calibrate.CalibrationResult (the profile itself is YAML)
        "text": "imgopt.formats.text.calibration:render",
    },
    "lint": {  # imgopt lint (findings protocol: imgopt/formats/findings.py)
        "tty": "imgopt.formats.tty:render_findings",
        "json": "imgopt.formats.json:render",
        "sarif": "imgopt.formats.sarif:render_findings",
        "checkstyle": "imgopt.formats.checkstyle:render_findings",
        "junit": "imgopt.formats.junit:render_findings",
        "gnu": "imgopt.formats.gnu:render_findings",
        "codeclimate": "imgopt.formats.codeclimate:render_findings",
        "markdown": "imgopt.formats.markdown.lint:render_findings",
        "github": "imgopt.formats.github:render_findings",
    },
    "gate": {  # imgopt gate: imgopt.gate.result.GateResult (also a findings result: its failed checks' places)
        "text": "imgopt.formats.text.gate:render",
        "json": "imgopt.formats.json:render",
        "markdown": "imgopt.formats.markdown.gate:render",
        "junit": "imgopt.formats.junit:render_gate",
        "github": "imgopt.formats.github:render_gate",
        "codeclimate": "imgopt.formats.codeclimate:render_findings",
    },
    "report": {  # imgopt report: imgopt.report.result.ReportResult
        "html": "imgopt.formats.html.report:render",
        "markdown": "imgopt.formats.markdown.report:render",
        "json": "imgopt.formats.json:render",
    },
}


# kind -> other name -> format: names other tools use for one of ours (hadolint's gitlab_codeclimate).
ALIASES: dict[str, dict[str, str]] = {
    "lint": {"gitlab_codeclimate": "codeclimate"},
}


def choices(kind: str) -> list[str]:
    """The formats ``kind`` can be rendered in, in table order, then its aliases (for click.Choice)."""
    try:
        return list(FORMATTERS[kind]) + list(ALIASES.get(kind, {}))
    except KeyError:
        raise KeyError(f"no formatters registered for result kind {kind!r}") from None


def renderer(kind: str, fmt: str | Format) -> Renderer:
    """The function that renders ``kind`` as ``fmt`` (imported on first use)."""
    fmt = ALIASES.get(kind, {}).get(str(fmt), fmt)
    fmt = Format(fmt).value
    try:
        target = FORMATTERS[kind][fmt]
    except KeyError:
        have = ", ".join(FORMATTERS.get(kind, {})) or "none"
        from imgopt.errors import BadInput

        raise BadInput(f"--format {fmt}", f"not available for {kind} (available: {have})") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def render(kind: str, fmt: str | Format, result: Any, options: RenderOptions | None = None) -> str:
    """``result`` as text in format ``fmt``; always ends with a newline."""
    text = renderer(kind, fmt)(result, options or RenderOptions())
    return text if text.endswith("\n") else text + "\n"


def emit(text: str, output: str | None = None) -> None:
    """Write rendered text to ``output`` atomically, or to standard output when None (or '-')."""
    if output and output != "-":
        from imgopt.atomic import write_text

        write_text(output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


__all__ = ["Format", "RenderOptions", "FORMATTERS", "ALIASES", "choices", "renderer", "render", "emit"]
