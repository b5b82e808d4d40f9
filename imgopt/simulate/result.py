"""What ``imgopt simulate`` predicts: typed, versioned results.

:class:`SimulationResult` is the ``imgopt.simulate/v1`` document ``--format
json`` prints (schema: docs/schema/simulate.schema.json): one
:class:`Result` per image (and what-if variant) x registry x client.
Seconds are wall-clock seconds of the simulated pull; JSON rounds them to
0.1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

SCHEMA = "imgopt.simulate/v1"


class PathStep(TypedDict):
    """A task on the critical path."""

    task: str
    label: str
    category: str  # network | cpu | start | app ("" for marks)
    start: float
    end: float


class TimelineRow(TypedDict):
    """A waterfall row: the pieces of one layer phase (or the app) merged."""

    task: str
    layer: int | None
    category: str
    start: float
    end: float
    busy: float  # seconds the row's tasks ran (less than end - start when they waited)


@dataclass
class Result:
    """One simulated cold pull + start."""

    image: str
    variant: str  # what-if variant ("" for the image as it is)
    registry: str
    client: str
    host: str
    pull: float = field(metadata={"json": "pull_s"})
    start: float = field(metadata={"json": "start_s"})  # container create + start + app until ready
    total: float = field(metadata={"json": "total_s"})
    breakdown: dict[str, float] = field(metadata={"json": "breakdown_s"})  # seconds on the critical path by category
    critical_path: list[PathStep]
    timeline: list[TimelineRow] | None = field(metadata={"omit_none": True})  # None: left out (--no-timeline)
    bytes_downloaded: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = {
            "image": self.image, "variant": self.variant, "registry": self.registry, "client": self.client,
            "host": self.host, "pull_s": round(self.pull, 4), "start_s": round(self.start, 4),
            "total_s": round(self.total, 4),
            "breakdown_s": {k: round(v, 4) for k, v in self.breakdown.items()},
            "bytes_downloaded": self.bytes_downloaded,
            "critical_path": self.critical_path, "notes": self.notes,
        }
        if self.timeline is not None:
            d["timeline"] = self.timeline
        return d


@dataclass
class SimulationResult:
    """Every prediction of one ``imgopt simulate`` run, in image x variant x registry x client order."""

    results: list[Result]
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "results": [r.to_json() for r in self.results]}

    def without_timeline(self) -> "SimulationResult":
        """The same predictions without the per-task timelines (``--no-timeline``)."""
        return replace(self, results=[replace(r, timeline=None) for r in self.results])


__all__ = ["SimulationResult", "Result", "PathStep", "TimelineRow", "SCHEMA"]
