"""Parse Dockerfiles the way BuildKit does (moby/buildkit ``frontend/dockerfile/parser``).

Parser directives (``# syntax=``, ``# escape=``), whole-line comments, line
continuations (comment and blank lines inside a continuation are skipped),
heredocs (``<<EOF``, ``<<-EOF``, quoted names, several on one line), builder
flags (``--mount=...``, ``--from=...``), JSON (exec) form vs shell form,
stages.  :func:`parse_dockerfile` never raises on odd input: unknown
instructions are kept (``known=False``) and everything suspicious becomes a
:class:`Diagnostic` in :attr:`Dockerfile.diagnostics`.  Variables are not
substituted here; the raw text is kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from imgopt.errors import BadInput

# ---------------------------------------------------------------- constants

KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
#: instructions that always make a filesystem layer
LAYER_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: instructions that may carry heredocs
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: instructions whose arguments may be a JSON array (parseMaybeJSON / parseMaybeJSONToList)
JSON_INSTRUCTIONS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]*)$", re.S)
_WS = re.compile(r"[\t\v\f\r ]+")


# ---------------------------------------------------------------- model

# Diagnostic codes (documented as lint rules under imgopt/lint/rules/)
UNKNOWN_INSTRUCTION = "IMG001"
BEFORE_FROM = "IMG002"
UNTERMINATED_HEREDOC = "IMG003"
BAD_DIRECTIVE = "IMG004"
NO_FROM = "IMG005"
MALFORMED_FROM = "IMG006"
DUPLICATE_STAGE = "IMG007"


@dataclass(frozen=True)
class Diagnostic:
    """Something suspicious the parser met (it never raises): where, a stable code, and what."""

    line: int  # 1-based physical line; 0 for the file as a whole
    column: int  # 1-based; 0 when unknown
    code: str  # one of the codes above
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message



@dataclass(frozen=True)
class Heredoc:
    """One here-document: ``<<[-]NAME`` and its body lines."""

    name: str
    raw: str  # body as written, each line followed by "\n"
    chomp: bool = False  # ``<<-``: leading tabs are removed from body and terminator
    expand: bool = True  # unquoted name: variables in the body are expanded
    fd: int = 0  # ``3<<EOF`` (only meaningful for RUN)
    start_line: int = 0  # first body line (1-based)
    end_line: int = 0  # the terminator line

    @property
    def content(self) -> str:
        """The body as the build sees it (``<<-`` strips leading tabs)."""
        if not self.chomp:
            return self.raw
        return "".join(line.lstrip("\t") + "\n" for line in self.raw.split("\n")[:-1])


@dataclass
class Instruction:
    """One Dockerfile instruction (a logical line plus its heredoc bodies)."""

    keyword: str  # upper-cased, as written otherwise ("RUNN" stays "RUNN")
    args: str  # after the keyword and flags; continuations joined, comment lines dropped
    flags: list[str]  # builder flags as words, quotes removed: ["--mount=type=cache,target=/x", "--link"]
    exec_form: list[str] | None  # the JSON array, when the arguments are one
    heredocs: list[Heredoc]
    start_line: int  # 1-based physical lines
    end_line: int
    stage_index: int | None  # None for instructions before the first FROM
    stage_name: str | None
    original: str = ""  # the logical line as written (keyword, flags and args)
    known: bool = True

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (``""`` for a bare ``--name``), or None."""
        vals = self.flag_values(name)
        return vals[-1] if vals else None

    def flag_values(self, name: str) -> list[str]:
        """All values of a repeatable flag such as ``--mount``."""
        out = []
        for f in self.flags:
            key, eq, val = f[2:].partition("=")
            if key.lower() == name.lower():
                out.append(val if eq else "")
        return out

    @property
    def text(self) -> str:
        """The instruction as one line of text (whitespace collapsed)."""
        return _norm(self.original)


@dataclass
class Stage:
    """A build stage: ``FROM base [AS name]`` and the instructions after it."""

    index: int
    name: str | None  # lower-cased, as BuildKit compares them
    base: str  # image reference as written (may contain ${ARG}), "scratch", or a stage name
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)
    base_stage: int | None = None  # index of the earlier stage named by ``base``


@dataclass
class Dockerfile:
    name: str
    directives: dict[str, str]
    escape: str
    instructions: list[Instruction]  # every instruction, FROMs included, in order
    stages: list[Stage]
    diagnostics: list[Diagnostic]

    @property
    def problems(self) -> list[str]:
        """The diagnostics as text ("line N: ...")."""
        return [str(d) for d in self.diagnostics]

    @property
    def global_instructions(self) -> list[Instruction]:
        """Instructions before the first FROM (normally global ARGs)."""
        return [i for i in self.instructions if i.stage_index is None]

    def stage_for_target(self, target: str | None = None) -> Stage:
        """The stage named (or numbered) ``target``; the last stage by default."""
        if not self.stages:
            raise BadInput(self.name, "has no FROM instruction, so no build stage")
        if target is None:
            return self.stages[-1]
        for st in self.stages:
            if st.name is not None and st.name == target.lower():
                return st
        if target.isdigit() and int(target) < len(self.stages):
            return self.stages[int(target)]
        names = ", ".join(st.name or str(st.index) for st in self.stages)
        raise BadInput(self.name, f"no build stage {target!r} (stages: {names})")

    def stage_chain(self, stage: Stage) -> list[Stage]:
        """``stage`` and the stages it is built FROM, the root first."""
        chain = [stage]
        while chain[-1].base_stage is not None and chain[-1].base_stage not in {s.index for s in chain}:
            chain.append(self.stages[chain[-1].base_stage])
        return chain[::-1]


# ---------------------------------------------------------------- lexing helpers


def _norm(text: str) -> str:
    """Collapse all whitespace runs to one space."""
    return " ".join(text.split())


def _physical_lines(text: str) -> list[str]:
    """Split like Go's bufio.ScanLines: on "\\n", dropping one trailing "\\r"."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _continuation(escape: str) -> re.Pattern[str]:
    return re.compile(re.escape(escape) + r"[ \t]*$")


def _shell_words_raw(line: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes (BuildKit RawQuotes)."""
    words, cur, quote, i, in_word = [], [], "", 0, False
    while i < len(line):
        ch = line[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(line):
                cur.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            in_word = True
            cur.append(ch)
            if ch == "\\" and i + 1 < len(line):
                cur.append(line[i + 1])
                i += 1
            elif ch in "'\"":
                quote = ch
        i += 1
    if in_word:
        words.append("".join(cur))
    return words


def _unquote(word: str) -> str:
    """Remove shell quotes and backslash escapes from one word."""
    out, quote, i = [], "", 0
    while i < len(word):
        ch = word[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
        elif ch == "\\" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 1
        elif ch in "'\"" and (not quote or quote == ch):
            quote = "" if quote else ch
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def parse_heredoc_word(word: str) -> Heredoc | None:
    """``<<EOF``, ``<<-'EOF'``, ``3<<"EOF"`` -> Heredoc (without body); else None."""
    m = _HEREDOC_WORD.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    if len(_shell_words_raw(rest)) != 1:
        return None
    name = _unquote(rest)
    if not name or any(c.isspace() for c in name):
        return None
    expand = not any(q in rest for q in "'\"")
    return Heredoc(name=name, raw="", chomp=m.group(2) == "-", expand=expand, fd=int(m.group(1) or 0))


def _split_flags(rest: str) -> tuple[list[str], str]:
    """Leading ``--flag[=value]`` words and the remaining text (extractBuilderFlags)."""
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(rest) and rest[pos].isspace():
            pos += 1
        if not rest.startswith("--", pos):
            return flags, rest[pos:]
        word, pos = _read_flag_word(rest, pos)
        if word == "--":
            return flags, rest[pos:].lstrip()
        flags.append(word)


def _read_flag_word(line: str, pos: int) -> tuple[str, int]:
    """One flag word starting at ``pos``: quotes removed, backslash escapes honoured."""
    out, quote = [], ""
    while pos < len(line):
        ch = line[pos]
        if not quote and ch.isspace():
            break
        if ch in "'\"" and (not quote or ch == quote):
            quote = "" if quote else ch
        elif ch == "\\" and pos + 1 < len(line):
            pos += 1
            out.append(line[pos])
        else:
            out.append(ch)
        pos += 1
    return "".join(out), pos


def _parse_json_array(args: str) -> list[str] | None:
    """The JSON array of strings ``args`` is, or None (then it is shell form)."""
    s = args.strip()
    if not s.startswith("["):
        return None
    try:
        val = json.loads(s, parse_constant=lambda c: None)
    except ValueError:
        return None
    if isinstance(val, list) and all(isinstance(v, str) for v in val):
        return val
    return None


# ---------------------------------------------------------------- parser


class _Parser:
    """One pass over the physical lines of a Dockerfile."""

    def __init__(self, text: str, name: str):
        self.name = name
        self.lines = _physical_lines(text)
        self.diagnostics: list[Diagnostic] = []
        self.directives: dict[str, str] = {}
        self._directive_lines: dict[str, int] = {}
        self.escape = "\\"
        self.pos = 0  # index of the next physical line
        self.instructions: list[Instruction] = []
        self.stages: list[Stage] = []

    def run(self) -> Dockerfile:
        self._directives()
        cont = _continuation(self.escape)
        while self.pos < len(self.lines):
            logical, start, end = self._logical_line(cont)
            if logical is not None:
                self._add(logical, start, end)
        if not self.stages:
            self._diag(0, 0, NO_FROM, "no FROM instruction")
        return Dockerfile(self.name, self.directives, self.escape, self.instructions, self.stages,
                          self.diagnostics)

    def _diag(self, line: int, column: int, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(line, column, code, message))

    def _directives(self) -> None:
        """Parser directives: ``# key=value`` lines at the very top."""
        for no, line in enumerate(self.lines, 1):
            m = _DIRECTIVE.match(line.strip())
            if not m or m.group(1).lower() not in KNOWN_DIRECTIVES:
                break
            key, value = m.group(1).lower(), m.group(2)
            if key in self.directives:
                self._diag(no, 1, BAD_DIRECTIVE, f"repeated '{key}' directive ignored")
                continue
            self.directives[key] = value
            self._directive_lines[key] = no
        esc = self.directives.get("escape")
        if esc is not None:
            if esc in ("\\", "`"):
                self.escape = esc
            else:
                self._diag(self._directive_lines.get("escape", 0), 1, BAD_DIRECTIVE,
                           f"invalid escape directive {esc!r} (must be \\ or `), using \\")

    def _logical_line(self, cont: re.Pattern[str]) -> tuple[str | None, int, int]:
        """Join one instruction's physical lines.

        Returns (text or None for a blank/comment line, first line, last line), 1-based.
        """
        start = end = self.pos + 1
        first = self.lines[self.pos].lstrip()
        self.pos += 1
        if not first or first.startswith("#"):
            return None, start, end
        parts = [cont.sub("", first)]
        more = cont.search(first) is not None
        while more and self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            if _is_comment(line) or not line.strip():
                continue  # BuildKit skips comment and (with a warning) empty lines here
            more = cont.search(line) is not None
            parts.append(cont.sub("", line))
            end = self.pos
        logical = "".join(parts)
        if not logical.strip():
            return None, start, end
        return logical, start, end

    def _add(self, logical: str, start: int, end: int) -> None:
        instr = self._instruction(logical, start, end)
        if instr.keyword in HEREDOC_INSTRUCTIONS and "<<" in logical:
            instr.heredocs = self._heredocs(logical, instr)
            if instr.heredocs:
                instr.end_line = instr.heredocs[-1].end_line
        if instr.keyword == "FROM":
            self._new_stage(instr)
        elif self.stages:
            self.stages[-1].instructions.append(instr)
        elif instr.keyword != "ARG":
            self._diag(instr.start_line, 1, BEFORE_FROM, f"{instr.keyword} before the first FROM")
        self.instructions.append(instr)

    def _instruction(self, logical: str, line_no: int, end: int) -> Instruction:
        parts = _WS.split(logical.strip(), maxsplit=1)
        keyword = parts[0].upper()
        flags, args = _split_flags(parts[1]) if len(parts) > 1 else ([], "")
        args = args.rstrip()
        known = keyword in KNOWN_INSTRUCTIONS
        if not known:
            self._diag(line_no, 1, UNKNOWN_INSTRUCTION, f"unknown instruction {parts[0]!r}")
        stage = self.stages[-1] if self.stages and keyword != "FROM" else None
        return Instruction(
            keyword=keyword, args=args, flags=flags,
            exec_form=_parse_json_array(args) if keyword in JSON_INSTRUCTIONS else None,
            heredocs=[], start_line=line_no, end_line=end,
            stage_index=stage.index if stage else None, stage_name=stage.name if stage else None,
            original=logical.strip(), known=known)

    def _heredocs(self, logical: str, instr: Instruction) -> list[Heredoc]:
        """Read the bodies of the heredocs named on the line, in order."""
        docs = []
        for word in _shell_words_raw(logical):
            spec = parse_heredoc_word(word)
            if spec is None:
                continue
            doc = self._heredoc_body(spec)
            if doc is None:
                self._diag(instr.start_line, 1, UNTERMINATED_HEREDOC, f"unterminated heredoc <<{spec.name}; "
                                     "read as plain text")
                return docs
            docs.append(doc)
        return docs

    def _heredoc_body(self, spec: Heredoc) -> Heredoc | None:
        """Consume body lines up to the terminator; None (nothing consumed) if there is none."""
        body: list[str] = []
        for i in range(self.pos, len(self.lines)):
            line = self.lines[i]
            if (line.lstrip("\t") if spec.chomp else line) == spec.name:
                first = self.pos + 1
                self.pos = i + 1
                return Heredoc(spec.name, "".join(b + "\n" for b in body), spec.chomp, spec.expand, spec.fd,
                               first, i + 1)
            body.append(line)
        return None

    def _new_stage(self, instr: Instruction) -> None:
        words = instr.args.split()
        base = words[0] if words else ""
        name = None
        if len(words) >= 3 and words[1].lower() == "as":
            name = words[2].lower()
        if not base or len(words) not in (1, 3) or (len(words) == 3 and name is None):
            self._diag(instr.start_line, 1, MALFORMED_FROM, f"malformed FROM {instr.args!r}")
        if name is not None and any(s.name == name for s in self.stages):
            self._diag(instr.start_line, 1, DUPLICATE_STAGE, f"stage name {name!r} is used twice")
        index = len(self.stages)
        instr.stage_index, instr.stage_name = index, name
        base_stage = next((s.index for s in reversed(self.stages) if s.name and s.name == base.lower()), None)
        self.stages.append(Stage(index, name, base, instr.flag("platform"), instr, [], base_stage))


def parse_dockerfile(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text`` (``name`` is used in messages).  Never raises on bad syntax."""
    return _Parser(text, name).run()



__all__ = [
    "Dockerfile", "Stage", "Instruction", "Heredoc", "Diagnostic", "parse_dockerfile", "parse_heredoc_word",
    "KNOWN_INSTRUCTIONS", "LAYER_INSTRUCTIONS",
]
