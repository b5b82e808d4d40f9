"""DL3052: Label is not a valid URL"""

from __future__ import annotations

import re

from imgopt.lint.labels import LabelRule


class DL3052(LabelRule):
    id = "DL3052"
    severity = "warning"
    title = "Label `<label>` is not a valid URL."
    label_type = "url"
    what = """With a label schema configured, flags a label of type `url` whose value is not an absolute URI."""
    why = """Tools follow these links (source repository, documentation)."""
    bad = """LABEL org.opencontainers.image.source=github.com/x/y"""
    good = """LABEL org.opencontainers.image.source=https://github.com/x/y"""

    def bad_value(self, v: str) -> bool:
        return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$", v) is None


RULE = DL3052()
