"""JSON: any result with ``to_json()``, indented, keys in the result's own order."""

from __future__ import annotations

import json
from typing import Any

from imgopt.formats import RenderOptions


def render(result: Any, options: RenderOptions) -> str:
    doc = result.to_json() if hasattr(result, "to_json") else result
    return json.dumps(doc, indent=2) + "\n"
