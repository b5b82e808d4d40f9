"""DL3055: Label is not a valid git hash"""

from __future__ import annotations

from imgopt.lint.labels import LabelRule


class DL3055(LabelRule):
    id = "DL3055"
    severity = "warning"
    title = "Label `<label>` is not a valid git hash."
    label_type = "hash"
    what = """With a label schema configured, flags a label of type `hash` whose value is not a 7- or
40-character lower-case hexadecimal git hash."""
    why = """`org.opencontainers.image.revision` should name the exact commit."""
    bad = """LABEL org.opencontainers.image.revision=main"""
    good = """LABEL org.opencontainers.image.revision=1a2b3c4"""

    def bad_value(self, v: str) -> bool:
        return len(v) not in (7, 40) or any(ch not in "0123456789abcdef" for ch in v)


RULE = DL3055()
