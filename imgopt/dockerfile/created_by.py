"""What an image history entry's ``created_by`` says about the step that made it.

The one parser of ``created_by`` strings, for both builders: the classic
builder's ``/bin/sh -c #(nop) COPY dir:<hash> in /app`` and ``|2 A=1 B=2
/bin/sh -c make`` (build arguments first), and BuildKit's ``RUN /bin/sh -c
apt-get update # buildkit`` and ``COPY app/ /app/ # buildkit``.
:func:`parse_created_by` classifies an entry; :func:`instruction_text` gives
the Dockerfile-like line shown by ``imgopt inspect`` and ``imgopt analyze``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imgopt.dockerfile.parser import KNOWN_INSTRUCTIONS

_BUILDKIT_MARK = "# buildkit"
_DEFAULT_SHELL = "/bin/sh -c "


@dataclass(frozen=True)
class BuildStep:
    """What a history ``created_by`` string says about the step that made it."""

    keyword: str | None  # RUN, COPY, ...; None when unrecognisable (docker import, other tools)
    args: str  # for RUN: the command as executed (shell included); else the arguments
    builder: str  # "buildkit", "classic" or "unknown"
    build_args: tuple[str, ...] = ()  # the ``|N K=V`` prefix of RUN steps


def _strip_build_args(text: str) -> tuple[tuple[str, ...], str]:
    """``|2 A=1 B=2 cmd`` -> (("A=1", "B=2"), "cmd")."""
    m = re.match(r"^\|(\d+)\s+", text)
    if not m:
        return (), text
    n, rest, found = int(m.group(1)), text[m.end():], []
    while len(found) < n:
        m2 = re.match(r"([A-Za-z_][A-Za-z0-9_]*=\S*)\s*", rest)
        if not m2:
            break
        found.append(m2.group(1))
        rest = rest[m2.end():]
    return tuple(found), rest


def parse_created_by(created_by: str | None) -> BuildStep:
    """Classify a history entry's ``created_by`` (classic builder or BuildKit format)."""
    text = (created_by or "").strip()
    if not text:
        return BuildStep(None, "", "unknown")
    buildkit = text.endswith(_BUILDKIT_MARK)
    if buildkit:
        text = text[: -len(_BUILDKIT_MARK)].rstrip()
    m = re.match(r"^([A-Z]+)(?:\s+(.*))?$", text, re.S)
    if m and m.group(1) in KNOWN_INSTRUCTIONS:  # BuildKit: "RUN /bin/sh -c ...", "COPY a /b"
        keyword, rest = m.group(1), m.group(2) or ""
        build_args, rest = _strip_build_args(rest) if keyword == "RUN" else ((), rest)
        return BuildStep(keyword, rest, "buildkit", build_args)
    build_args, text = _strip_build_args(text)
    shell, nop, rest = text.partition("#(nop)")
    if nop:  # classic: "<shell> #(nop) KEYWORD args"
        word, _, args = rest.strip().partition(" ")
        keyword = word.upper()
        return BuildStep(keyword if keyword in KNOWN_INSTRUCTIONS else None, args.strip(), "classic", build_args)
    return BuildStep("RUN", text, "buildkit" if buildkit else "classic", build_args)


def instruction_text(created_by: str | None) -> str:
    """The Dockerfile-like instruction of a history entry, builder noise removed.

    ``/bin/sh -c #(nop) COPY dir:abc in /app`` -> ``COPY dir:abc in /app``;
    ``|1 X=y /bin/sh -c make`` and ``RUN /bin/sh -c make # buildkit`` -> ``RUN make``.
    Unrecognisable entries come back stripped but otherwise as they are.
    """
    step = parse_created_by(created_by)
    if step.keyword is None:
        return (created_by or "").strip()
    if step.keyword == "RUN":
        cmd = step.args
        return "RUN " + (cmd[len(_DEFAULT_SHELL):] if cmd.startswith(_DEFAULT_SHELL) else cmd)
    return f"{step.keyword} {step.args}".rstrip()


__all__ = ["BuildStep", "parse_created_by", "instruction_text"]
