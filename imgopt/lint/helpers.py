"""What several rules ask of RUN commands: package managers, pip, cache mounts, image names.

Rules stay small by sharing these; each helper says which hadolint function it mirrors where
it does, so the DL rules keep hadolint's meaning.
"""

from __future__ import annotations

import re
from typing import Iterable

from imgopt.dockerfile.parser import Instruction
from imgopt.dockerfile.shell import Command, Script

ARCHIVE_EXTENSIONS = (".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz",
                      ".tlz", ".tpz", ".txz", ".xz")  # hadolint's archiveFileFormatExtensions
TRUTHY = frozenset({"1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES"})


def drop_quotes(s: str) -> str:
    return s.strip("\"'")


def is_archive(path: str) -> bool:
    p = drop_quotes(path)
    return any(p.endswith(e) for e in ARCHIVE_EXTENSIONS)


def is_url(path: str) -> bool:
    p = drop_quotes(path)
    return p.startswith(("https://", "http://"))


def basename(path: str) -> str:
    p = drop_quotes(path)
    return re.split(r"[/\\]", p)[-1]


def is_windows_absolute(path: str) -> bool:
    return len(path) >= 2 and path[0].isalpha() and path[1] == ":"


def command_is(cmd: Command, *names: str) -> bool:
    """The command is one of ``names`` (by its name as written or its basename)."""
    return cmd.name in names or cmd.basename in names


def any_command(cmds: Iterable[Command], pred) -> bool:
    return any(pred(c) for c in cmds)


def first_index(cmds: list[Command], pred) -> int | None:
    return next((i for i, c in enumerate(cmds) if pred(c)), None)


def clean_after(cmds: list[Command], install, clean) -> bool:
    """hadolint's pattern: the first install command comes before the first clean command."""
    i, c = first_index(cmds, install), first_index(cmds, clean)
    return i is not None and c is not None and i < c


# ---------------------------------------------------------------- pip


def is_pip_install(cmd: Command, hadolint: bool = False) -> bool:
    """``pip install`` / ``pip3 install`` / ``python -m pip install``, by basename, so a virtual
    environment's ``/opt/venv/bin/pip install`` counts.  ``hadolint=True``: hadolint's isPipInstall,
    which looks at the name as written (``/opt/venv/bin/pip`` does not start with "pip")."""
    name = cmd.name if hadolint else cmd.basename
    args = cmd.args
    if name.startswith("pip") and not name.startswith("pipenv") and "install" in args:
        return True
    if name.startswith("python") and _sublist(args, ["-m", "pip", "install"]):
        return True
    return False


def _sublist(seq: list[str], sub: list[str]) -> bool:
    n = len(sub)
    return any(seq[i:i + n] == sub for i in range(len(seq) - n + 1))


def is_pip_wrapper(cmd: Command) -> bool:
    """pipx / pipenv (hadolint's isPipWrapper)."""
    for w in ("pipx", "pipenv"):
        if w in cmd.name or (cmd.basename.startswith("python") and _sublist(cmd.args, ["-m", w])):
            return True
    return False


# ---------------------------------------------------------------- mounts


def mounts(ins: Instruction) -> list[dict[str, str]]:
    """The ``--mount`` flags of a RUN as key/value mappings (type defaults to bind)."""
    out = []
    for m in ins.flag_values("mount"):
        d: dict[str, str] = {}
        for part in m.split(","):
            k, eq, v = part.partition("=")
            d[k.strip().lower()] = v.strip() if eq else "true"
        d.setdefault("type", "bind")
        if "target" not in d:
            d["target"] = d.get("dst") or d.get("destination") or ""
        out.append(d)
    return out


def has_cache_mount(ins: Instruction, fragment: str | None = None, covers: str | None = None) -> bool:
    """A cache or tmpfs mount (hadolint's hasCacheOrTmpfsMountWith: the target contains ``fragment``);
    ``covers``: the target is ``covers`` or one of its parent directories."""
    for m in mounts(ins):
        if m["type"] not in ("cache", "tmpfs"):
            continue
        t = m["target"]
        if fragment is not None and fragment in t:
            return True
        if covers is not None and t and _covers(t, covers):
            return True
        if fragment is None and covers is None:
            return True
    return False


def _covers(target: str, path: str) -> bool:
    t = target.rstrip("/") or "/"
    if path.startswith("~/"):
        return t.endswith("/" + path[2:].rstrip("/")) or any(
            t.endswith("/" + path[2:].split("/", k)[0]) for k in range(1, path[2:].count("/") + 1))
    p = path.rstrip("/")
    return p == t or p.startswith(t + "/") or t == "/"


def flags_key(ins: Instruction) -> tuple[str, ...]:
    """A RUN's flags, comparable (DL3059: RUNs with different flags are not merged)."""
    return tuple(sorted(ins.flags))


# ---------------------------------------------------------------- variables in RUN scripts


def script_env(script: Script, until: int, env: dict[str, str | None]) -> dict[str, str | None]:
    """``env`` plus the shell assignments made in ``script`` before offset ``until``."""
    out = dict(env)
    for name, word, off in script.assignments:
        if off >= until:
            break
        out[name] = word.resolve(out)
    return out


def package_words(cmd: Command, words_idx: list[int], script: Script, env: dict[str, str | None]) -> list[str]:
    """Expand package arguments that are variables (``$buildDeps``) into the packages they hold,
    when the value is known; unknown ones are kept as written."""
    out: list[str] = []
    senv = None
    args = cmd.words[1:]
    for i in words_idx:
        w = args[i]
        if w.literal:
            out.append(w.value)
            continue
        if senv is None:
            senv = script_env(script, cmd.start, env)
        v = w.resolve(senv)
        if v is None:
            out.append(w.value)
        else:
            out.extend(v.split() if not w.quoted else [v])
    return out


def nonflag_indexes(cmd: Command, drop_values_of: tuple[str, ...] = ()) -> list[int]:
    """Indexes (into args) of arguments that are not flags nor values of the named flags."""
    args = cmd.args
    flag_idx = {i for _, i in cmd.flags}
    drop = {i + 1 for f, i in cmd.flags if f in drop_values_of and "=" not in args[i] and i + 1 < len(args)}
    return [i for i in range(len(args)) if i not in flag_idx and i not in drop]


# ---------------------------------------------------------------- stages (hadolint's DL3009 / DL3060 view)


def reported_stage(ctx, ins: Instruction) -> bool:
    """hadolint's rule for "leftover" findings: the RUN is in the last stage, or in a stage
    another FROM builds on."""
    st = ctx.stage(ins)
    if st is None:
        return True
    if st.index == len(ctx.stages) - 1:
        return True
    return st.name is not None and any(s.base.lower() == st.name for s in ctx.stages if s.index > st.index)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "re", "Iterable")]
