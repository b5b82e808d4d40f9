"""``imgopt calibrate``: where the host profile went."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.simulate.calibrate import CalibrationResult


def render(result: CalibrationResult, options: RenderOptions) -> str:
    return f"wrote host profile {result.path}"
