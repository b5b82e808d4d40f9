"""DL3058: Label is not a valid email format"""

from __future__ import annotations

import re

from imgopt.lint.labels import LabelRule


_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
                    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


class DL3058(LabelRule):
    id = "DL3058"
    severity = "warning"
    title = "Label `<label>` is not a valid email format - must conform to RFC5322."
    label_type = "email"
    what = """With a label schema configured, flags a label of type `email` whose value is not an e-mail
address (RFC 5322 addr-spec, dot-atom form)."""
    why = """Maintainer labels are used to reach the owner."""
    bad = """LABEL maintainer="the web team" """
    good = """LABEL maintainer=web@example.com"""

    def bad_value(self, v: str) -> bool:
        return _EMAIL.match(v) is None


RULE = DL3058()
