"""imgopt lint vs hadolint on the same Dockerfiles: findings per DL id by (file, line), and why they differ.

Used by tests/test_lint_hadolint.py (the agreement threshold) and benchmarks/lint_vs_hadolint.py
(reports/lint-vs-hadolint.md).  Every disagreement is put in a *class*: a documented case where
hadolint is wrong (its issue number) or where imgopt deliberately differs; what no class explains
is "unexplained" and counts against the agreement goal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT / "tests" / "data" / "dockerfiles"
GOAL = 0.95
MIN_FINDINGS = 5


def corpus_dir() -> Path | None:
    """The shared 160-file corpus: $IMGOPT_DOCKERFILE_CORPUS, or shared/dockerfiles/corpus beside the
    checkout (``<repo>/../shared``; ``<repo>/../../shared`` for a worktree one level deeper)."""
    env = os.environ.get("IMGOPT_DOCKERFILE_CORPUS")
    cands = [Path(env)] if env else []
    cands += [ROOT.parent / "shared" / "dockerfiles" / "corpus", ROOT.parent.parent / "shared" / "dockerfiles" / "corpus"]
    return next((c for c in cands if c.is_dir() and any(c.iterdir())), None)


def corpus_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.name[:3].isdigit())


def hadolint_binary() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


def run_hadolint(files: list[Path]) -> list[dict]:
    out = subprocess.run([hadolint_binary(), "--no-fail", "-f", "json", *map(str, files)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def run_imgopt(files: list[Path], shellcheck: bool = False) -> list[dict]:
    from imgopt.lint import lint_paths
    from imgopt.lint.config import LintConfig

    return lint_paths([str(f) for f in files], LintConfig(shellcheck=shellcheck)).to_json()


@dataclass
class IdStats:
    """Findings of one DL id in both tools."""

    code: str
    both: set = field(default_factory=set)
    only_h: set = field(default_factory=set)
    only_i: set = field(default_factory=set)
    explained: dict = field(default_factory=dict)  # (file, line, side) -> class id

    @property
    def total(self) -> int:
        return len(self.both) + len(self.only_h) + len(self.only_i)

    @property
    def agreement(self) -> float:
        return len(self.both) / self.total if self.total else 1.0

    @property
    def unexplained(self) -> list:
        return [(f, l, s) for s, group in (("h", self.only_h), ("i", self.only_i)) for f, l in sorted(group)
                if (f, l, s) not in self.explained]

    @property
    def adjusted(self) -> float:
        """Agreement when the documented classes are set aside."""
        n = len(self.both) + len(self.unexplained)
        return len(self.both) / n if n else 1.0


def compare(h: list[dict], i: list[dict], prefix: str = "DL") -> tuple[dict[str, IdStats], set[str]]:
    """Per id, findings by (file name, line); files hadolint could not parse (DL1000) are left out."""
    unparsable = {x["file"] for x in h if x["code"] == "DL1000"}
    H: dict[str, set] = defaultdict(set)
    I: dict[str, set] = defaultdict(set)
    for src, dst in ((h, H), (i, I)):
        for x in src:
            if x["file"] in unparsable or not x["code"].startswith(prefix) or x["code"] == "DL1000":
                continue
            dst[x["code"]].add((x["file"], x["line"]))
    out = {}
    for code in sorted(set(H) | set(I)):
        out[code] = IdStats(code, H[code] & I[code], H[code] - I[code], I[code] - H[code])
    return out, unparsable


# ---------------------------------------------------------------- classes of disagreement


@dataclass(frozen=True)
class Klass:
    id: str
    code: str
    side: str  # "h": hadolint only; "i": imgopt only
    title: str
    why: str
    issue: str = ""


CLASSES = [
    Klass("dl3059-comment", "DL3059", "h", "RUNs separated by a comment",
          "a comment between two RUNs documents them as separate steps (usually kept apart on purpose for "
          "the layer cache); hadolint ignores comments here since #713 (#712), which #1138 shows confuses "
          "users; imgopt lets a comment end the sequence", "hadolint#1138, #712"),
    Klass("dl3006-arg-stage", "DL3006", "h", "FROM built from ARGs that names an earlier stage (or is unknown)",
          "`FROM build-${PLATFORM}` with `ARG PLATFORM=alpine` is the stage `build-alpine`, not an untagged "
          "image; hadolint only skips FROMs that start with a variable", "hadolint#979, #339, #1078"),
    Klass("dl3020-arg-url", "DL3020", "h", "ADD of a URL held in an ARG",
          "`ARG URL=https://...` + `ADD $URL /x` adds a URL; hadolint does not expand the variable",
          "hadolint#769"),
    Klass("dl3042-cache-parent", "DL3042", "h", "pip under a cache mount of ~/.cache",
          "`RUN --mount=type=cache,target=/root/.cache pip install ...` keeps pip's cache (inside "
          "/root/.cache) out of the layer; hadolint only accepts targets containing .cache/pip", "hadolint#497, #983"),
    Klass("dl3064-pointer", "DL3064", "h", "ARG/ENV naming where a secret is, not the secret",
          "`MINIO_ACCESS_KEY_FILE`, `*_PATH`, `GOPRIVATE`: file-based secrets are the recommended practice",
          "hadolint#1245"),
    Klass("dl3044-escaped", "DL3044", "h", "escaped `\\$VAR` in ENV", "a literal dollar is not a reference",
          "hadolint#1062"),
]
BY_ID = {k.id: k for k in CLASSES}


def _instruction_at(path: str, line: int):
    from imgopt.dockerfile.parser import parse_dockerfile

    df = parse_dockerfile(Path(path).read_bytes().decode("utf-8", "replace"), path)
    ins = next((x for x in df.instructions if x.start_line == line), None)
    return df, ins


def classify(code: str, path: str, line: int, side: str) -> str | None:
    """The class that explains this one-sided finding, or None."""
    df, ins = _instruction_at(path, line)
    if ins is None:
        return None
    if code == "DL3059" and side == "h":
        prev = [x for x in df.instructions if x.end_line < ins.start_line]
        if prev and prev[-1].keyword == "RUN" and any(
                prev[-1].end_line < c.line < ins.start_line and not c.text.startswith(("hadolint", "imgopt"))
                for c in df.comments):
            return "dl3059-comment"
    if code == "DL3006" and side == "h" and ins.keyword == "FROM" and "$" in ins.args:
        return "dl3006-arg-stage"
    if code == "DL3020" and side == "h" and "$" in ins.args:
        from imgopt.lint.context import Context
        from imgopt.lint.config import LintConfig

        ctx = Context(df, path, LintConfig())
        srcs = ins.raw_words[:-1]
        if any((ctx.expand(ins, s) or "").startswith(("http://", "https://")) for s in srcs):
            return "dl3020-arg-url"
    if code == "DL3042" and side == "h":
        from imgopt.lint.helpers import has_cache_mount

        if has_cache_mount(ins, covers="~/.cache/pip"):
            return "dl3042-cache-parent"
    if code == "DL3064" and side == "h":
        names = [n for n, _ in (ins.arg_defaults if ins.keyword == "ARG" else ins.pairs)]
        if names and all(re.search(r"(_FILE|_PATH|_DIR|_FILENAME)$", n, re.I) or n.upper() == "GOPRIVATE"
                         or not _sensitive_by_hadolint(n) for n in names):
            return "dl3064-pointer"
    if code == "DL3044" and side == "h" and "\\$" in ins.args:
        return "dl3044-escaped"
    return None


def _sensitive_by_hadolint(name: str) -> bool:
    from imgopt.lint.rules.dl3064 import KNOWN, SUSPICIOUS

    return name.upper() in KNOWN or any(s in name.lower() for s in SUSPICIOUS)


def explain(stats: dict[str, IdStats]) -> None:
    for st in stats.values():
        for side, group in (("h", st.only_h), ("i", st.only_i)):
            for f, l in group:
                k = classify(st.code, f, l, side)
                if k is not None:
                    st.explained[(f, l, side)] = k


def counted(stats: dict[str, IdStats]) -> list[IdStats]:
    """The ids the goal is about: at least MIN_FINDINGS distinct findings (by file and line) in the two tools."""
    return [s for s in stats.values() if s.total >= MIN_FINDINGS]


__all__ = ["corpus_dir", "corpus_files", "run_hadolint", "run_imgopt", "compare", "explain", "counted", "CLASSES",
           "BY_ID", "IdStats", "GOAL", "MIN_FINDINGS", "SUBSET", "hadolint_binary"]
