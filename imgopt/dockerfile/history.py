"""Tie an image's layers to the Dockerfile lines that created them (``imgopt analyze --dockerfile``).

:func:`map_layers` aligns the instructions of the target stage (and of the
stages it is built ``FROM``) with the image config's ``history``, from the
end (base image entries come first), and checks that keywords and
arguments agree (history entries are read by
:mod:`imgopt.dockerfile.created_by`, both builders' formats).  Each layer
gets a :class:`LayerOrigin` with a confidence, or ``None``; what did not fit
is listed in ``LayerMap.problems``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Iterable, Sequence

from imgopt.dockerfile.created_by import BuildStep, parse_created_by
from imgopt.dockerfile.parser import (
    LAYER_INSTRUCTIONS, Dockerfile, Instruction, Stage, _norm, parse_heredoc_word,
)

if TYPE_CHECKING:
    from imgopt.image.model import HistoryEntry

#: instructions that make a layer only sometimes (classic builder: when the directory is new)
MAYBE_LAYER_INSTRUCTIONS = frozenset({"WORKDIR"})
DEFAULT_SHELLS = (("/bin/sh", "-c"), ("cmd", "/S", "/C"))
_SHELL_PREFIX = re.compile(
    r"^\S*?(?:sh|bash|ash|dash|zsh|ksh|busybox sh|cmd|powershell|pwsh)(?:\.exe)?(?: [-/]\S+)*$", re.I)

# ---------------------------------------------------------------- comparing steps


EXACT, SIMILAR, WEAK = "exact", "similar", "weak"
_SIMILAR_RATIO = 0.75


def _ratio(a: str, b: str) -> float:
    sm = SequenceMatcher(None, a, b, autojunk=False)
    if sm.real_quick_ratio() < _SIMILAR_RATIO or sm.quick_ratio() < _SIMILAR_RATIO:
        return 0.0
    return sm.ratio()


def _run_commands(instr: Instruction) -> list[str]:
    """The command strings a builder may have recorded for a RUN (normalized)."""
    if instr.exec_form is not None:
        return [_norm(" ".join(instr.exec_form))]
    cmds = [instr.args]
    if instr.heredocs:
        first = instr.heredocs[0]
        if parse_heredoc_word(instr.args.strip()) is not None:  # "RUN <<EOF": the body is the script
            cmds = [first.content, f"/dev/pipes/{first.name}"]
        else:  # "RUN python3 <<EOF": command line + bodies + terminators
            cmds = [instr.args + "".join("\n" + h.raw + h.name for h in instr.heredocs)]
    return [_norm(c) for c in cmds if c.strip()]


def _strip_shell(cmd: str, shells: Sequence[Sequence[str]]) -> tuple[str, bool]:
    """Remove a known shell prefix from a normalized command; (rest, whether one was found)."""
    for sh in shells:
        prefix = _norm(" ".join(sh))
        if prefix and cmd.startswith(prefix + " "):
            return cmd[len(prefix) + 1:], True
    return cmd, False


def _compare_run(instr: Instruction, step: BuildStep, shells: Sequence[Sequence[str]]) -> str:
    recorded = _norm(step.args)
    body, _ = _strip_shell(recorded, shells)
    best = WEAK
    for cmd in _run_commands(instr):
        if recorded == cmd or body == cmd:
            return EXACT
        if recorded.endswith(" " + cmd) and _SHELL_PREFIX.match(recorded[: -len(cmd) - 1]):
            return EXACT
        if _ratio(body, cmd) >= _SIMILAR_RATIO:
            best = SIMILAR
    return best


def _copy_parts(instr: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY/ADD instruction."""
    words = instr.exec_form if instr.exec_form is not None else instr.args.split()
    if not words:
        return [], ""
    return list(words[:-1]), words[-1]


def _recorded_copy(step: BuildStep) -> tuple[list[str] | None, str]:
    """(sources or None when unknown, destination) of a COPY/ADD history entry."""
    if step.builder == "classic" or re.match(r"^\w+:\S* in ", step.args):  # "dir:<hash> in /app"
        _, _, dest = step.args.rpartition(" in ")
        return None, dest.strip()
    words = [w for w in step.args.split() if not w.startswith("--")]
    return (words[:-1], words[-1]) if words else ([], "")


def _path_key(path: str) -> str:
    p = path.strip().strip("\"'")
    return p.rstrip("/") or "/" if p.startswith("/") else p.rstrip("/")


def _pattern_match(pattern: str, value: str) -> bool:
    """Does ``value`` fit ``pattern`` with $VAR / ${VAR} standing for anything?"""
    if "$" not in pattern:
        return False
    parts = re.split(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", pattern)
    return re.fullmatch(".*".join(re.escape(p) for p in parts), value, re.S) is not None


def _compare_copy(instr: Instruction, step: BuildStep) -> str:
    sources, dest = _copy_parts(instr)
    rec_sources, rec_dest = _recorded_copy(step)
    a, b = _path_key(dest), _path_key(rec_dest)
    if a == b:
        if rec_sources is None or [_path_key(s) for s in rec_sources] == [_path_key(s) for s in sources]:
            return EXACT
        return SIMILAR
    if _pattern_match(a, b) or (not a.startswith("/") and a not in (".", "") and b.endswith("/" + a)):
        return SIMILAR
    return WEAK


def _compare_path(instr: Instruction, step: BuildStep) -> str:
    a, b = _path_key(instr.args), _path_key(step.args)
    if a == b:
        return EXACT
    if _pattern_match(a, b) or (not a.startswith("/") and b.endswith("/" + a)):
        return SIMILAR
    return WEAK


def _compare_other(instr: Instruction, step: BuildStep) -> str:
    ours = _norm(instr.args)
    if instr.exec_form is not None:
        ours = "[" + " ".join(json.dumps(x) for x in instr.exec_form) + "]"
    theirs = _norm(step.args)
    if ours == theirs or ours.replace('"', "") == theirs.replace('"', ""):
        return EXACT
    return SIMILAR if _ratio(ours, theirs) >= _SIMILAR_RATIO else WEAK


def compare_step(instr: Instruction, step: BuildStep, shells: Sequence[Sequence[str]] = DEFAULT_SHELLS) -> str | None:
    """How well a history step fits an instruction: exact, similar, weak, or None (keywords differ)."""
    if step.keyword is None or step.keyword != instr.keyword:
        return None
    if instr.keyword == "RUN":
        return _compare_run(instr, step, shells)
    if instr.keyword in ("COPY", "ADD"):
        return _compare_copy(instr, step)
    if instr.keyword == "WORKDIR":
        return _compare_path(instr, step)
    return _compare_other(instr, step)


# ---------------------------------------------------------------- alignment


@dataclass(frozen=True)
class LayerOrigin:
    """Where one layer came from."""

    kind: str  # "instruction" (made by a Dockerfile line) or "base" (part of the FROM image)
    keyword: str  # RUN/COPY/ADD/WORKDIR..., or FROM for base layers
    line: int  # first physical line of the instruction (1-based)
    end_line: int  # last physical line (heredoc terminators included)
    text: str  # the instruction, whitespace collapsed
    confidence: str  # "exact", "similar", "weak" (only the keyword and position agree), or "base"
    stage_index: int
    stage_name: str | None
    base_image: str | None = None  # for base layers: the FROM image as written
    instruction: Instruction | None = field(default=None, compare=False, repr=False)
    history: HistoryEntry | None = field(default=None, compare=False, repr=False)

    @property
    def start_line(self) -> int:
        return self.line


class LayerMap(list):  # list[LayerOrigin | None]
    """map_layers' result: one entry per layer, plus ``problems`` (human-readable)."""

    def __init__(self, items: Iterable[LayerOrigin | None] = (), problems: list[str] | None = None,
                 stage: Stage | None = None):
        super().__init__(items)
        self.problems: list[str] = problems or []
        self.stage = stage


@dataclass
class _Step:
    """An instruction of the stage chain, with the shells it may have run under."""

    instr: Instruction
    shells: tuple[tuple[str, ...], ...]


# scores for the alignment
_MATCH = {EXACT: 4.0, SIMILAR: 3.0, WEAK: 0.5}
_EMPTY_LAYER_RUN = -1.0  # RUN/COPY/ADD recorded as empty (BuildKit drops empty diffs)
_SKIP_LAYER_INSTR = -1.0
_SKIP_OTHER_INSTR = -0.2
_SKIP_LAYER_ENTRY = -2.0
_SKIP_EMPTY_ENTRY = -0.2
_SCRATCH_BASE_LAYER = -2.0


def _chain_steps(df: Dockerfile, stage: Stage) -> list[_Step]:
    """The instructions that built ``stage`` (its FROM-ancestors' first), with the shell in effect."""
    steps = []
    shells: tuple[tuple[str, ...], ...] = DEFAULT_SHELLS
    for st in df.stage_chain(stage):
        for instr in st.instructions:
            if instr.keyword == "SHELL" and instr.exec_form:
                shells = (tuple(instr.exec_form),) + DEFAULT_SHELLS
            if instr.known:
                steps.append(_Step(instr, shells))
    return steps


def _match_score(step: _Step, bstep: BuildStep, entry: HistoryEntry) -> tuple[float, str] | None:
    kw = step.instr.keyword
    if not entry.empty_layer and kw not in LAYER_INSTRUCTIONS | MAYBE_LAYER_INSTRUCTIONS:
        return None
    conf = compare_step(step.instr, bstep, step.shells)
    if conf is None:
        return None
    score = _MATCH[conf]
    if entry.empty_layer and kw in LAYER_INSTRUCTIONS:
        score += _EMPTY_LAYER_RUN
    return score, conf


def _align(steps: list[_Step], history: list[HistoryEntry], scratch: bool
           ) -> tuple[int, dict[int, tuple[int, str]]]:
    """Align steps with the tail of history.

    Returns (number of history entries that belong to the base image,
    {history index: (step index, confidence)}).
    """
    parsed = [parse_created_by(h.created_by) for h in history]
    n, m = len(steps), len(history)
    neg = float("-inf")
    dp = [[neg] * (m + 1) for _ in range(n + 1)]
    move: list[list[tuple[str, str]]] = [[("", "")] * (m + 1) for _ in range(n + 1)]
    base_cost = 0.0
    for j in range(m + 1):  # the first j entries are the base image's
        dp[0][j] = base_cost
        move[0][j] = ("base", "")
        if j < m and scratch and not history[j].empty_layer:
            base_cost += _SCRATCH_BASE_LAYER
    for i in range(1, n + 1):
        st = steps[i - 1]
        skip_i = _SKIP_LAYER_INSTR if st.instr.keyword in LAYER_INSTRUCTIONS else _SKIP_OTHER_INSTR
        for j in range(m + 1):
            best, how = dp[i - 1][j] + skip_i, ("skip-instr", "")
            if j:
                h = history[j - 1]
                v = dp[i][j - 1] + (_SKIP_EMPTY_ENTRY if h.empty_layer else _SKIP_LAYER_ENTRY)
                if v > best:
                    best, how = v, ("skip-entry", "")
                ms = _match_score(st, parsed[j - 1], h)
                if ms is not None and dp[i - 1][j - 1] + ms[0] >= best:
                    best, how = dp[i - 1][j - 1] + ms[0], ("match", ms[1])
            dp[i][j], move[i][j] = best, how
    return _traceback(move, n, m)


def _traceback(move: list[list[tuple[str, str]]], i: int, j: int) -> tuple[int, dict[int, tuple[int, str]]]:
    pairs: dict[int, tuple[int, str]] = {}
    while i > 0:
        how, conf = move[i][j]
        if how == "match":
            pairs[j - 1] = (i - 1, conf)
            i, j = i - 1, j - 1
        elif how == "skip-instr":
            i -= 1
        else:
            j -= 1
    return j, pairs


def _origin_for(step: _Step, conf: str, entry: HistoryEntry) -> LayerOrigin:
    ins = step.instr
    return LayerOrigin("instruction", ins.keyword, ins.start_line, ins.end_line, ins.text, conf,
                       ins.stage_index if ins.stage_index is not None else -1, ins.stage_name,
                       None, ins, entry)


def _base_origin(root: Stage, entry: HistoryEntry) -> LayerOrigin:
    ins = root.from_instruction
    return LayerOrigin("base", "FROM", ins.start_line, ins.end_line, ins.text, "base", root.index, root.name,
                       root.base, ins, entry)


def _short(text: str | None, n: int = 70) -> str:
    t = _norm(text or "")
    return t if len(t) <= n else t[: n - 3] + "..."


def _layer_entries(history: list[HistoryEntry], n_layers: int, problems: list[str]) -> list[int | None]:
    """For each layer, the index of its history entry (None when history is short)."""
    real = [j for j, h in enumerate(history) if not h.empty_layer]
    if len(real) == n_layers:
        return list(real)
    problems.append(f"history lists {len(real)} layers but the image has {n_layers}; "
                    "aligned from the top layer")
    pad: list[int | None] = [None] * max(0, n_layers - len(real))
    return (pad + list(real))[-n_layers:] if n_layers else []


def _resolve(steps: list[_Step], history: list[HistoryEntry], root: Stage, base_len: int,
             pairs: dict[int, tuple[int, str]], problems: list[str]) -> dict[int, LayerOrigin | None]:
    """LayerOrigin for each non-empty history entry, and problems for what did not fit."""
    out: dict[int, LayerOrigin | None] = {}
    for j, h in enumerate(history):
        if h.empty_layer:
            continue
        if j < base_len:
            if root.base.lower() == "scratch":
                problems.append(f"history entry {j} ({_short(h.created_by)!r}) is a layer before the "
                                "first instruction, but the base is scratch")
                out[j] = None
            else:
                out[j] = _base_origin(root, h)
        elif j in pairs:
            k, conf = pairs[j]
            out[j] = _origin_for(steps[k], conf, h)
            if conf == WEAK:
                problems.append(f"line {steps[k].instr.start_line}: {steps[k].instr.keyword} only weakly matches "
                                f"history entry {j} ({_short(h.created_by)!r}); the Dockerfile may have changed")
        else:
            out[j] = None
            problems.append(f"history entry {j} ({_short(h.created_by)!r}) matches no Dockerfile instruction")
    matched = {k for k, _ in pairs.values()}
    for k, st in enumerate(steps):
        if st.instr.keyword in LAYER_INSTRUCTIONS and k not in matched:
            problems.append(f"line {st.instr.start_line}: {_short(st.instr.text, 50)!r} has no layer in the image")
    return out


def _matches_at_all(steps: list[_Step], pairs: dict[int, tuple[int, str]]) -> tuple[int, int]:
    """(layer instructions matched exactly or similarly, layer instructions)."""
    layer_steps = [k for k, st in enumerate(steps) if st.instr.keyword in LAYER_INSTRUCTIONS]
    good = {k for k, conf in pairs.values() if conf in (EXACT, SIMILAR)}
    return sum(1 for k in layer_steps if k in good), len(layer_steps)


def map_layers(dockerfile: Dockerfile, history: list[HistoryEntry], n_layers: int,
               target: str | None = None) -> LayerMap:
    """Tie each of an image's ``n_layers`` layers to the Dockerfile line that made it.

    ``history`` is the image config's history (``ImageConfig.history``).
    Returns one :class:`LayerOrigin` or None per layer, bottom first; the
    result's ``problems`` says what did not fit.  When the Dockerfile does
    not describe the image at all (fewer than half of its RUN/COPY/ADD
    instructions found), every entry is None.
    """
    stage = dockerfile.stage_for_target(target)
    root = dockerfile.stage_chain(stage)[0]
    steps = _chain_steps(dockerfile, stage)
    history = list(history)
    problems: list[str] = []
    base_len, pairs = _align(steps, history, root.base.lower() == "scratch")
    good, total = _matches_at_all(steps, pairs)
    if total and good * 2 < total:
        problems.append(f"{dockerfile.name} does not match this image: {good} of {total} RUN/COPY/ADD "
                        f"instructions of stage {stage.name or stage.index} found in its history")
        return LayerMap([None] * n_layers, problems, stage)
    by_entry = _resolve(steps, history, root, base_len, pairs, problems)
    layer_entries = _layer_entries(history, n_layers, problems)
    return LayerMap([by_entry.get(j) if j is not None else None for j in layer_entries], problems, stage)


__all__ = ["LayerOrigin", "LayerMap", "compare_step", "map_layers", "EXACT", "SIMILAR", "WEAK"]
