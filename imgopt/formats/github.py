"""GitHub Actions workflow commands: ``::error file=F,line=N,title=T::message`` per finding, so the
failures show as annotations on the Dockerfile lines of a pull request.  Lint findings map their
severity (error, warning, else notice); every gate finding is an error.  (The gate's Markdown step
summary is written by the command: ``$GITHUB_STEP_SUMMARY``.)"""

from __future__ import annotations

from imgopt.formats import RenderOptions

LEVEL = {"error": "error", "warning": "warning", "info": "notice", "style": "notice"}


def _data(s: str) -> str:
    """Escape a workflow command's message (GitHub's toolkit: %, CR, LF)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    """Escape a workflow command's property value (also : and ,)."""
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, file: str | None = None, line: int = 0, end_line: int = 0,
            title: str = "") -> str:
    props = []
    if file:
        props.append(f"file={_prop(file)}")
        if line:
            props.append(f"line={line}")
            if end_line and end_line > line:
                props.append(f"endLine={end_line}")
    if title:
        props.append(f"title={_prop(title)}")
    return f"::{level} {','.join(props)}::{_data(message)}" if props else f"::{level}::{_data(message)}"


def render_findings(result, options: RenderOptions) -> str:
    lines = [command(LEVEL.get(f.severity, "notice"), f.message, f.file if f.file != "-" else None, f.line,
                     getattr(f, "end_line", 0), f.code) for f in result.findings()]
    return "\n".join(lines) + ("\n" if lines else "")


def render_gate(result, options: RenderOptions) -> str:
    from imgopt.formats.text.gate import verdict

    lines = []
    for f in result.findings():
        file = f.file if f.file == result.dockerfile else None  # only a real file can carry an annotation
        lines.append(command("error", f.message, file, f.line, f.end_line, f"imgopt {f.code}"))
    lines.append(command("notice" if result.passed else "error", f"imgopt gate {result.image}: {verdict(result)}",
                         title="imgopt gate"))
    return "\n".join(lines) + "\n"
