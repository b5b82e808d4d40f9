"""What ``--baseline`` is compared with: the :class:`~imgopt.gate.result.Facts` of another image.

A baseline is a gate JSON (``imgopt gate --format json``: its ``facts``, lint findings included
when it was run with ``--dockerfile``), an analysis JSON (``imgopt analyze --format json``), or an
image reference (analyzed now).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from imgopt.errors import BadInput
from imgopt.gate.result import SCHEMA as GATE_SCHEMA
from imgopt.gate.result import Facts, LayerFact, LintFact

if TYPE_CHECKING:
    from imgopt.analyze.result import AnalysisResult
    from imgopt.lint.model import LintResult

ANALYSIS_SCHEMA = "imgopt.analysis/v1"


def facts_of(analysis: AnalysisResult, lint: LintResult | None) -> Facts:
    a = analysis
    return Facts(
        image=a.image.reference, manifest_digest=a.image.manifest_digest, size_bytes=a.summary.uncompressed_bytes,
        compressed_bytes=a.summary.compressed_bytes,
        layers=[LayerFact(l.index, l.diff_id, l.uncompressed_bytes, l.compressed_bytes, l.instruction)
                for l in a.layers],
        junk={c.id: c.bytes for c in a.junk if c.files},
        lint=None if lint is None else [LintFact(f.code, f.severity, f.line, f.message) for f in lint.findings()],
    )


def _from_doc(doc: dict, path: str) -> Facts:
    schema = doc.get("schema") if isinstance(doc, dict) else None
    try:
        if schema == GATE_SCHEMA:
            f = doc["facts"]
            return Facts(f["image"], f["manifest_digest"], int(f["size_bytes"]), int(f["compressed_bytes"]),
                         [LayerFact(**l) for l in f["layers"]], {str(k): int(v) for k, v in f["junk"].items()},
                         None if f.get("lint") is None else [LintFact(**x) for x in f["lint"]])
        if schema == ANALYSIS_SCHEMA:
            s = doc["summary"]
            return Facts(doc["image"]["reference"], doc["image"]["manifest_digest"], int(s["uncompressed_bytes"]),
                         int(s["compressed_bytes"]),
                         [LayerFact(l["index"], l["diff_id"], l["uncompressed_bytes"], l["compressed_bytes"],
                                    l.get("instruction")) for l in doc["layers"]],
                         {c["id"]: int(c["bytes"]) for c in doc["junk"] if c["files"]}, None)
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(path, f"malformed {schema} document: {e}") from None
    raise BadInput(path, f"not a baseline: expected an {GATE_SCHEMA} or {ANALYSIS_SCHEMA} JSON document "
                         f"(imgopt gate / imgopt analyze --format json), or an image")


def load_baseline(ref: str, analyze, source=None) -> Facts:
    """Facts of ``ref``: a JSON document if it is a ``.json`` file, else an image (``analyze(ref)``)."""
    if ref.endswith(".json") or (os.path.isfile(ref) and _looks_json(ref)):
        try:
            with open(ref, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise BadInput(ref, "no such file") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise BadInput(ref, f"not valid JSON: {e}") from None
        return _from_doc(doc, ref)
    return facts_of(analyze(ref), None)


def _looks_json(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


__all__ = ["load_baseline", "facts_of"]
