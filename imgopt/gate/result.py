"""What ``imgopt gate`` decides: typed, versioned results.

:class:`GateResult` is the ``imgopt.gate/v1`` document ``--format json`` prints (schema:
docs/schema/gate.schema.json).  It carries :class:`Facts`, the figures a later gate compares
against, so a gate JSON saved on the main branch is a ``--baseline`` for a pull request's.

It also speaks the findings protocol of :mod:`imgopt.formats.findings` (``files``,
``findings()``, ``rules()``, ``tool_version``): each place a failed check names is a finding, so
the findings formatters (Code Climate) render the gate as they render lint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

SCHEMA = "imgopt.gate/v1"
STATUSES = ("fail", "pass", "skip", "info")  # info: measured, not limited


@dataclass
class Location:
    """A place a check's figure comes from: a layer, and the Dockerfile line that made it when known."""

    layer: int | None
    file: str | None  # the Dockerfile (None: no --dockerfile, or the layer is not tied to a line)
    line: int | None
    end_line: int | None
    instruction: str | None  # the Dockerfile instruction, else the layer's history entry
    bytes: int | None  # what this place contributes to the measured figure
    detail: str = ""


@dataclass
class Check:
    """One threshold, what was measured against it, and what to do about it."""

    id: str  # the config key, dotted for per-item keys: max-junk-class.apt-lists, max-cold-start.public.docker
    title: str
    status: str  # fail | pass | skip (could not be measured) | info (measured, no limit set)
    measured: float | None
    limit: float | None
    unit: str  # bytes | ratio | percent | seconds | layers | findings | classes
    summary: str  # measured vs limit, in words: "276.5 MB > 250 MB"
    advice: str  # what to do about it
    command: str  # the change or imgopt command that does it ("" when none applies)
    source: str  # where the limit came from: "default", the config file, the .dive-ci file
    locations: list[Location] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class LayerFact:
    index: int
    diff_id: str
    uncompressed_bytes: int
    compressed_bytes: int
    instruction: str | None


@dataclass
class LintFact:
    code: str
    severity: str
    line: int
    message: str


@dataclass
class Facts:
    """The figures a baseline comparison needs."""

    image: str
    manifest_digest: str
    size_bytes: int  # uncompressed: the layer tars
    compressed_bytes: int  # what a pull downloads
    layers: list[LayerFact]
    junk: dict[str, int]  # junk class id -> bytes, classes with files only
    lint: list[LintFact] | None  # None: no Dockerfile linted


@dataclass
class GateResult:
    """Every check of one ``imgopt gate`` run, and whether the image passes."""

    image: str
    passed: bool
    config: str | None  # the configuration file read (None: defaults only)
    dive_ci: str | None  # the .dive-ci file read
    dockerfile: str | None
    baseline: str | None
    checks: list[Check]
    facts: Facts
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    # ------------------------------------------------------------ findings protocol

    @property
    def tool_version(self) -> str:
        from imgopt import __version__

        return __version__

    @property
    def files(self) -> list:
        from imgopt.lint.model import FileResult

        by_file: dict[str, list] = {}
        for f in self.findings():
            by_file.setdefault(f.file, []).append(f)
        return [FileResult(path, fs) for path, fs in by_file.items()]

    def findings(self) -> Iterator:
        """One finding per place a failed check names (the check's own line when it names none)."""
        from imgopt.lint.model import Finding

        default_file = self.dockerfile or self.image
        for c in self.failed_checks:
            message = f"{c.title}: {c.summary}. {c.advice}".strip()
            placed = [loc for loc in c.locations if loc.file and loc.line]
            if not placed:
                yield Finding(default_file, 0, 1, f"gate/{c.id}", "error", message)
            for loc in placed:
                where = f" (layer {loc.layer}{': ' + loc.detail if loc.detail else ''})" if loc.layer is not None \
                    else (f" ({loc.detail})" if loc.detail else "")
                yield Finding(loc.file, loc.line, 1, f"gate/{c.id}", "error", message + where,
                              loc.end_line or 0)

    def rules(self) -> list:
        from imgopt.lint.model import RuleMeta

        return [RuleMeta(f"gate/{c.id}", c.title, "error", "", c.advice) for c in self.failed_checks]


__all__ = ["GateResult", "Check", "Location", "Facts", "LayerFact", "LintFact", "SCHEMA", "STATUSES"]
