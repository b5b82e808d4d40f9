"""Run-time options for strace, and a parser for what it writes.

strace runs with ``-f`` (every process and thread), ``--seccomp-bpf`` (only
the syscalls asked for stop the tracee), ``-ttt`` (wall-clock timestamps) and
``-y`` (file descriptors decorated with their paths, ``AT_FDCWD`` with the
working directory), so a dirfd- or cwd-relative path can be made absolute
without replaying the fd table.  Lines look like::

    12  1700000000.123456 openat(AT_FDCWD</app>, "x.py", O_RDONLY|O_CLOEXEC) = 3</app/x.py>
    12  1700000000.123500 newfstatat(AT_FDCWD</app>, "y", 0x7ffd..., 0) = -1 ENOENT (No such file or directory)
    13  1700000000.200000 read(3</app/x.py>, "..."..., 4096) = 1200
    12  1700000000.300000 clone(child_stack=NULL, flags=...|SIGCHLD, ...) = 13
    12  1700000000.400000 openat(AT_FDCWD</app>, "z", O_RDONLY <unfinished ...>
    12  1700000000.400100 <... openat resumed>) = -1 ENOENT (No such file or directory)
    13  1700000000.500000 +++ exited with 0 +++

Strings are C-escaped (``\\n``, ``\\"``, octal); inside ``<...>`` a ``>`` is
escaped too, so a decoration never contains a raw ``>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

# what the tracee stops for; %file is every syscall that takes a path
TRACE_BASE = ("%file", "fchdir", "getdents", "getdents64", "clone", "clone3", "fork", "vfork")
TRACE_MMAP = ("mmap",)
TRACE_READS = ("read", "pread64", "readv", "preadv", "preadv2", "sendfile", "copy_file_range")


def strace_options(trace_reads: bool = True, trace_mmap: bool = True) -> list[str]:
    """strace arguments (before ``-o LOG -- CMD``)."""
    calls = TRACE_BASE + (TRACE_MMAP if trace_mmap else ()) + (TRACE_READS if trace_reads else ())
    return ["-f", "--seccomp-bpf", "-ttt", "-y", "-q", "-s", "256", "-e", "signal=none",
            "-e", "trace=" + ",".join(calls)]


@dataclass(slots=True)
class Call:
    pid: int
    time: float
    name: str
    args: str  # raw argument text
    ret: int | None  # None for "?"
    err: str | None  # errno name when ret == -1
    ret_path: str | None  # decoration of a returned fd


@dataclass(slots=True)
class Exit:
    pid: int
    time: float
    code: int | None  # exit status, or None when killed
    signal: str | None


_LINE = re.compile(r"(\d+)\s+(\d+\.\d+)\s(.*)")
_CALL = re.compile(r"(\w+)\((.*)")
_RET = re.compile(r"\)\s+= (-?\d+|0x[0-9a-fA-F]+|\?)(?:<([^>]*)>)?(?: (E[A-Z0-9_]+) \([^()]*\))?"
                  r"(?: \([^()]*\))?$")
_EXIT = re.compile(r"\+\+\+ (?:exited with (\d+)|killed by (SIG\w+)).*\+\+\+")


def parse(lines: Iterable[str]) -> Iterator[Call | Exit]:
    """Calls and exits in log order (``<unfinished ...>`` joined to its ``resumed``)."""
    pending: dict[int, tuple[float, str]] = {}
    for raw in lines:
        m = _LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        if rest.startswith("+++"):
            em = _EXIT.match(rest)
            if em:
                yield Exit(pid, ts, int(em.group(1)) if em.group(1) else None, em.group(2))
            continue
        if rest.startswith("---"):
            continue
        if rest.startswith("<... "):
            start = pending.pop(pid, None)
            if start is None:
                continue
            ts, head = start
            rest = head + rest.split(" resumed>", 1)[-1]
        elif rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, rest[: -len("<unfinished ...>")].rstrip(" "))
            continue
        call = _call(pid, ts, rest)
        if call is not None:
            yield call


def _call(pid: int, ts: float, text: str) -> Call | None:
    cm = _CALL.match(text)
    if not cm:
        return None
    body = cm.group(2)
    rm = _RET.search(body)
    if not rm:
        return None
    r = rm.group(1)
    ret = None if r == "?" else int(r, 16) if r.startswith("0x") else int(r)
    return Call(pid, ts, cm.group(1), body[: rm.start()], ret, rm.group(3),
                unescape(rm.group(2)) if rm.group(2) is not None else None)


# ------------------------------------------------------------- arguments

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?|<[^>]*>|/\*.*?\*/|[{}\[\],]|[^"<{}\[\],/]+|/')


def split_args(text: str) -> list[str]:
    """Top-level arguments of a call (quotes, braces, brackets, decorations respected)."""
    args: list[str] = []
    depth = 0
    cur: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok in "{[" and len(tok) == 1:
            depth += 1
        elif tok in "}]" and len(tok) == 1:
            depth -= 1
        elif tok == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(tok)
    tail = "".join(cur).strip()
    if tail or args:
        args.append(tail)
    return args


_ESC = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a", "b": "\b", "\\": "\\", '"': '"',
        "'": "'", "?": "?"}
_ESC_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")


def unescape(s: str) -> str:
    """Decode strace's C escapes (bytes taken as UTF-8, surrogateescape)."""
    if "\\" not in s:
        return s
    out = bytearray()
    pos = 0
    for m in _ESC_RE.finditer(s):
        out += s[pos: m.start()].encode("utf-8", "surrogateescape")
        e = m.group(1)
        if e[0] == "x" and len(e) > 1:
            out.append(int(e[1:], 16))
        elif e[0] in "01234567":
            out.append(int(e, 8) & 0xFF)
        else:
            out += _ESC.get(e, e).encode("utf-8", "surrogateescape")
        pos = m.end()
    out += s[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def string_arg(arg: str) -> str | None:
    """The value of a quoted string argument (None for NULL or a pointer)."""
    if not arg.startswith('"'):
        return None
    end = arg.rfind('"')
    return unescape(arg[1:end])


def fd_arg(arg: str) -> tuple[str, str | None]:
    """(fd text, decorated path or None) of ``3</a/b>`` / ``AT_FDCWD</x>`` / ``-1``."""
    lt = arg.find("<")
    if lt < 0 or not arg.endswith(">"):
        return arg, None
    return arg[:lt], unescape(arg[lt + 1: -1])


def string_array(arg: str) -> list[str]:
    """``["a", "b"]`` -> ["a", "b"] (strings cut by ``-s`` keep what was printed)."""
    if not arg.startswith("["):
        return []
    return [unescape(m[1:m.rfind('"')]) for m in re.findall(r'"(?:[^"\\]|\\.)*"', arg)]
