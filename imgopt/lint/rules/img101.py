"""IMG101: Base image pulled from a public endpoint where a same-region one exists"""

from __future__ import annotations

from imgopt.lint.costs import MB, human, pull_seconds
from imgopt.lint.rule import Rule
from imgopt.lint.tables import SLIM_BASES, VPC_ENDPOINTS


class IMG101(Rule):
    id = "IMG101"
    severity = "info"
    title = "Base image pulled from a public registry endpoint; a same-region endpoint serves it faster"
    config = ("registry-map", "cost-registries")
    what = """Flags a FROM whose registry is a public endpoint with a same-region or private counterpart:
Alibaba Cloud ACR's `registry.<region>.aliyuncs.com` (use `registry-vpc.<region>.aliyuncs.com`, or an
Enterprise instance's `-vpc` endpoint), Amazon ECR Public (`public.ecr.aws`: an ECR pull-through cache
or a private repository in your region), and any prefix of the `registry-map` setting (for example
`docker.io: 123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub`)."""
    why = """Builds and cold starts in the cloud pull from the registry the image names.  A same-region
endpoint is a few hundred microseconds away and serves at object-storage speed; the public one crosses
the internet (and is rate-limited or billed as egress).  The cost is given with the simulator's `vpc`
and `public` registry profiles."""
    bad = """FROM registry.cn-hangzhou.aliyuncs.com/acme/base:1.4"""
    good = """FROM registry-vpc.cn-hangzhou.aliyuncs.com/acme/base:1.4"""

    def check(self, ctx):
        rmap = ctx.config.registry_map
        for st in ctx.stages:
            ref = ctx.base_image(st)
            if ref is None:
                continue
            registry = ref.registry or "docker.io"
            name = ref.name if ref.registry else f"docker.io/{ref.path}"
            suggestion, why = None, ""
            for prefix, target in sorted(rmap.items(), key=lambda kv: -len(kv[0])):
                if name == prefix or name.startswith(prefix.rstrip("/") + "/") or registry == prefix:
                    rest = name[len(prefix):].lstrip("/") if name.startswith(prefix) else ref.path
                    suggestion = f"{target}/{rest}" if rest else target
                    why = "the registry map of the configuration names a same-region mirror"
                    break
            if suggestion is None:
                for pat, repl, what in VPC_ENDPOINTS:
                    if pat.match(registry):
                        suggestion = pat.sub(repl, registry) + "/" + ref.path
                        why = what
                        break
            if suggestion is None:
                continue
            size = _size_of(ref)
            secs = dict(pull_seconds(size or 100 * MB, tuple(ctx.config.cost_registries)))
            cost = ""
            if "public" in secs and "vpc" in secs:
                what = f"~{human(size)} image" if size else "per 100 MB of image"
                cost = f"{what}: ~{secs['public']:.1f} s to pull from 'public' vs ~{secs['vpc']:.2f} s from 'vpc'"
            tag = f":{ref.tag}" if ref.tag else ""
            yield self.hit(st.from_instruction, f"{ref.name} comes from a public endpoint; pull {suggestion}{tag} "
                                                f"instead ({why})", cost)


def _size_of(ref) -> float | None:
    repo = ref.repository if ref.registry in (None, "docker.io") else None
    entry = SLIM_BASES.get(repo) if repo else None
    return entry[1] * MB if entry else None


RULE = IMG101()
