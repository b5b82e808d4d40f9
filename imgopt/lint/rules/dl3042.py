"""DL3042: Avoid use of cache directory with pip"""

from __future__ import annotations

from imgopt.lint.helpers import TRUTHY, has_cache_mount, is_pip_install, is_pip_wrapper
from imgopt.lint.rule import Rule


class DL3042(Rule):
    id = "DL3042"
    severity = "warning"
    origin = "hadolint"
    title = "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`"
    what = """Flags `pip install` without `--no-cache-dir`, unless `PIP_NO_CACHE_DIR` is set to a true
value (ENV of the stage, or in the RUN), pip runs through pipx/pipenv, or a cache/tmpfs mount covers
pip's cache (`~/.cache/pip` or a parent such as `/root/.cache`)."""
    why = """pip keeps every downloaded and built wheel in ~/.cache/pip; in the layer that is pure waste
(the installed packages are there too)."""
    bad = """RUN pip install -r requirements.txt"""
    good = """RUN pip install --no-cache-dir -r requirements.txt"""
    hadolint = """hadolint only accepts a cache mount whose target contains `.cache/pip`, so a mount of
`/root/.cache` (pip's cache is inside it) is flagged by hadolint and not here (hadolint#497, #983).  Commands are
recognised as hadolint does (by the name as written); IMG104 also checks a virtual environment's pip."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            env = ctx.env(ins)
            if (env.get("PIP_NO_CACHE_DIR") or "") in TRUTHY:
                continue
            text = ctx.script(ins).text
            k = text.find("PIP_NO_CACHE_DIR=")
            if k >= 0 and any(text[k + 17:].startswith(t) for t in TRUTHY):
                continue
            if has_cache_mount(ins, ".cache/pip", covers="~/.cache/pip"):
                continue
            for c in ctx.commands(ins, hadolint=True):
                if is_pip_install(c, hadolint=True) and "--no-cache-dir" not in c.args and not is_pip_wrapper(c):
                    yield self.hit(ins)
                    break


RULE = DL3042()
