"""DL3056: Label does not conform to semantic versioning"""

from __future__ import annotations

import re

from imgopt.lint.labels import LabelRule


_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
                     r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")


class DL3056(LabelRule):
    id = "DL3056"
    severity = "warning"
    title = "Label `<label>` does not conform to semantic versioning."
    label_type = "semver"
    what = """With a label schema configured, flags a label of type `semver` that is not a semantic version."""
    why = """Version labels feed release tooling that sorts by SemVer."""
    bad = """LABEL version=v1.0"""
    good = """LABEL version=1.0.0"""

    def bad_value(self, v: str) -> bool:
        return _SEMVER.match(v) is None


RULE = DL3056()
