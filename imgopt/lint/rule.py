"""The unit of ``imgopt lint``: a rule, and what its check yields.

A rule is a subclass of :class:`Rule` in its own module under
``imgopt/lint/rules/`` (named after its id), listed once in
``imgopt.lint.rules.RULES``.  It carries its id, default severity, title and
documentation (what it does, why it matters, a bad and a good example, how it
differs from hadolint), and a :meth:`Rule.check` that reads a
:class:`~imgopt.lint.context.Context` and yields :class:`Hit` s.  The engine
knows no single rule: it runs every enabled rule, applies pragmas, severity
overrides and ignores, and turns hits into findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterable

if TYPE_CHECKING:
    from imgopt.dockerfile.parser import Instruction
    from imgopt.lint.context import Context

#: where docs/lint-rules.md is published (rules link their section; config key ``docs-url`` overrides)
DOCS_URL = "https://github.com/imgopt/imgopt/blob/main/docs/lint-rules.md"


@dataclass
class Hit:
    """A rule's finding before pragmas and overrides: where, and (optionally) a specific message."""

    line: int
    message: str = ""  # empty: the rule's default message
    column: int = 1
    instruction: "Instruction | None" = None  # the instruction it concerns (pragmas apply to it)
    end_line: int = 0
    cost: str = ""  # what it costs, e.g. "~120 MB in the image, ~1.3 s pull from public"
    code: str = ""  # for rules that report several codes (ShellCheck, parser diagnostics)
    severity: str = ""  # likewise: the code's own default severity


class Rule:
    """Base class of every lint rule (see the module docstring)."""

    id: ClassVar[str]
    severity: ClassVar[str]  # default: error | warning | info | style | ignore (off unless enabled)
    title: ClassVar[str]  # one line; also the default message
    message: ClassVar[str] = ""  # default message when it differs from the title
    what: ClassVar[str] = ""  # what the rule flags
    why: ClassVar[str] = ""  # why it matters
    bad: ClassVar[str] = ""  # a Dockerfile snippet it flags
    good: ClassVar[str] = ""  # the same, fixed
    hadolint: ClassVar[str] = ""  # for DL rules: how this differs from hadolint 2.15.1 (issue numbers)
    origin: ClassVar[str] = "imgopt"  # "hadolint" for the DL rules, "shellcheck", "imgopt"
    config: ClassVar[tuple[str, ...]] = ()  # configuration keys it reads

    def check(self, ctx: "Context") -> Iterable[Hit]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def default_message(self) -> str:
        return self.message or self.title

    def hit(self, ins: "Instruction", message: str = "", cost: str = "", line: int = 0) -> Hit:
        """A hit on instruction ``ins`` (its first line unless ``line`` is given)."""
        return Hit(line or ins.start_line, message, ins.column if not line else 1, ins, ins.end_line, cost)


__all__ = ["Rule", "Hit", "DOCS_URL"]
