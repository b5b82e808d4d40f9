"""IMG104: Package manager cache left in the layer"""

from __future__ import annotations

from dataclasses import dataclass

from imgopt.lint.coldstart import absolute, cd_dirs, final_instructions, rm_targets
from imgopt.lint.costs import measured
from imgopt.lint.helpers import TRUTHY, has_cache_mount, is_pip_install, is_pip_wrapper
from imgopt.lint.rule import Rule


@dataclass(frozen=True)
class Cache:
    """A package manager cache: where it is and how to avoid it."""

    name: str
    paths: tuple[str, ...]  # where the cache is (rm of these or a cache/tmpfs mount over them is the fix)
    fix: str  # what to write instead
    cost_key: str = ""


APT = Cache("apt lists", ("/var/lib/apt/lists",), "`&& rm -rf /var/lib/apt/lists/*` in the same RUN", "apt-lists")
APK = Cache("apk cache", ("/var/cache/apk",), "`apk add --no-cache`")
YUM = Cache("yum cache", ("/var/cache/yum",), "`&& yum clean all` in the same RUN")
DNF = Cache("dnf cache", ("/var/cache/dnf", "/var/cache/libdnf5", "/var/cache/yum"), "`&& dnf clean all` in the same RUN")
ZYPPER = Cache("zypper cache", ("/var/cache/zypp",), "`&& zypper clean --all` in the same RUN")
PIP = Cache("pip cache", ("~/.cache/pip",), "`pip install --no-cache-dir` (or ENV PIP_NO_CACHE_DIR=1)")
UV = Cache("uv cache", ("~/.cache/uv",), "`uv ... --no-cache` (or ENV UV_NO_CACHE=1)")
POETRY = Cache("poetry cache", ("~/.cache/pypoetry",), "`poetry install --no-cache` or `&& rm -rf ~/.cache/pypoetry`")
NPM = Cache("npm cache", ("~/.npm",), "`&& npm cache clean --force` in the same RUN")
YARN = Cache("yarn cache", ("/usr/local/share/.cache/yarn", "~/.cache/yarn", "~/.yarn/berry/cache"),
             "`&& yarn cache clean` in the same RUN")
PNPM = Cache("pnpm store", ("~/.local/share/pnpm/store", "~/.pnpm-store"), "`&& pnpm store prune` in the same RUN")
GEM = Cache("gem cache", ("/usr/local/bundle/cache", "/usr/local/lib/ruby/gems", "/var/lib/gems"),
            "`gem install --no-document` and `&& rm -rf \"$(gem env gemdir)\"/cache` in the same RUN")
GO = Cache("Go build and module cache", ("~/.cache/go-build", "/go/pkg/mod"),
           "a cache mount (`--mount=type=cache,target=/root/.cache/go-build`) or `&& go clean -cache -modcache`")


def caches_used(c, env, text) -> list[Cache]:
    """The caches command ``c`` fills (empty when its own flags avoid it)."""
    n, args = c.basename, c.args
    out = []
    if n in ("apt-get", "apt", "aptitude") and "update" in args:
        out.append(APT)
    elif n == "apk" and ("add" in args or "update" in args) and not c.has_flag("no-cache"):
        out.append(APK)
    elif n == "yum" and c.has_args("install", "update", "upgrade", "groupinstall", "localinstall", "makecache"):
        out.append(YUM)
    elif n in ("dnf", "microdnf") and c.has_args("install", "update", "upgrade", "in", "makecache", "groupinstall"):
        out.append(DNF)
    elif n == "zypper" and c.has_args("install", "in", "refresh", "ref", "update", "up"):
        out.append(ZYPPER)
    elif is_pip_install(c) and "--no-cache-dir" not in args and not is_pip_wrapper(c):
        if (env.get("PIP_NO_CACHE_DIR") or "") not in TRUTHY and "PIP_NO_CACHE_DIR=1" not in text:
            out.append(PIP)
    elif n == "uv" and c.has_args("sync", "add") or (n == "uv" and len(args) > 1 and args[0] == "pip"
                                                     and args[1] in ("install", "sync")):
        if "--no-cache" not in args and (env.get("UV_NO_CACHE") or "") not in TRUTHY and "UV_NO_CACHE=1" not in text:
            out.append(UV)
    elif n == "poetry" and "install" in args and "--no-cache" not in args:
        out.append(POETRY)
    elif n == "npm" and args[:1] and args[0] in ("install", "i", "ci", "add"):
        out.append(NPM)
    elif n == "yarn" and (not [a for a in args if not a.startswith("-")] or args[0] in ("install", "add")):
        out.append(YARN)
    elif n == "pnpm" and args[:1] and args[0] in ("install", "i", "add"):
        out.append(PNPM)
    elif n == "gem" and args[:1] and args[0] in ("install", "i"):
        out.append(GEM)
    elif n == "go" and args[:1] and args[0] in ("build", "install", "test") or (n == "go" and args[:2] == ["mod", "download"]):
        out.append(GO)
    return out


def cleaned(cache: Cache, cmds, dirs) -> bool:
    """Does the script remove ``cache`` (rm of its directory or contents, or the manager's clean)?"""
    for c, cwd in zip(cmds, dirs):
        n, args = c.basename, c.args
        for t in rm_targets(c):
            p = absolute(t, cwd)
            for cp in cache.paths:
                cpa = absolute(cp, "/")
                if p.rstrip("/*") == cpa or cpa.startswith(p.rstrip("/*") + "/") or (
                        p.endswith("*") and p.rstrip("*").rstrip("/") == cpa):
                    return True
                if "${" in t and cp.split("/")[-1] in t:
                    return True
        if cache is YUM and n == "yum" and "clean" in args:
            return True
        if cache is DNF and n in ("dnf", "microdnf", "yum") and "clean" in args:
            return True
        if cache is ZYPPER and n == "zypper" and c.has_args("clean", "cc"):
            return True
        if cache is APK and n == "apk" and "cache" in args and "clean" in args:
            return True
        if cache is PIP and n.startswith("pip") and args[:2] == ["cache", "purge"]:
            return True
        if cache is UV and n == "uv" and args[:2] in (["cache", "clean"], ["cache", "prune"]):
            return True
        if cache is POETRY and n == "poetry" and args[:2] == ["cache", "clear"]:
            return True
        if cache is NPM and n == "npm" and "cache" in args and ("clean" in args or "rm" in args):
            return True
        if cache is YARN and n == "yarn" and "cache" in args and "clean" in args:
            return True
        if cache is PNPM and n == "pnpm" and "store" in args and "prune" in args:
            return True
        if cache is GO and n == "go" and "clean" in args:
            return True
        if cache is GEM and n == "gem" and args[:1] == ["cleanup"]:
            return True
    return False


def mounted(ins, cache: Cache) -> bool:
    return any(has_cache_mount(ins, covers=p) for p in cache.paths)


class IMG104(Rule):
    id = "IMG104"
    severity = "warning"
    title = "Package manager cache left in the layer"
    config = ("cost-registries",)
    what = """Flags a RUN of the final image's stages that fills a package manager's cache and does not
empty it in the same RUN: apt (`apt-get update` lists), apk, yum, dnf/microdnf, zypper, pip (also
`pip3`, `python -m pip` and a virtual environment's pip), uv, poetry, npm, yarn, pnpm, gem, and the Go
build cache.  The manager's own switch (`--no-cache-dir`, `--no-cache`, `PIP_NO_CACHE_DIR=1`,
`UV_NO_CACHE=1`), its clean command or an `rm` of the cache directory in the same RUN are the fix, and
so is a BuildKit cache (or tmpfs) mount over the cache directory.  Build stages are not checked: their
caches do not reach the image."""
    why = """A cache is only useful to the next install on the same machine; in an image layer it is bytes
every node pulls and nothing reads (Debian's apt lists alone are ~53 MB, ~12 MB compressed).  A later
RUN that deletes it does not help: the earlier layer keeps the bytes."""
    bad = """RUN apt-get update && apt-get install -y --no-install-recommends curl
RUN pip install -r requirements.txt"""
    good = """RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt"""

    def check(self, ctx):
        steps = list(final_instructions(ctx))
        for k, step in enumerate(steps):
            ins = step.ins
            if ins.keyword != "RUN":
                continue
            script = ctx.script(ins)
            cmds = script.commands
            env = ctx.env(ins)
            dirs = cd_dirs(cmds, step.cwd)
            found: list[Cache] = []
            for c in cmds:
                for cache in caches_used(c, env, script.text):
                    if cache not in found:
                        found.append(cache)
            for cache in found:
                if mounted(ins, cache) or cleaned(cache, cmds, dirs):
                    continue
                cost = measured(cache.cost_key, ctx.config) if cache.cost_key else ""
                late = next((s.ins for s in steps[k + 1:] if s.ins.keyword == "RUN" and
                             cleaned(cache, ctx.commands(s.ins), cd_dirs(ctx.commands(s.ins), s.cwd))), None)
                after = (f" (the clean-up at line {late.start_line} comes a layer too late: the bytes stay in this one)"
                         if late is not None else "")
                yield self.hit(ins, f"{cache.name} left in the layer{after}: use {cache.fix}", cost)


RULE = IMG104()
