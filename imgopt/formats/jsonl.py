"""JSON Lines: one compact JSON object per line, for results made of records (``result.records()``).

``imgopt scan --format jsonl``: a ``scan`` header line, then ``image``, ``layer``
and ``error`` records and a closing ``fleet`` line, each with its ``kind``
(what ``imgopt scan merge`` reads back; load it with ``pandas.read_json(path,
lines=True)`` or ``jq``).
"""

from __future__ import annotations

import json
from typing import Any

from imgopt.formats import RenderOptions


def render(result: Any, options: RenderOptions) -> str:
    return "".join(json.dumps(rec, separators=(",", ":")) + "\n" for rec in result.records())
