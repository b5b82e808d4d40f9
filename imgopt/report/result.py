"""What ``imgopt report`` shows: typed, versioned (``imgopt.report/v1``, docs/schema/report.schema.json).

The analysis is the image's own ``imgopt.analysis/v1`` document; the rest is derived for the
report's sections: per-layer bars (app / junk / waste bytes), the simulated pull + start of each
scenario with its waterfall, the startup set against the rest (with a trace profile), lint
findings (with a Dockerfile) and the ranked recommendations.  Sizes are bytes, times seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from imgopt.analyze.result import AnalysisResult, DockerfileRef
from imgopt.report.recommend import Recommendation
from imgopt.simulate.result import TimelineRow

SCHEMA = "imgopt.report/v1"


@dataclass
class LayerBar:
    """One layer's stored bytes split three ways (they add up to ``file_bytes``)."""

    index: int
    file_bytes: int  # regular-file content stored in the layer
    app_bytes: int  # the rest: what the image is for
    junk_bytes: int  # visible files a junk class claims
    waste_bytes: int  # stored here, hidden by an upper layer
    compressed_bytes: int
    instruction: str | None
    dockerfile: DockerfileRef | None


@dataclass
class Scenario:
    """One simulated cold pull + start."""

    image: str  # original | slim
    reference: str
    registry: str
    client: str
    mode: str  # eager (the whole image before start) | lazy (start first, fetch on demand)
    total_s: float
    pull_s: float
    start_s: float
    bytes_downloaded: int
    timeline: list[TimelineRow]


@dataclass
class StartupDir:
    path: str
    startup_bytes: int
    bytes: int  # all regular-file bytes below it in the final filesystem


@dataclass
class StartupFile:
    path: str
    size: int
    first_access: float


@dataclass
class StartupSet:
    """What the app read before it was ready (the trace profile) against everything in the image."""

    files: int
    bytes: int
    total_files: int
    total_bytes: int
    ready_time: float | None
    by_directory: list[StartupDir]
    largest: list[StartupFile]


@dataclass
class LintItem:
    file: str
    line: int
    code: str
    severity: str
    message: str
    layer: int | None  # the layer the line made, when the history ties it


@dataclass
class ReportResult:
    image: str
    slim_image: str | None
    profile: str | None
    dockerfile: str | None
    version: str  # imgopt's
    analysis: AnalysisResult
    slim_analysis: AnalysisResult | None
    layers: list[LayerBar]
    scenarios: list[Scenario]
    startup: StartupSet | None
    lint: list[LintItem] | None  # None: no Dockerfile
    recommendations: list[Recommendation]
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}

    def scenario(self, image: str, registry: str, client: str) -> Scenario | None:
        return next((s for s in self.scenarios if (s.image, s.registry, s.client) == (image, registry, client)),
                    None)


__all__ = ["ReportResult", "LayerBar", "Scenario", "StartupSet", "StartupDir", "StartupFile", "LintItem", "SCHEMA"]
