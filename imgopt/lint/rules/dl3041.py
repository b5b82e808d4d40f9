"""DL3041: Specify version with dnf install -y <package>-<version>"""

from __future__ import annotations

from imgopt.lint.rules.dl3033 import DL3033


class DL3041(DL3033):
    id = "DL3041"
    severity = "warning"
    origin = "hadolint"
    title = "Specify version with `dnf install -y <package>-<version>`."
    what = """Flags dnf/microdnf install of a package without `-version` (`.rpm` files need none; a name
with `${VAR}` is fine when VAR is an ARG or an ENV of the stage), and `dnf module install` without
`:stream`."""
    why = """An unpinned install takes whatever the repository has at build time."""
    bad = """RUN dnf install -y httpd"""
    good = """RUN dnf install -y httpd-2.4.57"""
    hadolint = "Same as hadolint."
    manager = ("dnf", "microdnf")
    skip_subcommands = ("module", "group")


RULE = DL3041()
