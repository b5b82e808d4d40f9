"""DL3053: Label is not a valid time format"""

from __future__ import annotations

import re

from imgopt.lint.labels import LabelRule


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class DL3053(LabelRule):
    id = "DL3053"
    severity = "warning"
    title = "Label `<label>` is not a valid time format - must conform to RFC3339."
    label_type = "rfc3339"
    what = """With a label schema configured, flags a label of type `rfc3339` whose value is not an RFC 3339
timestamp."""
    why = """OCI defines `org.opencontainers.image.created` as RFC 3339."""
    bad = """LABEL org.opencontainers.image.created=yesterday"""
    good = """LABEL org.opencontainers.image.created=2024-03-01T12:00:00Z"""

    def bad_value(self, v: str) -> bool:
        return _RFC3339.match(v) is None


RULE = DL3053()
