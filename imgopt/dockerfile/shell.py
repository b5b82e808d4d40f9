"""RUN bodies read as shell: the simple commands, their words, and how they are joined.

Lint rules need what a RUN runs: each simple command (``apt-get install -y
curl``) with its words, the operators between commands (``&&``, ``||``,
``;``, ``|``), the commands inside ``$(...)``, backticks, process
substitutions and ``sh -c '...'`` scripts, and the variables assigned on the
way.  :func:`parse_shell` gives that as a flat list of :class:`Command`.

The reader follows the POSIX token rules (XCU 2.3, 2.10) with bash's
extensions (``[[ ]]``, ``(( ))``, ``$'...'``, ``<(...)``, ``|&``, ``&>``,
arrays, ``function``), but it does not build a syntax tree: compound
commands (if/while/for/case, groups, subshells, function bodies) only matter
for where their simple commands start and end, so their reserved words are
read as separators.  That makes it total: any input -- unterminated quotes,
stray ``fi``, a PowerShell script -- yields a list of commands (what a token
view can see) and never an exception; :attr:`Script.errors` says what was
odd.  (PyPI ``bashlex`` was measured first: 1.06 s for the 665 RUNs of the
160-file corpus and 18 of them rejected, mostly ``case`` statements, which
it does not implement; see docs/lint.md.)

Word values follow hadolint's simplification so rules written against it
agree: quotes and escapes are removed, expansions are kept as ``${NAME}``
text (``$V`` -> ``${V}``, ``$(cmd)`` -> ``${cmd}``, backticks and
arithmetic -> ``${VAR}``).  :meth:`Word.resolve` expands variables from a
mapping when every part is known.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Mapping

# characters that are ordinary inside an unquoted word (the fast path)
_PLAIN = re.compile(r"[^\s|&;<>()\\'\"`$]+")
_DQ_PLAIN = re.compile(r'[^"\\$`]+')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=")
_SPECIAL_PARAM = re.compile(r"[0-9@*#?$!-]")
_REDIR = re.compile(r"(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?(<<<|<<-|<<|<>|<&|>>|>&|>\||&>>|&>|<|>)")
_OPS = ("&&", "||", ";;&", ";;", ";&", "|&", "|", ";", "&")
_BLANK = " \t\r"
_WORD_END = set(" \t\r\n|&;<>()")
_EXTGLOB = set("@!?*+")
#: reserved words that only separate commands for our purpose
_KEYWORDS = frozenset({"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "{", "}", "!",
                       "time", "coproc", "esac", "in"})
#: commands whose arguments start another command (wrapper name -> options taking a value)
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})


@dataclass(slots=True)
class Word:
    """One shell word."""

    raw: str  # as written
    value: str  # quotes removed, expansions as ${...} (hadolint's view)
    start: int  # offsets in the script
    end: int
    parts: tuple  # ("lit", text) | ("var", name, op, arg) | ("dyn",) -- for resolve()
    quoted: bool = False

    @property
    def literal(self) -> bool:
        """No expansion at all: :attr:`value` is exactly what the command receives."""
        return all(p[0] == "lit" for p in self.parts)

    @property
    def variables(self) -> list[str]:
        return [p[1] for p in self.parts if p[0] == "var"]

    def resolve(self, env: Mapping[str, str | None]) -> str | None:
        """The word's value with ``env``'s variables expanded; None when something is unknown."""
        out = []
        for p in self.parts:
            if p[0] == "lit":
                out.append(p[1])
            elif p[0] == "var":
                v = _expand_param(p[1], p[2], p[3], env)
                if v is None:
                    return None
                out.append(v)
            else:
                return None
        return "".join(out)


def _expand_param(name: str, op: str, arg: str, env: Mapping[str, str | None]) -> str | None:
    """``${name<op>arg}`` with ``env``; None when unknown (a name missing from ``env`` may be set by the
    base image, so even ``${X:-default}`` is unknown then)."""
    val = env.get(name)
    if val is None:
        return None
    literal_arg = arg if "$" not in arg else None
    if op == "":
        return val
    if op in (":-", ":="):
        return val or literal_arg
    if op in ("-", "="):
        return val
    if op == ":+":
        return literal_arg if val else ""
    if op == "+":
        return literal_arg
    return None


@dataclass(slots=True)
class Command:
    """One simple command."""

    words: list[Word]  # the command name and its arguments (after assignments)
    assignments: list[tuple[str, Word]]  # NAME=value prefixes
    redirects: list[tuple[str, Word | None]]  # (operator, target)
    start: int
    end: int
    op: str = ""  # operator before it in its list: "", ";", "&&", "||", "|", "&", "\n"
    pipeline: int = 0  # commands of one pipeline share this number
    nested: str = ""  # "", "$()", "``", "<()", "sh -c", "wrapper": where it was found
    line: int = 0  # physical Dockerfile line (set by the caller's line map)
    _flags: list | None = None

    @property
    def synthetic(self) -> bool:
        """Found by looking inside another command's arguments (sh -c, env, sudo...), which
        hadolint does not do."""
        return self.nested in ("sh -c", "wrapper")

    @property
    def name(self) -> str:
        """The command word's value ("" for a bare assignment or redirection)."""
        return self.words[0].value if self.words else ""

    @property
    def basename(self) -> str:
        n = self.name
        return n.rsplit("/", 1)[-1] if "/" in n else n

    @property
    def args(self) -> list[str]:
        return [w.value for w in self.words[1:]]

    # -- hadolint's view of flags: "--name[=v]" is flag "name", "-abc" is flags a, b, c
    @property
    def flags(self) -> list[tuple[str, int]]:
        """(flag, index into args) for every flag-looking argument."""
        if self._flags is not None:
            return self._flags
        out = []
        self._flags = out
        for i, a in enumerate(self.args):
            if a in ("-", "--") or not a.startswith("-"):
                continue
            if a.startswith("--"):
                out.append((a[2:].split("=", 1)[0], i))
            else:
                out.extend((ch, i) for ch in a[1:])
        return out

    def has_flag(self, *names: str) -> bool:
        return any(f in names for f, _ in self.flags)

    def count_flag(self, name: str) -> int:
        return sum(1 for f, _ in self.flags if f == name)

    def has_args(self, *values: str) -> bool:
        """Any argument equal to one of ``values`` (hadolint's cmdHasArgs)."""
        return any(a in values for a in self.args)

    def is_(self, name: str, *args: str) -> bool:
        """This command is ``name`` and (if given) has one of ``args``."""
        return self.name == name and (not args or self.has_args(*args))

    def args_no_flags(self, drop_values_of: tuple[str, ...] = ()) -> list[str]:
        """Arguments that are not flags, without the values of the flags named (hadolint's
        getArgsNoFlags . dropFlagArg): ``-t buster`` drops ``buster`` when "t" is named."""
        args = self.args
        flag_idx = {i for _, i in self.flags}
        drop = set()
        for f, i in self.flags:
            if f in drop_values_of and "=" not in args[i] and i + 1 < len(args):
                drop.add(i + 1)
        return [a for i, a in enumerate(args) if i not in flag_idx and i not in drop]

    def flag_values(self, name: str) -> list[str]:
        """The argument after each ``-name`` / ``--name`` (or the part after ``=``)."""
        args, out = self.args, []
        for f, i in self.flags:
            if f != name:
                continue
            a = args[i]
            if a.startswith("--") and "=" in a:
                out.append(a.split("=", 1)[1])
            elif i + 1 < len(args):
                out.append(args[i + 1])
        return out

    def arg_words(self) -> list[Word]:
        return self.words[1:]


@dataclass
class Script:
    """A parsed shell script."""

    text: str
    commands: list[Command] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what the reader found odd (it never fails)
    pipes: int = 0  # number of "|" / "|&" pipes
    assignments: list[tuple[str, Word, int]] = field(default_factory=list)  # (name, value, offset), in order
    pipeline: int = 0  # counter: commands of one pipeline share a number
    line_map: list[int] = field(default_factory=list)  # script line (0-based) -> physical Dockerfile line
    _starts: list[int] | None = None

    def line_at(self, offset: int) -> int:
        """The physical Dockerfile line of a script offset (line_map set by the caller; else 1-based)."""
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        k = bisect.bisect_right(self._starts, offset) - 1
        if self.line_map:
            return self.line_map[min(k, len(self.line_map) - 1)]
        return k + 1

    def names(self) -> list[str]:
        return [c.name for c in self.commands]

    def find(self, name: str, *args: str) -> list[Command]:
        return [c for c in self.commands if c.is_(name, *args)]

    def index(self, pred) -> int | None:
        return next((i for i, c in enumerate(self.commands) if pred(c)), None)


class _Reader:
    """One pass over the script text (see the module docstring)."""

    def __init__(self, text: str, script: Script, nested: str = "", base: int = 0):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.script = script
        self.nested = nested
        self.base = base  # offset of self.s in the top-level script
        self.heredocs: list[tuple[str, bool]] = []  # pending (delimiter, strip tabs)
        self.case_depth = 0

    # ---------------------------------------------------------------- lists

    def run(self, closer: str | None = None) -> None:
        """Read commands until EOF or an unmatched ``closer`` (``)``)."""
        op = ""
        pattern_mode = False  # reading case patterns ("a|b)")
        depth = 0  # subshell parentheses opened in this list
        while True:
            self._blanks()
            if self.i >= self.n:
                return
            c = self.s[self.i]
            if c == "#":
                self._comment()
                continue
            if c == "\n":
                self.i += 1
                self._read_heredocs()
                op = "\n" if op not in ("&&", "||", "|", "|&") else op
                continue
            if pattern_mode:
                if c in "(|":
                    self.i += 1
                elif c == ")":
                    self.i += 1
                    pattern_mode = False
                else:
                    w = self._word()
                    if w is None:
                        self.i += 1
                    elif w.value == "esac":
                        self.case_depth -= 1
                        pattern_mode = False
                continue
            if closer and c == closer and depth == 0:
                return
            if c == ")":
                self.i += 1
                if depth:
                    depth -= 1
                else:
                    self.script.errors.append(f"unmatched ')' at offset {self.base + self.i - 1}")
                continue
            if c == "(":
                if self.s.startswith("((", self.i):
                    self._arith_command()
                    continue
                self.i += 1
                depth += 1
                op = op if op in ("|", "|&", "&&", "||") else "("
                continue
            if c in "<>&" and not self.s.startswith("&&", self.i) and _REDIR.match(self.s, self.i):
                opr = None  # a redirection starts a command: "> file", "&> log"
            else:
                opr = self._operator()
            if opr:
                if opr in (";;", ";&", ";;&") and self.case_depth:
                    pattern_mode = True
                if opr in ("|", "|&"):
                    self.script.pipes += 1
                else:
                    self.script.pipeline += 1
                op = opr
                continue
            if self._command(op) == "case":
                pattern_mode = True
            op = ""

    def _command(self, op: str) -> str | None:
        """One simple command (or a reserved word).  Returns a keyword that changes the mode."""
        start = self.i
        at = len(self.script.commands)  # the command goes before those found inside its words
        words: list[Word] = []
        assigns: list[tuple[str, Word]] = []
        redirs: list[tuple[str, Word | None]] = []
        while True:
            self._blanks()
            if self.i >= self.n:
                break
            c = self.s[self.i]
            if c in "<>" and self.s.startswith("(", self.i + 1):
                w = self._word()  # process substitution <(...) as an argument
                if w is not None:
                    words.append(w)
                continue
            r = _REDIR.match(self.s, self.i) if c in "<>&0123456789{" else None
            if r and not self.s.startswith("&&", self.i):
                self._redirect(r, redirs)
                continue
            if c in "\n;&|)#":
                break
            if c == "(":
                if len(words) == 1 and not assigns and self._function_parens():
                    words = []  # "name() {": a function definition, not a command
                    continue
                break
            w = self._word()
            if w is None:
                self.i += 1
                continue
            if not words:
                if not assigns and not redirs and w.quoted is False and w.value in _KEYWORDS:
                    if w.value == "esac" and self.case_depth:
                        self.case_depth -= 1
                    if w.value == "time" and self._peek_word() == "-p":
                        self._blanks()
                        self._word()
                    return w.value
                if not assigns and not redirs and not w.quoted and w.value in ("for", "select"):
                    self._for_header()
                    return None
                if not assigns and not redirs and not w.quoted and w.value == "case":
                    self._case_header()
                    return "case"
                if not assigns and not redirs and not w.quoted and w.value == "function":
                    self._word()  # the name
                    self._function_parens()
                    return None
                if not assigns and not redirs and not w.quoted and w.value == "[[":
                    self._until_word("]]")
                    return None
                m = _ASSIGN.match(w.raw)
                if m:
                    name = m.group(1)
                    val = self._assignment_value(w, m.end())
                    assigns.append((name, val))
                    self.script.assignments.append((name, val, self.base + w.start))
                    continue
            words.append(w)
        if not words and not assigns and not redirs:
            return None
        cmd = Command(words, assigns, redirs, self.base + start, self.base + self.i, op, self.script.pipeline,
                      self.nested)
        self.script.commands.insert(at, cmd)
        self._unwrap(cmd)
        return None

    # ---------------------------------------------------------------- structure helpers

    def _for_header(self) -> None:
        self._blanks()
        if self.s.startswith("((", self.i):
            self._arith_command()
            return
        self._word()  # variable name
        if self._peek_word() == "in":
            self._word()
            while True:
                self._blanks()
                if self.i >= self.n or self.s[self.i] in ";\n&|)":
                    return
                if self._word() is None:
                    self.i += 1

    def _case_header(self) -> None:
        self._word()  # the subject
        while True:  # newlines may come before "in"
            self._blanks()
            if self.i < self.n and self.s[self.i] == "\n":
                self.i += 1
                continue
            break
        if self._peek_word() == "in":
            self._word()
        self.case_depth += 1

    def _until_word(self, end: str) -> None:
        """Skip tokens (for ``[[ ... ]]``) up to the word ``end``."""
        while self.i < self.n:
            self._blanks()
            if self.i >= self.n:
                return
            if self.s[self.i] in "\n;" and end == "]]":
                # [[ ]] does not span separators: tolerate a missing ]]
                if self.s[self.i] == ";":
                    return
            if self.s[self.i] in "()<>&|\n":
                self.i += 1
                continue
            w = self._word()
            if w is None:
                self.i += 1
            elif w.value == end:
                return

    def _function_parens(self) -> bool:
        j = self._skip_blanks(self.i)
        if j < self.n and self.s[j] == "(":
            k = self._skip_blanks(j + 1)
            if k < self.n and self.s[k] == ")":
                self.i = k + 1
                return True
        return False

    def _arith_command(self) -> None:
        """``(( expr ))``: skip to the matching ``))``."""
        depth, j = 0, self.i
        while j < self.n:
            ch = self.s[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.i = j + 1
                    return
            j += 1
        self.script.errors.append("unterminated (( ))")
        self.i = self.n

    def _unwrap(self, cmd: Command) -> None:
        """Commands that run other commands: ``sh -c 'script'`` and wrappers such as ``env``."""
        name = cmd.basename
        args = cmd.words[1:]
        if name == "busybox" and args and args[0].value not in SHELLS:
            name = "busybox-applet"
        elif name == "busybox" and args:
            args = args[1:]
        if name in SHELLS or name == "su":
            for k, w in enumerate(args):
                v = w.value
                if (v.startswith("-") and not v.startswith("--") and "c" in v[1:]) or v == "--command":
                    if k + 1 < len(args) and not args[k + 1].value.startswith("-"):
                        self._inner_script(args[k + 1])
                    return
                if name != "su" and not v.startswith("-"):
                    return  # "bash script.sh": no inline script
            return
        skip = _WRAPPERS.get(name)
        if skip is None or not args:
            return
        k = 0
        while k < len(args):
            v = args[k].value
            if v == "--":
                k += 1
                break
            if name == "env" and _ASSIGN.match(v):
                k += 1
                continue
            if v.startswith("-") and len(v) > 1:
                k += 2 if v in skip else 1
                continue
            break
        k += _WRAPPER_POSITIONALS.get(name, 0)
        if k < len(args):
            inner = Command(args[k:], [], [], cmd.start, cmd.end, cmd.op, cmd.pipeline, "wrapper")
            self.script.commands.append(inner)
            self._unwrap(inner)

    def _inner_script(self, w: Word) -> None:
        """The script of ``sh -c SCRIPT``: its commands join ours, placed at the word."""
        sub = Script(w.value, pipeline=self.script.pipeline + 1)
        _Reader(w.value, sub, "sh -c", 0).run()
        self.script.pipeline = sub.pipeline + 1
        for c in sub.commands:
            c.start = c.end = w.start
            c.nested = "sh -c"
        self.script.commands.extend(sub.commands)
        self.script.pipes += sub.pipes
        self.script.assignments.extend((n, v, w.start) for n, v, _ in sub.assignments)

    # ---------------------------------------------------------------- tokens

    def _blanks(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            ch = s[i]
            if ch in _BLANK:
                i += 1
            elif ch == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            else:
                break
        self.i = i

    def _skip_blanks(self, j: int) -> int:
        while j < self.n and self.s[j] in _BLANK:
            j += 1
        return j

    def _peek_nonblank(self) -> str:
        j = self._skip_blanks(self.i)
        return self.s[j] if j < self.n else ""

    def _peek_word(self) -> str | None:
        save, saved_cmds = self.i, len(self.script.commands)
        self._blanks()
        w = self._word() if self.i < self.n and self.s[self.i] not in _WORD_END else None
        self.i = save
        del self.script.commands[saved_cmds:]
        return w.value if w else None

    def _comment(self) -> None:
        j = self.s.find("\n", self.i)
        self.i = self.n if j < 0 else j

    def _operator(self) -> str | None:
        for op in _OPS:
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return op
        return None

    def _redirect(self, m: re.Match, redirs: list) -> None:
        op = m.group(2)
        self.i = m.end()
        if op in ("<&", ">&") and self.i < self.n and self.s[self.i] == "-":
            self.i += 1
            redirs.append((op, None))
            return
        self._blanks()
        target = self._word() if self.i < self.n and self.s[self.i] not in "\n;&|)" else None
        redirs.append((op, target))
        if op in ("<<", "<<-") and target is not None:
            self.heredocs.append((target.value, op == "<<-"))

    def _read_heredocs(self) -> None:
        """After a newline: skip the bodies of the here-documents started on that line."""
        while self.heredocs:
            delim, strip = self.heredocs.pop(0)
            while self.i < self.n:
                j = self.s.find("\n", self.i)
                line = self.s[self.i: self.n if j < 0 else j]
                self.i = self.n if j < 0 else j + 1
                if (line.lstrip("\t") if strip else line) == delim:
                    break
            else:
                self.script.errors.append(f"here-document {delim!r} not terminated")

    def _assignment_value(self, w: Word, eq_end: int) -> Word:
        """The value part of a ``NAME=value`` word (an array ``NAME=(...)`` included)."""
        if eq_end == len(w.raw) and self.i < self.n and self.s[self.i] == "(":
            j, depth = self.i, 0
            while j < self.n:
                if self.s[j] == "(":
                    depth += 1
                elif self.s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            text = self.s[self.i: j + 1]
            self.i = min(j + 1, self.n)
            return Word(text, text, w.end, self.i, (("dyn",),))
        raw = w.raw[eq_end:]
        # re-read the value part so its parts are its own
        sub = _Reader(raw, Script(raw), self.nested, 0)
        vw = sub._word() if raw else None
        if vw is None:
            return Word("", "", w.end, w.end, (("lit", ""),))
        return Word(vw.raw, vw.value, w.start + eq_end, w.end, vw.parts, vw.quoted)

    def _word(self) -> Word | None:
        """One word at self.i (None if there is none: an operator or the end)."""
        s, n = self.s, self.n
        start = self.i
        raw_start = start
        val: list[str] = []
        parts: list[tuple] = []
        lit: list[str] = []
        quoted = False

        def flush():
            if lit:
                parts.append(("lit", "".join(lit)))
                lit.clear()

        while self.i < n:
            c = s[self.i]
            if c in _WORD_END:
                if c == "(" and val and val[-1] and val[-1][-1] in _EXTGLOB:  # extglob @( ... )
                    text = self._balanced("(", ")")
                    val.append(text)
                    lit.append(text)
                    continue
                if c in "<>" and self.i + 1 < n and s[self.i + 1] == "(" and not val:
                    self.i += 2
                    self._nested_list(")", "<()")
                    val.append("${VAR}")
                    flush()
                    parts.append(("dyn",))
                    continue
                break
            m = _PLAIN.match(s, self.i)
            if m:
                t = m.group()
                val.append(t)
                lit.append(t)
                self.i = m.end()
                continue
            if c == "\\":
                if self.i + 1 < n:
                    nxt = s[self.i + 1]
                    self.i += 2
                    if nxt != "\n":
                        val.append(nxt)
                        lit.append(nxt)
                else:
                    self.i += 1
                continue
            if c == "'":
                quoted = True
                j = s.find("'", self.i + 1)
                if j < 0:
                    self.script.errors.append(f"unterminated ' at offset {self.base + self.i}")
                    j = n
                t = s[self.i + 1: j]
                val.append(t)
                lit.append(t)
                self.i = min(j + 1, n)
                continue
            if c == '"':
                quoted = True
                self.i += 1
                self._double_quoted(val, lit, parts, flush)
                continue
            if c == "`":
                self.i += 1
                self._backtick()
                val.append("${VAR}")
                flush()
                parts.append(("dyn",))
                continue
            if c == "$":
                self._dollar(val, lit, parts, flush)
                continue
            # any other character (e.g. a lone '#' inside a word) is ordinary
            val.append(c)
            lit.append(c)
            self.i += 1
        if self.i == raw_start:
            return None
        flush()
        return Word(s[raw_start:self.i], "".join(val), self.base + start, self.base + self.i,
                    tuple(parts) or (("lit", ""),), quoted)

    def _double_quoted(self, val, lit, parts, flush) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c == '"':
                self.i += 1
                return
            m = _DQ_PLAIN.match(s, self.i)
            if m:
                val.append(m.group())
                lit.append(m.group())
                self.i = m.end()
                continue
            if c == "\\":
                nxt = s[self.i + 1] if self.i + 1 < n else ""
                if nxt in '$`"\\':
                    val.append(nxt)
                    lit.append(nxt)
                    self.i += 2
                elif nxt == "\n":
                    self.i += 2
                else:
                    val.append("\\")
                    lit.append("\\")
                    self.i += 1
                continue
            if c == "`":
                self.i += 1
                self._backtick()
                val.append("${VAR}")
                flush()
                parts.append(("dyn",))
                continue
            if c == "$":
                self._dollar(val, lit, parts, flush)
                continue
            self.i += 1
        self.script.errors.append('unterminated "')

    def _dollar(self, val, lit, parts, flush) -> None:
        s, n = self.s, self.n
        j = self.i + 1
        nxt = s[j] if j < n else ""
        if nxt == "(":
            if s.startswith("((", j):
                text = self._balanced_from(j, "(", ")")
                val.append("${VAR}")
                flush()
                parts.append(("dyn",))
                return
            self.i = j + 1
            inner_start = self.i
            self._nested_list(")", "$()")
            inner = s[inner_start: max(inner_start, self.i - 1)]
            val.append("${" + " ".join(inner.split()) + "}")
            flush()
            parts.append(("dyn",))
            return
        if nxt == "{":
            text = self._balanced_from(j, "{", "}")
            inner = text[1:-1] if text.endswith("}") else text[1:]
            val.append("${" + inner + "}")
            flush()
            parts.append(_param_part(inner))
            return
        if nxt == "'":  # $'...' ANSI-C quoting
            k = j + 1
            out = []
            while k < n and s[k] != "'":
                if s[k] == "\\" and k + 1 < n:
                    out.append(_ANSI.get(s[k + 1], s[k + 1]))
                    k += 2
                else:
                    out.append(s[k])
                    k += 1
            self.i = min(k + 1, n)
            t = "".join(out)
            val.append(t)
            lit.append(t)
            return
        if nxt == '"':
            self.i = j  # $"..." is "..."
            return
        m = _NAME.match(s, j)
        if m:
            name = m.group()
            self.i = m.end()
            val.append("${" + name + "}")
            flush()
            parts.append(("var", name, "", ""))
            return
        if nxt and _SPECIAL_PARAM.match(nxt):
            self.i = j + 1
            val.append("${" + nxt + "}")
            flush()
            parts.append(("dyn",))
            return
        val.append("$")  # a lone dollar is literal
        lit.append("$")
        self.i = j

    def _balanced_from(self, j: int, open_: str, close: str) -> str:
        """Text from ``j`` (an ``open_``) to its matching ``close``, quotes honoured; moves self.i past it."""
        s, n = self.s, self.n
        depth, k = 0, j
        while k < n:
            ch = s[k]
            if ch == "\\":
                k += 2
                continue
            if ch == "'" and open_ == "{":
                e = s.find("'", k + 1)
                k = n if e < 0 else e + 1
                continue
            if ch == '"':
                e = k + 1
                while e < n and s[e] != '"':
                    e += 2 if s[e] == "\\" else 1
                k = e + 1
                continue
            if ch == open_:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    self.i = k + 1
                    return s[j: k + 1]
            k += 1
        self.script.errors.append(f"unterminated {open_}{close} at offset {self.base + j}")
        self.i = n
        return s[j:n]

    def _balanced(self, open_: str, close: str) -> str:
        return self._balanced_from(self.i, open_, close)

    def _nested_list(self, closer: str, kind: str) -> None:
        """Commands inside ``$( )`` or ``<( )``, read in place up to the closer."""
        sub = _Reader(self.s, self.script, kind, self.base)
        sub.i = self.i
        sub.n = self.n
        sub.case_depth = 0
        sub.run(closer)
        self.i = sub.i + 1 if sub.i < self.n else self.n
        if sub.i >= self.n:
            self.script.errors.append(f"unterminated {kind}")

    def _backtick(self) -> None:
        s, n = self.s, self.n
        k = self.i
        out = []
        while k < n and s[k] != "`":
            if s[k] == "\\" and k + 1 < n and s[k + 1] in "`$\\":
                out.append(s[k + 1])
                k += 2
            else:
                out.append(s[k])
                k += 1
        if k >= n:
            self.script.errors.append("unterminated `")
        inner = "".join(out)
        sub = _Reader(inner, self.script, "``", self.base + self.i)
        sub.run()
        self.i = min(k + 1, n)


_ANSI = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "e": "\x1b",
         "f": "\f", "v": "\v", "0": "\0"}

_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=+?])(.*))?$", re.S)


def _param_part(inner: str) -> tuple:
    m = _PARAM.match(inner)
    if not m:
        return ("dyn",)
    op = m.group(2) or ""
    if op.endswith("?"):
        return ("var", m.group(1), "", "")
    return ("var", m.group(1), op, m.group(3) or "")


# wrapper -> options of the wrapper that take a value (so the command starts after them)
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S"}),
    "sudo": frozenset({"-u", "--user", "-g", "--group", "-h", "--host", "-p", "--prompt", "-C", "-D", "-r", "-t"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "nohup": frozenset(),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "xargs": frozenset({"-n", "-P", "-L", "-I", "-d", "-E", "-s", "-a", "--max-args", "--max-procs",
                        "--delimiter", "--arg-file", "--replace"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "eatmydata": frozenset(),
    "fakeroot": frozenset(),
    "gosu": frozenset(),
    "su-exec": frozenset(),
    "tini": frozenset(),
    "dumb-init": frozenset(),
    "chroot": frozenset({"--userspec", "--groups"}),
    "busybox-applet": frozenset(),
}
# positional arguments a wrapper takes before the command (gosu USER cmd, timeout 10 cmd, chroot DIR cmd)
_WRAPPER_POSITIONALS = {"gosu": 1, "su-exec": 1, "timeout": 1, "chroot": 1}


def parse_shell(text: str) -> Script:
    """Read ``text`` as a shell script; never raises."""
    script = Script(text)
    try:
        _Reader(text, script).run()
    except RecursionError:  # pathological nesting: what was read so far is kept
        script.errors.append("nesting too deep")
    return script


__all__ = ["Word", "Command", "Script", "parse_shell", "SHELLS"]
