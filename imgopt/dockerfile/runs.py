"""The shell script a RUN instruction runs, with each command tied to its Dockerfile line.

Shell form: the instruction's lines as the shell gets them (keyword and flags
blanked so columns stay, comment lines BuildKit drops left out, heredoc bodies
after the command line); ``RUN <<EOF`` alone: the heredoc body is the script.
Exec form (``RUN ["sh", "-c", "..."]``): one command made of the array.
"""

from __future__ import annotations

import re

from imgopt.dockerfile.parser import Dockerfile, Instruction, _split_flags, _WS, parse_heredoc_word
from imgopt.dockerfile.shell import Script, parse_shell

_NON_POSIX = ("pwsh", "powershell", "cmd")


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def run_script(df: Dockerfile, ins: Instruction) -> Script:
    """The script of a RUN (or of an ONBUILD RUN's trigger), parsed, with Command.line set."""
    cached = getattr(ins, "_script", None)
    if cached is not None:
        return cached
    text, line_map = script_text(df, ins)
    script = parse_shell(text)
    script.line_map = line_map
    for c in script.commands:
        c.line = script.line_at(c.start)
    ins._script = script  # type: ignore[attr-defined]
    return script


def script_text(df: Dockerfile, ins: Instruction) -> tuple[str, list[int]]:
    """(script, physical line of each script line)."""
    if ins.exec_form is not None:
        return " ".join(_quote(w) for w in ins.exec_form), [ins.start_line]
    if ins.heredocs:
        first = parse_heredoc_word(ins.args.strip())
        if first is not None and first.name == ins.heredocs[0].name:
            doc = ins.heredocs[0]
            body = doc.content
            n = max(1, body.count("\n"))
            return body, [doc.start_line + k for k in range(n)]
    lines = ins.lines
    if not lines or not df.lines or lines[-1] > len(df.lines):
        return ins.args, [ins.start_line]  # an ONBUILD trigger (no lines of its own): its text
    cont = re.compile(re.escape(df.escape) + r"[ \t]*$")
    pieces = [cont.sub("", df.lines[n - 1]) for n in lines]
    # blank the keyword and flags (they may run over several lines)
    joined = "".join(pieces)
    stripped = joined.lstrip()
    lead = len(joined) - len(stripped)
    parts = _WS.split(stripped.strip(), maxsplit=1)
    if len(parts) > 1:
        _, remaining = _split_flags(parts[1])
        args_at = lead + len(stripped.rstrip()) - len(remaining.rstrip())
    else:
        args_at = len(joined)
    out, pos = [], 0
    for p in pieces:
        end = pos + len(p)
        if args_at >= end:
            out.append(" " * len(p))
        elif args_at > pos:
            k = args_at - pos
            out.append(" " * k + p[k:])
        else:
            out.append(p)
        pos = end
    text = "\\\n".join(out)
    line_map = list(lines)
    if ins.heredocs:
        for doc in ins.heredocs:
            text += "\n" + doc.raw + doc.name
            line_map.extend(range(doc.start_line, doc.end_line + 1))
    return text, line_map


def is_posix_shell(shell: list[str] | None) -> bool:
    """Whether a SHELL (exec form) is a POSIX-like shell whose scripts this reader understands."""
    if not shell:
        return True
    first = shell[0].lower().rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return not any(first.startswith(n) for n in _NON_POSIX)


__all__ = ["run_script", "script_text", "is_posix_shell"]
