"""What a trace run returns: the access profile, and what the run left beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgopt.trace.profile import AccessProfile


@dataclass
class TraceResult:
    profile: AccessProfile
    output: str  # the app's stdout+stderr (tail)
    scratch: str | None = None  # kept scratch directory, with keep_scratch
    launch_ready: float | None = None  # seconds from launching the sandbox to ready (what benchmarks compare)
    profile_path: str | None = None  # where the profile was saved, if it was
    limit: str = ""  # which resource limit stopped the app, as one line ('' when none did)

    def to_json(self) -> dict[str, Any]:
        """The access profile: what ``imgopt trace --format json`` prints (``imgopt.profile/v1``)."""
        return self.profile.to_json()

    @property
    def passed(self) -> bool:
        return self.profile.passed

    @property
    def missing(self) -> list[str]:
        """Paths the app looked up that did not exist (failed lookups), in order."""
        return [f.path for f in self.profile.files if not f.exists]

    @property
    def failure(self) -> str:
        """One line: the limit that stopped the app, else the first failed probe and why ('' when all passed)."""
        for p in self.profile.probes:
            if not p.passed and p.required:
                line = f"probe {p.name!r} failed: {p.detail}"
                return f"{self.limit} ({line[:300]})" if self.limit else line
        return self.limit if self.limit and not self.passed else ""


__all__ = ["TraceResult"]
