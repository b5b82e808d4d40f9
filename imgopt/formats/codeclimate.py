"""Code Climate JSON as GitLab's code quality report reads it: a list of issues with a fingerprint
(stable for the same file, code, line and message), severity blocker/major/minor/info.  Renders any
result of the findings protocol (lint's findings, the gate's failed checks)."""

from __future__ import annotations

import hashlib
import json

from imgopt.formats import RenderOptions
from imgopt.formats.findings import CODECLIMATE_SEVERITY


def _category(f) -> str:
    """Code Climate category: cold-start findings and the gate's are Performance, style findings Style."""
    if f.code.startswith(("IMG1", "gate/")):
        return "Performance"
    return "Style" if f.severity == "style" else "Bug Risk"


def render_findings(result, options: RenderOptions) -> str:
    issues = []
    for f in result.findings():
        key = json.dumps([f.file, f.code, f.line, f.message]).encode()
        issues.append({
            "type": "issue",
            "check_name": f.code,
            "description": f.message,
            "categories": [_category(f)],
            "fingerprint": hashlib.sha1(key).hexdigest(),
            "severity": CODECLIMATE_SEVERITY.get(f.severity, "info"),
            "location": {"path": f.file, "lines": {"begin": max(f.line, 1), "end": max(f.line, 1)}},
        })
    return json.dumps(issues, indent=2) + "\n"
