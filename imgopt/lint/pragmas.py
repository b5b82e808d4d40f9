"""Inline pragmas in Dockerfile comments (hadolint's, and imgopt's own spelling).

* ``# hadolint ignore=DL3003,SC1035`` / ``# imgopt ignore=IMG104``: the codes are ignored for the
  next instruction (hadolint requires it on the very next line; here comment and blank lines
  may come between).
* ``# hadolint global ignore=...`` / ``# imgopt global ignore=...``: for the whole file.
* ``# hadolint stage ignore=...``: from the next line to the next FROM.
* ``# hadolint shell=powershell``: the shell RUN scripts are checked as (non-POSIX: ShellCheck is
  not run on them).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from imgopt.dockerfile.parser import Comment, Dockerfile

_IGNORE = re.compile(r"^(hadolint|imgopt)[ \t]+(?:(global|stage)[ \t]+)?ignore[ \t]*=[ \t]*"
                     r"([A-Za-z0-9]+(?:[ \t]*,[ \t]*[A-Za-z0-9]+)*)[ \t]*(?:#.*)?$")
_SHELL = re.compile(r"^(?:hadolint|imgopt)[ \t]+shell[ \t]*=[ \t]*(\S+)[ \t]*(?:#.*)?$")


@dataclass(frozen=True)
class Pragma:
    """One ignore pragma."""

    line: int
    scope: str  # "next" | "global" | "stage"
    codes: frozenset[str]
    tool: str  # "hadolint" | "imgopt"


@dataclass
class Pragmas:
    """The pragmas of one file, indexed for :meth:`ignored`."""

    ignores: list[Pragma] = field(default_factory=list)
    shell: str | None = None  # from "# hadolint shell=..."
    _next: dict[int, frozenset[str]] = field(default_factory=dict)  # instruction start line -> codes
    _global: frozenset[str] = frozenset()
    _stage_starts: list[int] = field(default_factory=list)
    _stage_sets: list[frozenset[str]] = field(default_factory=list)

    @classmethod
    def read(cls, df: Dockerfile) -> "Pragmas":
        p = cls()
        for c in df.comments:
            m = _IGNORE.match(c.text)
            if m:
                codes = frozenset(x.strip().upper() for x in m.group(3).split(","))
                p.ignores.append(Pragma(c.line, m.group(2) or "next", codes, m.group(1)))
                continue
            m = _SHELL.match(c.text)
            if m:
                p.shell = m.group(1)
        p._index(df)
        return p

    def _index(self, df: Dockerfile) -> None:
        starts = sorted({i.start_line for i in df.instructions})
        glob: set[str] = set()
        stage_marks: list[tuple[int, frozenset[str]]] = [(i.start_line, frozenset()) for i in df.instructions
                                                        if i.keyword == "FROM"]
        for pr in self.ignores:
            if pr.scope == "global":
                glob |= pr.codes
            elif pr.scope == "stage":
                stage_marks.append((pr.line + 1, pr.codes))
            else:
                k = bisect.bisect_right(starts, pr.line)
                if k < len(starts):
                    target = starts[k]
                    self._next[target] = self._next.get(target, frozenset()) | pr.codes
        self._global = frozenset(glob)
        stage_marks.sort(key=lambda t: t[0])
        self._stage_starts = [t[0] for t in stage_marks]
        self._stage_sets = [t[1] for t in stage_marks]

    def ignored(self, code: str, line: int, instruction_line: int | None) -> bool:
        """Is ``code`` ignored for a finding at ``line`` of the instruction starting at ``instruction_line``?"""
        if code in self._global:
            return True
        target = instruction_line if instruction_line is not None else line
        if code in self._next.get(target, ()):
            return True
        k = bisect.bisect_left(self._stage_starts, target) - 1
        return k >= 0 and code in self._stage_sets[k]


def ignore_comments(df: Dockerfile) -> list[Comment]:
    """The comments that are ignore pragmas (DL1001 reports them)."""
    return [c for c in df.comments if _IGNORE.match(c.text)]


__all__ = ["Pragma", "Pragmas", "ignore_comments"]
