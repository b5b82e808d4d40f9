"""What ``imgopt lint`` finds: severities, findings, and the result of one run.

A :class:`LintResult` is the typed result the output layer renders
(``imgopt.formats``, kind ``"lint"``).  It speaks the *findings protocol*
every findings formatter reads: :meth:`LintResult.findings` (each a
:class:`Finding`), :meth:`LintResult.rules` (metadata of the rules that
produced them, for SARIF's ``tool.driver.rules``), ``files`` and ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

#: severities, most severe first (hadolint's names; "ignore" switches a rule off)
SEVERITIES = ("error", "warning", "info", "style", "ignore")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_RANK["none"] = _RANK["ignore"]


def check_severity(value: str, what: str = "severity") -> str:
    """``value`` as a known severity name (``none`` is ``ignore``), or ValueError."""
    v = str(value).strip().lower()
    if v not in _RANK:
        raise ValueError(f"{what} must be one of {', '.join(SEVERITIES)} or none, not {value!r}")
    return "ignore" if v == "none" else v


def at_least(severity: str, threshold: str) -> bool:
    """``severity`` is at or above ``threshold`` (a threshold of ignore/none never fails)."""
    t = _RANK[threshold]
    return t < _RANK["ignore"] and _RANK[severity] <= t


@dataclass(frozen=True)
class Finding:
    """One finding in one file."""

    file: str
    line: int  # 1-based; 0 when it concerns the whole file
    column: int  # 1-based
    code: str  # DL3008, SC2086, IMG104...
    severity: str  # error | warning | info | style
    message: str
    end_line: int = 0  # last line of the instruction it concerns (0: same as line)
    cost: str = ""  # what it costs, when known ("~45 MB, ~0.5 s pull from public")

    def to_json(self) -> dict:
        """hadolint's JSON shape (keys in its order)."""
        return {"code": self.code, "column": self.column, "file": self.file, "level": self.severity,
                "line": self.line, "message": self.message}


@dataclass
class FileResult:
    """The findings of one file."""

    path: str  # as given ("-" for standard input)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class RuleMeta:
    """What a formatter needs to know about a rule (SARIF ``reportingDescriptor``)."""

    id: str
    title: str
    severity: str  # default severity
    help_uri: str
    description: str = ""


@dataclass
class LintResult:
    """The result of one ``imgopt lint`` run (kind "lint" of the output layer)."""

    files: list[FileResult]
    rule_meta: dict[str, RuleMeta] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one-liners for the user (e.g. ShellCheck missing)
    failure_threshold: str = "info"
    tool_version: str = ""

    def findings(self) -> Iterator[Finding]:
        for f in self.files:
            yield from f.findings

    def rules(self) -> list[RuleMeta]:
        """Metadata of every rule with a finding, in id order."""
        codes = sorted({f.code for f in self.findings()})
        return [self.rule_meta.get(c) or RuleMeta(c, c, "warning", "") for c in codes]

    @property
    def failed(self) -> bool:
        return any(at_least(f.severity, self.failure_threshold) for f in self.findings())

    def to_json(self) -> list[dict]:
        """hadolint's JSON: one flat list of {code, column, file, level, line, message}."""
        return [f.to_json() for f in self.findings()]


__all__ = ["SEVERITIES", "check_severity", "at_least", "Finding", "FileResult", "RuleMeta", "LintResult"]
