"""Shell: the commands a kept script can run, resolved through the script's ``PATH``.

Parsed with tree-sitter-bash (see :mod:`imgopt.minify.closure.syntax` for why
not bashlex).  Every simple command anywhere in the script -- functions,
branches never taken, pipelines, ``$( )`` substitutions -- names a program:
builtins and the script's own functions aside, it is looked up in ``PATH``
(the image's, plus every literal directory the script puts on it with
``PATH=...:$PATH``).  Wrappers (``exec``, ``env``, ``nohup``, ``timeout``,
``xargs``...) pass on to the command they run.  An interpreter's script
argument (``python3 /app/run.py``) and a sourced file (``. /etc/app.sh``)
are added and read in turn.  A command whose name is computed (``"$CMD"``)
is reported.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from imgopt.analyze.entrypoint import INTERPRETERS, SHELLS
from imgopt.minify.closure.base import Context, Found, Language, Unresolved
from imgopt.minify.closure.syntax import line, parse, text, walk

BUILTINS = {
    ":", ".", "source", "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command", "compgen", "complete",
    "continue", "declare", "dirs", "disown", "echo", "enable", "eval", "exec", "exit", "export", "false", "fc", "fg",
    "getopts", "hash", "help", "history", "jobs", "kill", "let", "local", "logout", "mapfile", "popd", "printf",
    "pushd", "pwd", "read", "readarray", "readonly", "return", "set", "shift", "shopt", "suspend", "test", "[",
    "[[", "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait", "then", "do",
}
# wrappers: the command they run follows their own options (value options listed)
WRAPPERS = {"exec": set(), "command": set(), "builtin": set(), "nohup": set(), "env": {"-u", "-C", "-S"},
            "time": set(), "nice": {"-n"}, "ionice": {"-c", "-n"}, "timeout": {"-s", "-k"}, "stdbuf": {"-i", "-o", "-e"},
            "xargs": {"-I", "-n", "-P", "-d", "-L", "-s", "-a", "-E"}, "sudo": {"-u", "-g"}, "su-exec": set(),
            "gosu": set(), "tini": set(), "dumb-init": set(), "chpst": {"-u"}, "setsid": set(), "flock": {"-w"},
            "strace": {"-o", "-e", "-p"}, "taskset": set(), "numactl": set(), "runuser": {"-u", "-g"}}
_TAKES_POSITIONAL = {"timeout": 1, "gosu": 1, "su-exec": 1, "flock": 1, "taskset": 1}
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class Shell(Language):
    name = "shell"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith((".sh", ".bash")):
            return True
        if "." in posixpath.basename(path) and not path.startswith(("/usr/bin/", "/usr/local/bin/", "/bin/")):
            return False
        interp = ctx.interpreter(path)
        return bool(interp) and interp in SHELLS - {"busybox"}

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        data = ctx.files.read(path)
        if data is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        script = read_script(data)
        dirs = list(dict.fromkeys(script.path_dirs + ctx.path))
        for cmd, ln in script.commands:
            if cmd in script.functions or cmd in BUILTINS:
                continue
            exe = ctx.which(cmd, dirs)
            if exe:
                yield Found(exe, f"runs {cmd!r}", path)
            else:
                yield Unresolved(self.name, path, ln, cmd, "command not found")
        for what, ln in script.dynamic:
            yield Unresolved(self.name, path, ln, what, "dynamic")
        for src, ln in script.sourced:
            p = src if src.startswith("/") else ctx.which(src, dirs) or posixpath.join(ctx.workdir, src)
            if ctx.files.is_file(p):
                yield Found(p, f"sourced ({src})", path)
            else:
                yield Unresolved(self.name, path, ln, src, "sourced file not found")
        for interp, arg, ln in script.scripts:
            p = arg if arg.startswith("/") else posixpath.normpath(posixpath.join(ctx.workdir, arg))
            if ctx.files.is_file(p):
                yield Found(p, f"script run by {interp}", path)


class Script:
    def __init__(self) -> None:
        self.commands: list[tuple[str, int]] = []
        self.functions: set[str] = set()
        self.path_dirs: list[str] = []
        self.sourced: list[tuple[str, int]] = []
        self.scripts: list[tuple[str, str, int]] = []  # (interpreter, script argument, line)
        self.dynamic: list[tuple[str, int]] = []


def read_script(data: bytes) -> Script:
    s = Script()
    root = parse("bash", data)
    for n in walk(root, {"function_definition", "command", "variable_assignment"}):
        if n.type == "function_definition":
            name = n.child_by_field_name("name")
            if name is not None:
                s.functions.add(text(name))
        elif n.type == "variable_assignment":
            name = n.child_by_field_name("name")
            if text(name) == "PATH":
                value = n.child_by_field_name("value")
                for part in _literal_parts(value).split(":"):
                    if part.startswith("/") and "$" not in part:
                        s.path_dirs.append(part.rstrip("/") or "/")
        else:
            _command(n, s)
    return s


def _command(n, s: Script) -> None:
    words: list[str | None] = []
    name = n.child_by_field_name("name")
    if name is None:
        return
    words.append(literal(name))
    for c in n.named_children:
        if c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect", "variable_assignment") \
                or c == name:
            continue
        words.append(literal(c))
    _words(words, line(n), s)


def _words(words: list[str | None], ln: int, s: Script) -> None:
    while words:
        w = words[0]
        if w is None:
            raw = "a computed command name"
            s.dynamic.append((raw, ln))
            return
        if _ASSIGN.match(w):
            words = words[1:]
            continue
        base = posixpath.basename(w)
        if w in (".", "source"):
            if len(words) > 1 and words[1]:
                s.sourced.append((words[1], ln))
            return
        if base in WRAPPERS:
            if w not in BUILTINS:
                s.commands.append((w, ln))
            opts = WRAPPERS[base]
            rest = words[1:]
            skip = _TAKES_POSITIONAL.get(base, 0)
            while rest and rest[0] is not None and (rest[0].startswith("-") or _ASSIGN.match(rest[0])):
                rest = rest[2:] if rest[0] in opts else rest[1:]
            rest = rest[skip:]
            words = rest
            continue
        s.commands.append((w, ln))
        if INTERPRETERS.match(base) or base in SHELLS:
            args = words[1:]
            for i, a in enumerate(args):
                if a is None:
                    break
                if a == "-c" and base in SHELLS and i + 1 < len(args) and args[i + 1]:
                    inner = read_script(args[i + 1].encode("utf-8", "surrogateescape"))
                    s.commands += [(c, ln) for c, _ in inner.commands]
                    s.functions |= inner.functions
                    s.sourced += [(c, ln) for c, _ in inner.sourced]
                    s.scripts += [(a2, b2, ln) for a2, b2, _ in inner.scripts]
                    break
                if a in ("-c", "-m", "-e", "--eval", "-p"):
                    break
                if a.startswith("-"):
                    continue
                s.scripts.append((base, a, ln))
                break
        return


def literal(node) -> str | None:
    """The word's value if it contains no expansion, else None."""
    if node is None:
        return None
    t = node.type
    if t in ("word", "number"):
        v = text(node)
        return None if "$" in v or "`" in v else v.replace("\\", "")
    if t == "raw_string":
        return text(node)[1:-1]
    if t == "string":
        if any(c.type not in ("string_content",) for c in node.named_children):
            return None
        return text(node)[1:-1]
    if t == "command_name":
        return literal(node.named_children[0]) if node.named_children else None
    if t == "concatenation":
        parts = [literal(c) for c in node.named_children]
        return None if any(p is None for p in parts) else "".join(p for p in parts if p is not None)
    return None


def _literal_parts(node) -> str:
    """``/opt/x/bin:$PATH`` -> ``/opt/x/bin:$``: literal text, expansions as ``$``."""
    if node is None:
        return ""
    lit = literal(node)
    if lit is not None:
        return lit
    if node.type in ("concatenation", "string"):
        return "".join(_literal_parts(c) if c.type not in ("string_content",) else text(c)
                       for c in node.named_children)
    return "$"


def commands_of_string(command: str) -> list[str]:
    """Programs a shell command string runs, the shell first (``os.system("gzip -d x | sort")`` ->
    /bin/sh, gzip, sort: system(3), popen, backticks and ``shell=True`` all run ``/bin/sh -c``)."""
    s = read_script(command.encode("utf-8", "surrogateescape"))
    return ["/bin/sh"] + [c for c, _ in s.commands if c not in BUILTINS and c not in s.functions]


__all__ = ["Shell", "read_script", "commands_of_string", "literal", "BUILTINS"]
