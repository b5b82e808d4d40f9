"""The language closure's interface and shared helpers: one :class:`Language` per module of this package.

:class:`Found` and :class:`Unresolved` are what a language's ``scan`` yields; :class:`Context` is what
it reads the image through; :func:`whole`, :func:`strong`, :func:`app_dir` and :func:`walk_up` are the
rules every language shares for keeping a library whole.  The driver is :mod:`imgopt.minify.closure`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Iterator

from imgopt.analyze.entrypoint import DEFAULT_PATH
from imgopt.image.executable import interpreter_of
from imgopt.minify.closure.files import FILE_KINDS, ImageFiles


@dataclass(frozen=True)
class Found:
    """A file the code at ``by`` can load (``how`` says how, e.g. ``import flask.cli``)."""

    path: str  # absolute in-image path as the loader names it (symlinks are kept link by link)
    how: str
    by: str
    parse: bool = True  # read it in turn (False: data, never code)


@dataclass(frozen=True)
class Unresolved:
    """A load the closure could not resolve statically (reported, not guessed)."""

    language: str
    file: str
    line: int
    what: str  # as written, e.g. "importlib.import_module(name)"
    why: str  # dynamic | not found | too big | unparsed


@dataclass
class Added:
    language: str
    how: str
    by: str


@dataclass
class ClosureResult:
    added: dict[str, Added] = field(default_factory=dict)  # absolute path as named -> why
    unresolved: list[Unresolved] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # language -> files read


class Context:
    """What every language sees: the image's files, its environment, the processes the app ran."""

    def __init__(self, files: ImageFiles, env: dict[str, str], workdir: str, argvs: list[list[str]]):
        self.files = files
        self.env = env
        self.workdir = workdir or "/"
        self.argvs = argvs
        self.path = [d for d in (env.get("PATH") or DEFAULT_PATH).split(":") if d]
        self.state: dict[str, object] = {}  # per-language caches (load paths, package maps)
        self.loaded: set[str] = set()  # resolved paths the app really loaded (the seeds), not closure additions

    def all_paths(self) -> list[str]:
        """Every path of the image (absolute, sorted), walked once per closure run."""
        got = self.state.get("paths")
        if got is None:
            got = ["/" + p for p, _ in self.files.tree.walk()]
            self.state["paths"] = got
        return got  # type: ignore[return-value]

    def which(self, name: str, path: list[str] | None = None, cwd: str | None = None) -> str | None:
        """The executable ``name`` resolves to through ``path`` (default: the image's PATH), or None."""
        if not name:
            return None
        if "/" in name:
            p = name if name.startswith("/") else posixpath.normpath(posixpath.join(cwd or self.workdir, name))
            return p if self.files.is_file(p) else None
        for d in path if path is not None else self.path:
            cand = posixpath.join(d, name)
            _, node = self.files.lookup(cand)
            if node is not None and node.kind in FILE_KINDS and node.mode & 0o111:
                return cand
        return None

    def interpreter(self, path: str) -> str | None:
        """Basename of the ``#!`` interpreter of ``path`` (through ``env``), e.g. ``python3``; None."""
        head = self.files.head(path, 256)
        interp = interpreter_of(head) if head.startswith(b"#!") else None
        if not interp:
            return None
        base = posixpath.basename(interp[0])
        if base == "env":  # "#!/usr/bin/env -S node --flags": the first word that is not an option
            words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()[1:]
            words = [w for w in words if not w.startswith("-") and "=" not in w]
            base = posixpath.basename(words[0]) if words else base
        return base


class Language:
    """One language's loader, statically.  Subclasses live in their own module."""

    name: ClassVar[str] = ""

    def claims(self, path: str, ctx: Context) -> bool:
        raise NotImplementedError

    def scan(self, path: str, ctx: Context) -> Iterable[Found | Unresolved]:
        raise NotImplementedError

    def start(self, ctx: Context) -> Iterable[Found | Unresolved]:
        return ()

    def prepare(self, paths: list[str], ctx: Context) -> None:
        """Before the walk: the seeds (resolved) this language claims, e.g. to parse them in parallel."""


# A library from which anything was loaded is kept whole (Node, Ruby, Perl, PHP) when it is at most this big.
# Measured on the fixture apps slimmed given only GET / (docs/minify.md, "Whole packages and libraries"):
# the biggest library they keep whole is 1.74 MB (rubygems); whole libraries cost 0.5-4 MB per app, and
# Perl's Encode (20 MB of CJK tables) is stopped by the bound.
WHOLE_MAX = 4 << 20
NOT_WHOLE_DIRS = {"test", "tests", "t", "__tests__", "spec", "specs", "docs", "doc", "example", "examples", "benchmark",
                  "benchmarks", "coverage", "node_modules", "man", "Tests", "Test", "__pycache__"}
NOT_WHOLE_FILES = re.compile(r"(\.(md|markdown|rst|d\.ts|d\.mts|d\.cts|map|ts|tsx|coffee|flow|pod|gemspec)$|"
                             r"^(readme|changelog|changes|history|authors|contributing|license|licence|upgrade)"
                             r"(\.\w+)?$|^\.|^tsconfig.*\.json$)", re.I)
SYSTEM_DIRS = {"/", "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/local", "/usr/local/bin", "/usr/local/sbin",
               "/usr/lib", "/usr/share", "/usr/local/lib", "/usr/local/share", "/etc", "/tmp", "/var", "/opt", "/srv",
               "/root", "/home", "/lib", "/lib64", "/usr/lib64", "/var/lib"}


def whole(ctx: "Context", lang: str, tops: list[str], by: str, what: str,
          bound: int | None = None) -> Iterator["Found | Unresolved"]:
    """Every file of ``tops`` (directories, or single files), minus tests and docs, if at most ``bound`` bytes."""
    key = (lang, tuple(tops))
    done = ctx.state.setdefault("whole", set())
    if key in done:  # type: ignore[operator]
        return
    done.add(key)  # type: ignore[union-attr]
    got: list[tuple[str, int]] = []
    for t in tops:
        if ctx.files.is_dir(t):
            got += [(p, sz) for p, sz in ctx.files.walk_files(t, lambda parent, name: name in NOT_WHOLE_DIRS
                                                               or name.startswith("."))
                    if not NOT_WHOLE_FILES.search(posixpath.basename(p))]
        elif ctx.files.is_file(t):
            got.append((t, ctx.files.size(t)))
    total = sum(sz for _, sz in got)
    limit = WHOLE_MAX if bound is None else bound
    if total > limit:
        yield Unresolved(lang, by, 0, ", ".join(tops)[:120], f"{what} of {total / 1e6:.1f} MB over the "
                                                           f"{limit / (1 << 20):.0f} MiB bound: import closure only")
        return
    for p, _ in got:
        yield Found(p, what, by)


def strong(ctx: "Context", path: str) -> bool:
    """Was ``path`` loaded, or named by a load in loaded code or in its import closure?

    Whole libraries are kept only for such files.  A file that is merely part of a whole library
    (or named only by such a file) has its loads followed, but the libraries they reach are not kept
    whole in turn: otherwise one loaded file of a big runtime library (rubygems) keeps, library by
    library, everything its never-run files name (rdoc, bundler, irb...).
    """
    return path in ctx.loaded or path in ctx.state.get("named", ())


def app_dir(ctx: "Context", path: str, library_roots: list[str]) -> str | None:
    """The application directory of a loaded file outside every library root (None for system places)."""
    if any(path.startswith(r.rstrip("/") + "/") for r in library_roots):
        return None
    d = posixpath.dirname(path)
    if d in SYSTEM_DIRS or posixpath.basename(d) in ("bin", "sbin"):
        return None
    return d  # (the size bound of whole() stops a directory that holds half the system)


def line_of(text: str | bytes, offset: int) -> int:
    return (text[:offset].count("\n" if isinstance(text, str) else b"\n")) + 1


def walk_up(path: str) -> Iterator[str]:
    """``/a/b/c`` -> ``/a/b``, ``/a``, ``/``."""
    d = posixpath.dirname(path)
    while True:
        yield d
        if d == "/":
            return
        d = posixpath.dirname(d)


__all__ = ["Found", "Unresolved", "Added", "ClosureResult", "Context", "Language", "whole", "strong", "app_dir",
           "walk_up", "line_of", "WHOLE_MAX", "NOT_WHOLE_DIRS", "NOT_WHOLE_FILES", "SYSTEM_DIRS"]
