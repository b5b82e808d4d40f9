"""Fuzzing in ``make test``: a short coverage-guided run of each atheris target, and every saved input replayed.

``make fuzz`` runs the same targets for long (FUZZ_TIME seconds each).  A crash
found there is saved in tests/fuzz/crashes/TARGET/ and replayed here ever after,
with the seeds, through the same target function (tests/fuzz/targets.py): it
must end in success or a one-line error, nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "fuzz"
sys.path.insert(0, str(HERE))

from targets import TARGETS, run_one  # noqa: E402

SECONDS = 20  # per target in make test; make fuzz runs them for long


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_fuzz_run(target, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    p = subprocess.run([sys.executable, str(HERE / "fuzz.py"), target, f"-max_total_time={SECONDS}", "-timeout=20",
                        "-rss_limit_mb=1024", f"-artifact_prefix={tmp_path}/", str(corpus), str(HERE / "seeds" / target)],
                       capture_output=True, text=True, timeout=SECONDS + 300)
    found = sorted(x.name for x in tmp_path.iterdir() if x.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    assert p.returncode == 0 and not found, (f"atheris found {found} (save them in tests/fuzz/crashes/{target}/):\n"
                                             + p.stderr[-3000:])
    assert "Done" in p.stderr and " runs in " in p.stderr, p.stderr[-1000:]


SAVED = sorted((t, f) for t in TARGETS for d in ("seeds", "crashes") for f in (HERE / d / t).glob("*")
               if f.is_file())


@pytest.mark.parametrize("target,path", SAVED, ids=[f"{t}/{p.parent.parent.name}/{p.name}" for t, p in SAVED])
def test_saved_inputs(target, path):
    run_one(target, path.read_bytes())
