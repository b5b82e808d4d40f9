"""IMG102: Heavy base image where a slim variant exists"""

from __future__ import annotations

from imgopt.lint.costs import MB, describe
from imgopt.lint.rule import Rule
from imgopt.lint.tables import SLIM_BASES, SLIM_WORDS


class IMG102(Rule):
    id = "IMG102"
    severity = "warning"
    title = "Heavy base image: a slim variant of the same release exists"
    config = ("slim-bases", "cost-registries")
    what = """Flags the base of the image (the first FROM of the final stage's chain) when it is the full
variant of an official image that has a slim one: python, node, debian, ruby, perl, php, rust,
buildpack-deps, openjdk / eclipse-temurin (use the JRE), and golang, maven, gradle (build images:
use a multi-stage build).  Tags that already say slim, alpine, distroless, jre... are fine.  The
`slim-bases` setting adds `repository: suggestion` entries."""
    why = """The full variants carry a whole distribution (compilers, headers, documentation) that the
application does not run.  Hundreds of megabytes more to pull on every cold start on a new node; the
cost is given with the simulator's `vpc` and `public` registry profiles (sizes are approximate
Docker Hub compressed sizes)."""
    bad = """FROM python:3.12
COPY app/ /app/"""
    good = """FROM python:3.12-slim
COPY app/ /app/"""

    def check(self, ctx):
        if not ctx.stages:
            return
        root = ctx.df.stage_chain(ctx.stages[-1])[0]
        ref = ctx.base_image(root)
        if ref is None:
            return
        tag = (ref.tag or "latest").lower()
        if any(w in tag for w in SLIM_WORDS):
            return
        repo = ref.repository if ref.registry in (None, "docker.io", "index.docker.io") else ref.name
        extra = ctx.config.slim_bases
        user = extra.get(repo) or extra.get(ref.name) or extra.get(ref.path)
        if user:
            yield self.hit(root.from_instruction, f"{ref.text} is a heavy base; use {user}")
            return
        entry = SLIM_BASES.get(repo) if ref.registry in (None, "docker.io", "index.docker.io") else None
        if entry is None:
            return
        variant, full_mb, slim_mb = entry
        if variant.startswith("-"):
            suggestion = f"{ref.path}:{'' if tag == 'latest' else tag}{variant}".replace(":-", ":")
            if tag == "latest":
                suggestion = f"{ref.path}:<version>{variant}"
        else:
            suggestion = variant
        cost = describe(None, (full_mb - slim_mb) * MB, ctx.config)
        yield self.hit(root.from_instruction, f"{ref.text} is the full variant (~{full_mb} MB compressed); "
                                              f"use {suggestion} (~{slim_mb} MB)", cost)


RULE = IMG102()
