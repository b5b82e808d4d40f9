"""SARIF 2.1.0 (OASIS), as GitHub code scanning reads it: results with locations, and
``runs[].tool.driver.rules`` describing every rule that has a result (id, name, short
description, help URI, default level), so a result shows with its rule's title and docs link."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from imgopt.formats import RenderOptions
from imgopt.formats.findings import SARIF_LEVEL, TOOL, TOOL_URI

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _name(title: str, rule_id: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title.split(".")[0])[:6]
    return "".join(w[:1].upper() + w[1:] for w in words) or rule_id


def render_findings(result, options: RenderOptions) -> str:
    rules = result.rules()
    index = {r.id: k for k, r in enumerate(rules)}
    descriptors = []
    for r in rules:
        d = {"id": r.id, "name": _name(r.title, r.id), "shortDescription": {"text": r.title},
             "defaultConfiguration": {"level": SARIF_LEVEL.get(r.severity, "warning")}}
        if r.description:
            d["fullDescription"] = {"text": r.description}
        if r.help_uri:
            d["helpUri"] = r.help_uri
        descriptors.append(d)
    results = []
    for f in result.findings():
        region = {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)}
        if f.end_line and f.end_line > f.line:
            region["endLine"] = f.end_line
        results.append({
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(f.file)}, "region": region}}],
        })
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "informationUri": TOOL_URI,
                                "version": getattr(result, "tool_version", "") or "0", "rules": descriptors}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
