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
from functools import cached_property

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

# Diagnostic codes (lint rules of the same ids; imgopt lint reports IMG002 as DL3061, IMG007 as DL3024)
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
    column: int = 1  # of the keyword (instructions may be indented)
    trigger: "Instruction | None" = None  # ONBUILD: the instruction it registers
    lines: list[int] = field(default_factory=list, repr=False)  # physical lines of the logical line

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

    @cached_property
    def words(self) -> list[str]:
        """The arguments as words, quotes and escapes removed (exec form: the array)."""
        if self.exec_form is not None:
            return list(self.exec_form)
        return [_unquote(w) for w in _shell_words_raw(self.args)]

    @cached_property
    def raw_words(self) -> list[str]:
        """The arguments as words with their quotes (for variable expansion)."""
        return _shell_words_raw(self.args)

    @cached_property
    def pairs(self) -> list[tuple[str, str]]:
        """ENV / LABEL ``key=value`` pairs (both syntaxes), ARG ``name[=default]`` (value "" without
        a default; see :attr:`arg_defaults`).  Quotes removed; raw values in :attr:`raw_pairs`."""
        return [(k, _unquote(v)) for k, v in self.raw_pairs]

    @cached_property
    def raw_pairs(self) -> list[tuple[str, str]]:
        return _name_values(self.keyword, self.args)

    @cached_property
    def arg_defaults(self) -> list[tuple[str, str | None]]:
        """ARG: (name, default as written, or None when there is none)."""
        out = []
        for w in _shell_words_raw(self.args):
            name, eq, default = w.partition("=")
            out.append((name, default if eq else None))
        return out


@dataclass(frozen=True)
class Comment:
    """A whole-line comment (where pragmas such as ``# hadolint ignore=...`` live)."""

    line: int
    text: str  # after the '#', stripped
    in_instruction: bool  # inside an instruction's line continuation


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
    """A parsed Dockerfile: instructions in order, stages, and what the parser found odd."""

    name: str
    directives: dict[str, str]
    escape: str
    instructions: list[Instruction]  # every instruction, FROMs included, in order
    stages: list[Stage]
    diagnostics: list[Diagnostic]
    comments: list[Comment] = field(default_factory=list)
    lines: list[str] = field(default_factory=list, repr=False)  # physical lines, "\r" removed

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


def _name_values(keyword: str, args: str) -> list[tuple[str, str]]:
    """BuildKit's parseNameVal: ``KEY name value`` (old form, ENV/LABEL) or ``name=value ...``.

    Keys are unquoted, values keep their quotes (they are expanded later)."""
    words = _shell_words_raw(args)
    if not words:
        return []
    if keyword == "ARG":
        return [(_unquote(n), d) for n, _, d in (w.partition("=") for w in words)]
    if "=" not in words[0]:
        parts = _WS.split(args.strip(), maxsplit=1)
        return [(parts[0], parts[1] if len(parts) > 1 else "")]
    out = []
    for w in words:
        k, _, v = w.partition("=")
        out.append((_unquote(k), v))
    return out


@dataclass(frozen=True)
class ImageRef:
    """An image reference as written in FROM: ``[registry/]path[:tag][@digest]``."""

    text: str
    registry: str | None  # the host when the first component looks like one (has "." or ":", or localhost)
    path: str  # repository path without the registry ("python", "bitnami/redis")
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """Registry and path, without tag and digest."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def repository(self) -> str:
        """The Docker Hub-normalised repository path ("python" -> "library/python")."""
        if self.registry in (None, "docker.io", "index.docker.io", "registry-1.docker.io") and "/" not in self.path:
            return "library/" + self.path
        return self.path


def split_image(ref: str) -> ImageRef:
    """Split an image reference the way the Docker reference grammar does."""
    rest, _, digest = ref.partition("@")
    registry = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    tag = None
    head, colon, tail = rest.rpartition(":")
    if colon and "/" not in tail:
        rest, tag = head, tail
    return ImageRef(ref, registry, rest, tag, digest or None)


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
        self.comments: list[Comment] = []
        self._phys: list[int] = []  # physical lines of the logical line being read

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
                          self.diagnostics, self.comments, self.lines)

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
            if first:
                self.comments.append(Comment(start, first[1:].strip(), False))
            return None, start, end
        self._indent = len(self.lines[start - 1]) - len(first)
        self._phys = [start]
        parts = [cont.sub("", first)]
        more = cont.search(first) is not None
        while more and self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            if _is_comment(line) or not line.strip():
                if line.strip():
                    self.comments.append(Comment(self.pos, line.strip()[1:].strip(), True))
                continue  # BuildKit skips comment and (with a warning) empty lines here
            more = cont.search(line) is not None
            parts.append(cont.sub("", line))
            self._phys.append(self.pos)
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

    def _instruction(self, logical: str, line_no: int, end: int, nested: bool = False) -> Instruction:
        parts = _WS.split(logical.strip(), maxsplit=1)
        keyword = parts[0].upper()
        flags, args = _split_flags(parts[1]) if len(parts) > 1 else ([], "")
        args = args.rstrip()
        known = keyword in KNOWN_INSTRUCTIONS
        column = 1 if nested else getattr(self, "_indent", 0) + 1
        if not known:
            self._diag(line_no, column, UNKNOWN_INSTRUCTION, f"unknown instruction {parts[0]!r}")
        stage = self.stages[-1] if self.stages and keyword != "FROM" else None
        instr = Instruction(
            keyword=keyword, args=args, flags=flags,
            exec_form=_parse_json_array(args) if keyword in JSON_INSTRUCTIONS else None,
            heredocs=[], start_line=line_no, end_line=end,
            stage_index=stage.index if stage else None, stage_name=stage.name if stage else None,
            original=logical.strip(), known=known, column=column, lines=[] if nested else list(self._phys))
        if keyword == "ONBUILD" and args and not nested:
            instr.trigger = self._instruction(args, line_no, end, nested=True)
            if stage is None:
                instr.trigger.stage_index = instr.trigger.stage_name = None
        return instr

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
    "Dockerfile", "Stage", "Instruction", "Heredoc", "Diagnostic", "Comment", "ImageRef", "parse_dockerfile",
    "parse_heredoc_word", "split_image", "KNOWN_INSTRUCTIONS", "LAYER_INSTRUCTIONS",
]
