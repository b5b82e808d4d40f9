"""DL3002: Last USER should not be root"""

from __future__ import annotations

from imgopt.lint.rule import Rule


def is_root(user: str) -> bool:
    return user in ("root", "0") or user.startswith(("root:", "0:"))


class DL3002(Rule):
    id = "DL3002"
    severity = "warning"
    origin = "hadolint"
    title = "Last USER should not be root"
    what = """Flags a stage whose last USER instruction switches to root."""
    why = """Containers run as the image's last USER.  Switching to root for installation is fine, but
the image should end as an unprivileged user so a compromised process does not own the container."""
    bad = """USER root
RUN apt-get update
# (no USER after this)"""
    good = """USER root
RUN apt-get update
USER app"""
    hadolint = """Same as hadolint: every stage is checked (a build stage that ends as root is flagged
too, although it does not end up in the image)."""

    def check(self, ctx):
        last: dict[int, object] = {}
        for ins in ctx.of("USER"):
            if ins.stage_index is None:
                continue
            user = ins.args.strip()
            if is_root(user):
                last[ins.stage_index] = ins
            else:
                last.pop(ins.stage_index, None)
        for ins in last.values():
            yield self.hit(ins)


RULE = DL3002()
