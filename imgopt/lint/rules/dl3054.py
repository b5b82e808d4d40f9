"""DL3054: Label is not a valid SPDX identifier"""

from __future__ import annotations

import re

from imgopt.lint.labels import LabelRule


_ID = re.compile(r"^(LicenseRef-|DocumentRef-[A-Za-z0-9.-]+:LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.-]*\+?$")


def spdx_expression(v: str) -> bool:
    """Is ``v`` a well-formed SPDX license expression (ids, AND/OR/WITH, parentheses)?"""
    toks = v.replace("(", " ( ").replace(")", " ) ").split()
    expect_id, depth = True, 0
    for t in toks:
        if t == "(" and expect_id:
            depth += 1
        elif t == ")" and not expect_id and depth:
            depth -= 1
        elif t in ("AND", "OR", "WITH") and not expect_id:
            expect_id = True
        elif expect_id and _ID.match(t):
            expect_id = False
        else:
            return False
    return bool(toks) and not expect_id and depth == 0


class DL3054(LabelRule):
    id = "DL3054"
    severity = "warning"
    title = "Label `<label>` is not a valid SPDX identifier."
    label_type = "spdx"
    what = """With a label schema configured, flags a label of type `spdx` whose value is not an SPDX
license expression."""
    why = """License scanners read `org.opencontainers.image.licenses` as SPDX."""
    bad = """LABEL org.opencontainers.image.licenses="Apache License" """
    good = """LABEL org.opencontainers.image.licenses=Apache-2.0"""
    hadolint = """hadolint checks identifiers against the SPDX license list; this checks the expression's
syntax (identifiers, `LicenseRef-`, `AND`/`OR`/`WITH`, parentheses, `+`), so an unknown but
well-formed identifier passes."""

    def bad_value(self, v: str) -> bool:
        return not spdx_expression(v)


RULE = DL3054()
