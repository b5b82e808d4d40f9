"""IMG111: Package upgrade of the whole system in a build"""

from __future__ import annotations

from imgopt.lint.rule import Rule


def upgrade(c) -> str | None:
    n, args = c.basename, c.args
    nf = [a for a in args if not a.startswith("-")]
    if n in ("apt-get", "apt", "aptitude") and nf[:1] and nf[0] in ("upgrade", "dist-upgrade", "full-upgrade",
                                                                   "safe-upgrade"):
        return f"{n} {nf[0]}"
    if n == "apk" and nf[:1] == ["upgrade"] and len(nf) == 1:
        return "apk upgrade"
    if n in ("yum", "dnf", "microdnf") and nf[:1] and nf[0] in ("update", "upgrade", "distro-sync") and len(nf) == 1:
        return f"{n} {nf[0]}"
    if n == "zypper" and nf[:1] and nf[0] in ("update", "up") and len(nf) == 1:
        return f"zypper {nf[0]}"
    return None


class IMG111(Rule):
    id = "IMG111"
    severity = "info"
    title = "Upgrading all packages in a build"
    what = """Flags `apt-get upgrade` / `dist-upgrade` / `full-upgrade` (and `apt`), `apk upgrade`, and
`yum`/`dnf`/`microdnf update`/`upgrade` / `zypper update` without package names (`zypper dup` is
DL3035)."""
    why = """An upgrade rewrites every outdated package of the base image in a new layer, so those files are
stored twice (in the base layer and in this one) and pulled twice; and the build's result depends on
the day it ran.  Use a newer base image (rebuilt upstream with the fixes) and pin it."""
    bad = """FROM debian:12
RUN apt-get update && apt-get -y upgrade"""
    good = """FROM debian:12.5"""

    def check(self, ctx):
        for ins in ctx.runs():
            what = next((u for c in ctx.commands(ins) for u in [upgrade(c)] if u), None)
            if what:
                dup = " (upgraded files are stored twice: in the base layer and in this one)" if \
                    ctx.in_final_image(ins) else ""
                yield self.hit(ins, f"`{what}` upgrades the whole base image in a layer{dup}; use a newer base image")


RULE = IMG111()
