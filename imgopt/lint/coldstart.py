"""What the cold-start rules (IMG1xx) share: package installs and removals, paths a build adds and
deletes, the working directory, and sizes of build-context files.

Only the stages whose layers end up in the image (the last stage and the stages it is built FROM)
cost anything at pull time; :func:`final_instructions` walks them in build order with the working
directory in effect.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import dataclass
from typing import Iterator

from imgopt.dockerfile.parser import Instruction
from imgopt.dockerfile.shell import Command

INSTALLERS = {
    # manager -> (subcommands that install, subcommands that remove)
    "apt-get": (("install",), ("purge", "remove", "autoremove")),
    "apt": (("install",), ("purge", "remove", "autoremove")),
    "aptitude": (("install",), ("purge", "remove")),
    "apk": (("add",), ("del",)),
    "yum": (("install", "groupinstall", "localinstall"), ("remove", "erase", "autoremove", "groupremove")),
    "dnf": (("install", "groupinstall", "localinstall", "in"), ("remove", "erase", "autoremove", "rm")),
    "microdnf": (("install",), ("remove",)),
    "zypper": (("install", "in"), ("remove", "rm")),
}
# options of the package managers that take a value (so the value is not a package)
VALUE_FLAGS = ("t", "virtual", "repository", "X", "p", "root", "o", "option", "c", "config", "target-release",
               "setopt", "enablerepo", "disablerepo", "repo", "arch", "cache-dir", "keys-dir", "installroot",
               "releasever", "nodocs")


def manager_of(cmd: Command) -> str | None:
    n = cmd.basename
    return n if n in INSTALLERS else None


def installed(cmd: Command) -> list[str]:
    """Packages a package-manager command installs ([] when it is not an install)."""
    m = manager_of(cmd)
    if m is None:
        return []
    verbs, _ = INSTALLERS[m]
    args = cmd.args_no_flags(VALUE_FLAGS)
    k = next((i for i, a in enumerate(args) if a in verbs), None)
    if k is None:
        return []
    return [a for a in args[k + 1:] if a not in verbs]


def removed(cmd: Command) -> list[str]:
    """Packages (or apk virtual names) a package-manager command removes."""
    m = manager_of(cmd)
    if m is None:
        return []
    _, verbs = INSTALLERS[m]
    args = cmd.args_no_flags(VALUE_FLAGS)
    k = next((i for i, a in enumerate(args) if a in verbs), None)
    if k is None:
        return []
    return [a for a in args[k + 1:] if a not in verbs] or ["*"]  # autoremove: whatever is unused


def virtual_name(cmd: Command) -> str | None:
    """``apk add --virtual NAME`` / ``-t NAME``."""
    if cmd.basename != "apk":
        return None
    vals = cmd.flag_values("virtual") + cmd.flag_values("t")
    return vals[0] if vals else None


# ---------------------------------------------------------------- paths


def absolute(path: str, cwd: str) -> str:
    p = path.strip().strip("\"'")
    if p.startswith("~/") or p == "~":
        p = "/root" + p[1:]
    if not p.startswith("/"):
        p = posixpath.join(cwd or "/", p)
    out = posixpath.normpath(p)
    return "/" + out.lstrip("/") if out != "/" else "/"


def covers(removed_path: str, added: str) -> bool:
    """Does removing ``removed_path`` (maybe a glob) delete some or all of ``added``?"""
    r = removed_path.rstrip("/") or "/"
    a = added.rstrip("/") or "/"
    if any(ch in r for ch in "*?["):
        if fnmatch.fnmatchcase(a, r):
            return True
        base = r.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0].rstrip("/")
        return bool(base) and (a == base or a.startswith(base + "/")) and r.endswith("/*")
    return a == r or a.startswith(r + "/") or r.startswith(a + "/")


@dataclass
class Step:
    """An instruction of the final image's stages, with the working directory it runs in."""

    ins: Instruction
    cwd: str
    stage: int


def final_instructions(ctx) -> Iterator[Step]:
    """The instructions of the stages that end up in the image, in build order."""
    if not ctx.stages:
        return
    chain = ctx.df.stage_chain(ctx.stages[-1])
    cwd = "/"
    for st in chain:
        for ins in st.instructions:
            if ins.keyword == "WORKDIR":
                value = ctx.expand(ins, ins.args.strip()) or ins.args.strip()
                cwd = absolute(value, cwd)
            yield Step(ins, cwd, st.index)


def rm_targets(cmd: Command) -> list[str]:
    """The paths an ``rm`` removes (non-flag arguments)."""
    if cmd.basename != "rm":
        return []
    return [a for a in cmd.args_no_flags() if a and a != "--"]


def cd_dirs(cmds: list[Command], start: str) -> list[str]:
    """The working directory each command of a script runs in (following plain ``cd DIR``)."""
    out, cwd = [], start
    for c in cmds:
        out.append(cwd)
        if c.name == "cd" and c.args and not c.synthetic:
            a = c.args[-1]
            if "$" not in a and a != "-":
                cwd = absolute(a, cwd)
    return out


def context_size(ctx, rel: str, limit_files: int = 20000) -> int | None:
    """Bytes of ``rel`` in the build context when it is there (a file, or a directory walked up to
    ``limit_files`` files); None when unknown."""
    if "$" in rel or any(ch in rel for ch in "*?["):
        return None
    p = ctx.context_path(rel)
    if p is None:
        return None
    try:
        if os.path.isfile(p):
            return os.path.getsize(p)
        if not os.path.isdir(p):
            return None
        total, n = 0, 0
        for root, dirs, files in os.walk(p):
            for f in files:
                n += 1
                if n > limit_files:
                    return total
                try:
                    total += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        return total
    except OSError:
        return None


def copy_parts(ins: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY/ADD, quotes removed ([] and "" for heredoc forms)."""
    if ins.heredocs:
        return [], ""
    w = ins.words
    if len(w) < 2:
        return [], ""
    return w[:-1], w[-1]


__all__ = [n for n in dir() if not n.startswith("_")]
