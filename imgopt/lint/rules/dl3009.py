"""DL3009: Delete the apt lists after installing something"""

from __future__ import annotations

from imgopt.lint.helpers import has_cache_mount, reported_stage
from imgopt.lint.rule import Rule


def updates(cmd) -> bool:
    return cmd.name in ("apt", "apt-get", "aptitude") and "update" in cmd.args


def cleans(cmd) -> bool:
    # hadolint's test: an rm with either "-rf" or "/var/lib/apt/lists/*" among its arguments
    return cmd.name == "rm" and cmd.has_args("-rf", "/var/lib/apt/lists/*")


class DL3009(Rule):
    id = "DL3009"
    severity = "info"
    origin = "hadolint"
    title = "Delete the apt lists (/var/lib/apt/lists) after installing something"
    what = """Flags a RUN that runs `apt-get update` without removing `/var/lib/apt/lists` in the same RUN,
in a stage that ends up in the image (the last stage, or one another stage is built FROM).  A cache
or tmpfs mount of the lists directory is the fix too."""
    why = """`apt-get update` downloads the package lists (about 53 MB on Debian bookworm, measured on
imgopt's fixture images); left in the layer they are pulled with every image and never used at run
time.  Removing them in a later RUN does not help: the bytes stay in the earlier layer."""
    bad = """RUN apt-get update && apt-get install -y curl"""
    good = """RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*"""
    hadolint = """Same as hadolint, including its loose test for the clean-up (any `rm -rf` counts).
imgopt's IMG104 checks that the lists really are removed."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            cmds = ctx.commands(ins, hadolint=True)
            if not any(updates(c) for c in cmds) or any(cleans(c) for c in cmds):
                continue
            if has_cache_mount(ins, "/var/lib/apt/lists") or (
                    has_cache_mount(ins, "/var/lib/apt") and has_cache_mount(ins, "/var/cache/apt")):
                continue
            if ins.trigger is None and not reported_stage(ctx, ins) and ins.keyword == "RUN":
                continue
            yield self.hit(ins)


RULE = DL3009()
