"""IMG109: COPY of the whole build context without a .dockerignore"""

from __future__ import annotations

import os

from imgopt.lint.coldstart import context_size, copy_parts
from imgopt.lint.costs import human
from imgopt.lint.rule import Rule


IGNORED_USUALLY = (".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache")


class IMG109(Rule):
    id = "IMG109"
    severity = "warning"
    title = "COPY of the whole build context without a .dockerignore"
    what = """Flags `COPY .` / `ADD .` from the build context when there is no `.dockerignore` (nor a
`<Dockerfile>.dockerignore`) beside the Dockerfile.  When the directory has a `.git`, `node_modules`,
virtual environment or caches, their size is given.  Not checked for standard input."""
    why = """Without .dockerignore, everything in the directory goes into the layer: version control
history, local dependencies, test data, secrets in .env files.  Every node pulls it, and every change
to any of it busts the layer cache."""
    bad = """COPY . /app"""
    good = """# .dockerignore: .git node_modules .venv *.log
COPY . /app"""

    def check(self, ctx):
        if ctx.directory is None:
            return
        name = os.path.basename(ctx.path)
        if os.path.isfile(os.path.join(ctx.directory, ".dockerignore")) or \
                os.path.isfile(os.path.join(ctx.directory, name + ".dockerignore")):
            return
        for ins in ctx.of("COPY", "ADD"):
            if ins.flag("from") is not None:
                continue
            srcs, _ = copy_parts(ins)
            if not any(s in (".", "./", "*", "./*") for s in srcs):
                continue
            sizes = [(d, context_size(ctx, d)) for d in IGNORED_USUALLY]
            sizes = [(d, n) for d, n in sizes if n]
            what = ", ".join(f"{d} {human(n)}" for d, n in sizes)
            cost = f"would copy {what}" if what else ""
            yield self.hit(ins, "the whole context is copied and there is no .dockerignore beside the Dockerfile", cost)


RULE = IMG109()
