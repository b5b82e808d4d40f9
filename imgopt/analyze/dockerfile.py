"""Parse Dockerfiles and tie an image's layers to the lines that created them.

Two parts:

* :func:`parse_dockerfile` follows BuildKit's parser (moby/buildkit
  ``frontend/dockerfile/parser``): parser directives (``# syntax=``,
  ``# escape=``), whole-line comments, line continuations (comment and blank
  lines inside a continuation are skipped), heredocs (``<<EOF``, ``<<-EOF``,
  quoted names, several on one line), builder flags (``--mount=...``,
  ``--from=...``), JSON (exec) form vs shell form, stages.  It never raises on
  odd input: unknown instructions are kept (``known=False``) and everything
  suspicious goes to :attr:`Dockerfile.problems`.  Variables are not
  substituted; the raw text is kept.

* :func:`map_layers` aligns the instructions of the target stage (and of the
  stages it is built ``FROM``) with the image config's ``history``, from the
  end (base image entries come first), and checks that keywords and
  arguments agree.  Both the classic builder's ``/bin/sh -c #(nop) COPY
  dir:<hash> in /app`` and BuildKit's ``COPY app/ /app/ # buildkit`` formats
  are understood.  Each layer gets a :class:`LayerOrigin` with a confidence,
  or ``None``; what did not fit is listed in ``LayerMap.problems``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Iterable, Sequence

from imgopt.errors import BadInput
from imgopt.image.model import HistoryEntry

# ---------------------------------------------------------------- constants

KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
#: instructions that always make a filesystem layer
LAYER_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: instructions that make a layer only sometimes (classic builder: when the directory is new)
MAYBE_LAYER_INSTRUCTIONS = frozenset({"WORKDIR"})
#: instructions that may carry heredocs
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
#: instructions whose arguments may be a JSON array (parseMaybeJSON / parseMaybeJSONToList)
JSON_INSTRUCTIONS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]*)$", re.S)
_WS = re.compile(r"[\t\v\f\r ]+")
DEFAULT_SHELLS = (("/bin/sh", "-c"), ("cmd", "/S", "/C"))
_SHELL_PREFIX = re.compile(
    r"^\S*?(?:sh|bash|ash|dash|zsh|ksh|busybox sh|cmd|powershell|pwsh)(?:\.exe)?(?: [-/]\S+)*$", re.I)


# ---------------------------------------------------------------- model


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

    @property
    def creates_layer(self) -> bool:
        return self.keyword in LAYER_INSTRUCTIONS


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
    problems: list[str]

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
        self.problems: list[str] = []
        self.directives: dict[str, str] = {}
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
            self.problems.append("no FROM instruction")
        return Dockerfile(self.name, self.directives, self.escape, self.instructions, self.stages, self.problems)

    def _directives(self) -> None:
        """Parser directives: ``# key=value`` lines at the very top."""
        for no, line in enumerate(self.lines, 1):
            m = _DIRECTIVE.match(line.strip())
            if not m or m.group(1).lower() not in KNOWN_DIRECTIVES:
                break
            key, value = m.group(1).lower(), m.group(2)
            if key in self.directives:
                self.problems.append(f"line {no}: repeated '{key}' directive ignored")
                continue
            self.directives[key] = value
        esc = self.directives.get("escape")
        if esc is not None:
            if esc in ("\\", "`"):
                self.escape = esc
            else:
                self.problems.append(f"invalid escape directive {esc!r} (must be \\ or `), using \\")

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
            self.problems.append(f"line {instr.start_line}: {instr.keyword} before the first FROM")
        self.instructions.append(instr)

    def _instruction(self, logical: str, line_no: int, end: int) -> Instruction:
        parts = _WS.split(logical.strip(), maxsplit=1)
        keyword = parts[0].upper()
        flags, args = _split_flags(parts[1]) if len(parts) > 1 else ([], "")
        args = args.rstrip()
        known = keyword in KNOWN_INSTRUCTIONS
        if not known:
            self.problems.append(f"line {line_no}: unknown instruction {parts[0]!r}")
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
                self.problems.append(f"line {instr.start_line}: unterminated heredoc <<{spec.name}; "
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
            self.problems.append(f"line {instr.start_line}: malformed FROM {instr.args!r}")
        if name is not None and any(s.name == name for s in self.stages):
            self.problems.append(f"line {instr.start_line}: stage name {name!r} is used twice")
        index = len(self.stages)
        instr.stage_index, instr.stage_name = index, name
        base_stage = next((s.index for s in reversed(self.stages) if s.name and s.name == base.lower()), None)
        self.stages.append(Stage(index, name, base, instr.flag("platform"), instr, [], base_stage))


def parse_dockerfile(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text`` (``name`` is used in messages).  Never raises on bad syntax."""
    return _Parser(text, name).run()


# ---------------------------------------------------------------- history entries


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
    buildkit = text.endswith("# buildkit")
    if buildkit:
        text = text[: -len("# buildkit")].rstrip()
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


# ---------------------------------------------------------------- comparing steps


EXACT, SIMILAR, WEAK = "exact", "similar", "weak"
_SIMILAR_RATIO = 0.75


def _ratio(a: str, b: str) -> float:
    sm = SequenceMatcher(None, a, b, autojunk=False)
    if sm.real_quick_ratio() < _SIMILAR_RATIO or sm.quick_ratio() < _SIMILAR_RATIO:
        return 0.0
    return sm.ratio()


def _run_commands(instr: Instruction) -> list[str]:
    """The command strings a builder may have recorded for a RUN (normalized)."""
    if instr.exec_form is not None:
        return [_norm(" ".join(instr.exec_form))]
    cmds = [instr.args]
    if instr.heredocs:
        first = instr.heredocs[0]
        if parse_heredoc_word(instr.args.strip()) is not None:  # "RUN <<EOF": the body is the script
            cmds = [first.content, f"/dev/pipes/{first.name}"]
        else:  # "RUN python3 <<EOF": command line + bodies + terminators
            cmds = [instr.args + "".join("\n" + h.raw + h.name for h in instr.heredocs)]
    return [_norm(c) for c in cmds if c.strip()]


def _strip_shell(cmd: str, shells: Sequence[Sequence[str]]) -> tuple[str, bool]:
    """Remove a known shell prefix from a normalized command; (rest, whether one was found)."""
    for sh in shells:
        prefix = _norm(" ".join(sh))
        if prefix and cmd.startswith(prefix + " "):
            return cmd[len(prefix) + 1:], True
    return cmd, False


def _compare_run(instr: Instruction, step: BuildStep, shells: Sequence[Sequence[str]]) -> str:
    recorded = _norm(step.args)
    body, _ = _strip_shell(recorded, shells)
    best = WEAK
    for cmd in _run_commands(instr):
        if recorded == cmd or body == cmd:
            return EXACT
        if recorded.endswith(" " + cmd) and _SHELL_PREFIX.match(recorded[: -len(cmd) - 1]):
            return EXACT
        if _ratio(body, cmd) >= _SIMILAR_RATIO:
            best = SIMILAR
    return best


def _copy_parts(instr: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY/ADD instruction."""
    words = instr.exec_form if instr.exec_form is not None else instr.args.split()
    if not words:
        return [], ""
    return list(words[:-1]), words[-1]


def _recorded_copy(step: BuildStep) -> tuple[list[str] | None, str]:
    """(sources or None when unknown, destination) of a COPY/ADD history entry."""
    if step.builder == "classic" or re.match(r"^\w+:\S* in ", step.args):  # "dir:<hash> in /app"
        _, _, dest = step.args.rpartition(" in ")
        return None, dest.strip()
    words = [w for w in step.args.split() if not w.startswith("--")]
    return (words[:-1], words[-1]) if words else ([], "")


def _path_key(path: str) -> str:
    p = path.strip().strip("\"'")
    return p.rstrip("/") or "/" if p.startswith("/") else p.rstrip("/")


def _pattern_match(pattern: str, value: str) -> bool:
    """Does ``value`` fit ``pattern`` with $VAR / ${VAR} standing for anything?"""
    if "$" not in pattern:
        return False
    parts = re.split(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", pattern)
    return re.fullmatch(".*".join(re.escape(p) for p in parts), value, re.S) is not None


def _compare_copy(instr: Instruction, step: BuildStep) -> str:
    sources, dest = _copy_parts(instr)
    rec_sources, rec_dest = _recorded_copy(step)
    a, b = _path_key(dest), _path_key(rec_dest)
    if a == b:
        if rec_sources is None or [_path_key(s) for s in rec_sources] == [_path_key(s) for s in sources]:
            return EXACT
        return SIMILAR
    if _pattern_match(a, b) or (not a.startswith("/") and a not in (".", "") and b.endswith("/" + a)):
        return SIMILAR
    return WEAK


def _compare_path(instr: Instruction, step: BuildStep) -> str:
    a, b = _path_key(instr.args), _path_key(step.args)
    if a == b:
        return EXACT
    if _pattern_match(a, b) or (not a.startswith("/") and b.endswith("/" + a)):
        return SIMILAR
    return WEAK


def _compare_other(instr: Instruction, step: BuildStep) -> str:
    ours = _norm(instr.args)
    if instr.exec_form is not None:
        ours = "[" + " ".join(json.dumps(x) for x in instr.exec_form) + "]"
    theirs = _norm(step.args)
    if ours == theirs or ours.replace('"', "") == theirs.replace('"', ""):
        return EXACT
    return SIMILAR if _ratio(ours, theirs) >= _SIMILAR_RATIO else WEAK


def compare_step(instr: Instruction, step: BuildStep, shells: Sequence[Sequence[str]] = DEFAULT_SHELLS) -> str | None:
    """How well a history step fits an instruction: exact, similar, weak, or None (keywords differ)."""
    if step.keyword is None or step.keyword != instr.keyword:
        return None
    if instr.keyword == "RUN":
        return _compare_run(instr, step, shells)
    if instr.keyword in ("COPY", "ADD"):
        return _compare_copy(instr, step)
    if instr.keyword == "WORKDIR":
        return _compare_path(instr, step)
    return _compare_other(instr, step)


# ---------------------------------------------------------------- alignment


@dataclass(frozen=True)
class LayerOrigin:
    """Where one layer came from."""

    kind: str  # "instruction" (made by a Dockerfile line) or "base" (part of the FROM image)
    keyword: str  # RUN/COPY/ADD/WORKDIR..., or FROM for base layers
    line: int  # first physical line of the instruction (1-based)
    end_line: int  # last physical line (heredoc terminators included)
    text: str  # the instruction, whitespace collapsed
    confidence: str  # "exact", "similar", "weak" (only the keyword and position agree), or "base"
    stage_index: int
    stage_name: str | None
    base_image: str | None = None  # for base layers: the FROM image as written
    instruction: Instruction | None = field(default=None, compare=False, repr=False)
    history: HistoryEntry | None = field(default=None, compare=False, repr=False)

    @property
    def start_line(self) -> int:
        return self.line


class LayerMap(list):  # list[LayerOrigin | None]
    """map_layers' result: one entry per layer, plus ``problems`` (human-readable)."""

    def __init__(self, items: Iterable[LayerOrigin | None] = (), problems: list[str] | None = None,
                 stage: Stage | None = None):
        super().__init__(items)
        self.problems: list[str] = problems or []
        self.stage = stage


@dataclass
class _Step:
    """An instruction of the stage chain, with the shells it may have run under."""

    instr: Instruction
    shells: tuple[tuple[str, ...], ...]


# scores for the alignment
_MATCH = {EXACT: 4.0, SIMILAR: 3.0, WEAK: 0.5}
_EMPTY_LAYER_RUN = -1.0  # RUN/COPY/ADD recorded as empty (BuildKit drops empty diffs)
_SKIP_LAYER_INSTR = -1.0
_SKIP_OTHER_INSTR = -0.2
_SKIP_LAYER_ENTRY = -2.0
_SKIP_EMPTY_ENTRY = -0.2
_SCRATCH_BASE_LAYER = -2.0


def _chain_steps(df: Dockerfile, stage: Stage) -> list[_Step]:
    """The instructions that built ``stage`` (its FROM-ancestors' first), with the shell in effect."""
    steps = []
    shells: tuple[tuple[str, ...], ...] = DEFAULT_SHELLS
    for st in df.stage_chain(stage):
        for instr in st.instructions:
            if instr.keyword == "SHELL" and instr.exec_form:
                shells = (tuple(instr.exec_form),) + DEFAULT_SHELLS
            if instr.known:
                steps.append(_Step(instr, shells))
    return steps


def _match_score(step: _Step, bstep: BuildStep, entry: HistoryEntry) -> tuple[float, str] | None:
    kw = step.instr.keyword
    if not entry.empty_layer and kw not in LAYER_INSTRUCTIONS | MAYBE_LAYER_INSTRUCTIONS:
        return None
    conf = compare_step(step.instr, bstep, step.shells)
    if conf is None:
        return None
    score = _MATCH[conf]
    if entry.empty_layer and kw in LAYER_INSTRUCTIONS:
        score += _EMPTY_LAYER_RUN
    return score, conf


def _align(steps: list[_Step], history: list[HistoryEntry], scratch: bool
           ) -> tuple[int, dict[int, tuple[int, str]]]:
    """Align steps with the tail of history.

    Returns (number of history entries that belong to the base image,
    {history index: (step index, confidence)}).
    """
    parsed = [parse_created_by(h.created_by) for h in history]
    n, m = len(steps), len(history)
    neg = float("-inf")
    dp = [[neg] * (m + 1) for _ in range(n + 1)]
    move: list[list[tuple[str, str]]] = [[("", "")] * (m + 1) for _ in range(n + 1)]
    base_cost = 0.0
    for j in range(m + 1):  # the first j entries are the base image's
        dp[0][j] = base_cost
        move[0][j] = ("base", "")
        if j < m and scratch and not history[j].empty_layer:
            base_cost += _SCRATCH_BASE_LAYER
    for i in range(1, n + 1):
        st = steps[i - 1]
        skip_i = _SKIP_LAYER_INSTR if st.instr.keyword in LAYER_INSTRUCTIONS else _SKIP_OTHER_INSTR
        for j in range(m + 1):
            best, how = dp[i - 1][j] + skip_i, ("skip-instr", "")
            if j:
                h = history[j - 1]
                v = dp[i][j - 1] + (_SKIP_EMPTY_ENTRY if h.empty_layer else _SKIP_LAYER_ENTRY)
                if v > best:
                    best, how = v, ("skip-entry", "")
                ms = _match_score(st, parsed[j - 1], h)
                if ms is not None and dp[i - 1][j - 1] + ms[0] >= best:
                    best, how = dp[i - 1][j - 1] + ms[0], ("match", ms[1])
            dp[i][j], move[i][j] = best, how
    return _traceback(move, n, m)


def _traceback(move: list[list[tuple[str, str]]], i: int, j: int) -> tuple[int, dict[int, tuple[int, str]]]:
    pairs: dict[int, tuple[int, str]] = {}
    while i > 0:
        how, conf = move[i][j]
        if how == "match":
            pairs[j - 1] = (i - 1, conf)
            i, j = i - 1, j - 1
        elif how == "skip-instr":
            i -= 1
        else:
            j -= 1
    return j, pairs


def _origin_for(step: _Step, conf: str, entry: HistoryEntry) -> LayerOrigin:
    ins = step.instr
    return LayerOrigin("instruction", ins.keyword, ins.start_line, ins.end_line, ins.text, conf,
                       ins.stage_index if ins.stage_index is not None else -1, ins.stage_name,
                       None, ins, entry)


def _base_origin(root: Stage, entry: HistoryEntry) -> LayerOrigin:
    ins = root.from_instruction
    return LayerOrigin("base", "FROM", ins.start_line, ins.end_line, ins.text, "base", root.index, root.name,
                       root.base, ins, entry)


def _short(text: str | None, n: int = 70) -> str:
    t = _norm(text or "")
    return t if len(t) <= n else t[: n - 3] + "..."


def _layer_entries(history: list[HistoryEntry], n_layers: int, problems: list[str]) -> list[int | None]:
    """For each layer, the index of its history entry (None when history is short)."""
    real = [j for j, h in enumerate(history) if not h.empty_layer]
    if len(real) == n_layers:
        return list(real)
    problems.append(f"history lists {len(real)} layers but the image has {n_layers}; "
                    "aligned from the top layer")
    pad: list[int | None] = [None] * max(0, n_layers - len(real))
    return (pad + list(real))[-n_layers:] if n_layers else []


def _resolve(steps: list[_Step], history: list[HistoryEntry], root: Stage, base_len: int,
             pairs: dict[int, tuple[int, str]], problems: list[str]) -> dict[int, LayerOrigin | None]:
    """LayerOrigin for each non-empty history entry, and problems for what did not fit."""
    out: dict[int, LayerOrigin | None] = {}
    for j, h in enumerate(history):
        if h.empty_layer:
            continue
        if j < base_len:
            if root.base.lower() == "scratch":
                problems.append(f"history entry {j} ({_short(h.created_by)!r}) is a layer before the "
                                "first instruction, but the base is scratch")
                out[j] = None
            else:
                out[j] = _base_origin(root, h)
        elif j in pairs:
            k, conf = pairs[j]
            out[j] = _origin_for(steps[k], conf, h)
            if conf == WEAK:
                problems.append(f"line {steps[k].instr.start_line}: {steps[k].instr.keyword} only weakly matches "
                                f"history entry {j} ({_short(h.created_by)!r}); the Dockerfile may have changed")
        else:
            out[j] = None
            problems.append(f"history entry {j} ({_short(h.created_by)!r}) matches no Dockerfile instruction")
    matched = {k for k, _ in pairs.values()}
    for k, st in enumerate(steps):
        if st.instr.keyword in LAYER_INSTRUCTIONS and k not in matched:
            problems.append(f"line {st.instr.start_line}: {_short(st.instr.text, 50)!r} has no layer in the image")
    return out


def _matches_at_all(steps: list[_Step], pairs: dict[int, tuple[int, str]]) -> tuple[int, int]:
    """(layer instructions matched exactly or similarly, layer instructions)."""
    layer_steps = [k for k, st in enumerate(steps) if st.instr.keyword in LAYER_INSTRUCTIONS]
    good = {k for k, conf in pairs.values() if conf in (EXACT, SIMILAR)}
    return sum(1 for k in layer_steps if k in good), len(layer_steps)


def map_layers(dockerfile: Dockerfile, history: list[HistoryEntry], n_layers: int,
               target: str | None = None) -> LayerMap:
    """Tie each of an image's ``n_layers`` layers to the Dockerfile line that made it.

    ``history`` is the image config's history (``ImageConfig.history``).
    Returns one :class:`LayerOrigin` or None per layer, bottom first; the
    result's ``problems`` says what did not fit.  When the Dockerfile does
    not describe the image at all (fewer than half of its RUN/COPY/ADD
    instructions found), every entry is None.
    """
    stage = dockerfile.stage_for_target(target)
    root = dockerfile.stage_chain(stage)[0]
    steps = _chain_steps(dockerfile, stage)
    history = list(history)
    problems: list[str] = []
    base_len, pairs = _align(steps, history, root.base.lower() == "scratch")
    good, total = _matches_at_all(steps, pairs)
    if total and good * 2 < total:
        problems.append(f"{dockerfile.name} does not match this image: {good} of {total} RUN/COPY/ADD "
                        f"instructions of stage {stage.name or stage.index} found in its history")
        return LayerMap([None] * n_layers, problems, stage)
    by_entry = _resolve(steps, history, root, base_len, pairs, problems)
    layer_entries = _layer_entries(history, n_layers, problems)
    return LayerMap([by_entry.get(j) if j is not None else None for j in layer_entries], problems, stage)


__all__ = [
    "Dockerfile", "Stage", "Instruction", "Heredoc", "BuildStep", "LayerOrigin", "LayerMap",
    "parse_dockerfile", "parse_created_by", "compare_step", "map_layers", "parse_heredoc_word",
]
