"""DL3051: label is empty"""

from __future__ import annotations

from imgopt.lint.labels import LabelRule


class DL3051(LabelRule):
    id = "DL3051"
    severity = "warning"
    title = "label `<label>` is empty."
    label_type = None
    what = """With a label schema configured, flags a required label whose value is empty."""
    why = """An empty required label carries no information."""
    bad = """LABEL version="" """
    good = """LABEL version=1.0.0"""

    def bad_value(self, v: str) -> bool:
        return v == ""


RULE = DL3051()
