"""The hostile corpus (tests/hostile/corpus.py), every case through the commands it concerns.

The runs start in the background when the first case is asked for, two at a
time, each a real ``imgopt`` process checked by tests/hostile/runner.py (exit
code and one-line error, or a correct output; peak RSS; time; nothing
written outside; scratch removed).  Each test waits for its own case.
reports/hardening.md is the same corpus, written by scripts/hardening_report.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from corpus import ALL_COMMANDS, CASES, by_name
from runner import Session

REQUIRED_CLASSES = {"json", "types", "tar-header", "names", "escape", "hardlink", "bomb", "device", "duplicate",
                    "blob", "archive", "entrypoint"}


@pytest.fixture(scope="session")
def corpus_runs(tmp_path_factory):
    session = Session(tmp_path_factory.mktemp("hostile"))
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hostile")
    futures = {c.name: pool.submit(lambda c=c: [session.run(c, cmd) for cmd in c.commands]) for c in CASES}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)
    session.close()


def test_corpus_is_large_and_covers_every_class():
    cases = by_name()
    assert len(cases) >= 80, len(cases)
    classes = {c.cls for c in CASES}
    assert REQUIRED_CLASSES <= classes, REQUIRED_CLASSES - classes
    for cls in REQUIRED_CLASSES - {"entrypoint"}:
        outcomes = {c.expect for c in CASES if c.cls == cls}
        assert outcomes, cls
    for c in CASES:
        assert set(c.commands) <= set(ALL_COMMANDS), c.name
        assert c.expect in ("ok", "error", "ran"), c.name
        assert c.expect != "error" or c.needle, f"{c.name}: an expected error names what it must say"
    # the classes the issue named are there: escapes, bombs, 10,000 layers, devices, whiteouts of /
    for name in ("escape-dotdot", "bomb-gzip-256m-zeros", "bomb-entries-100k", "bomb-10000-layers",
                 "device-host-disk", "escape-whiteout-root", "dup-same-file"):
        assert name in cases


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_hostile_case(corpus_runs, name):
    runs = corpus_runs[name].result(timeout=3600)
    failures = [f"{r.command} (expected {r.expected}): {f}" for r in runs for f in r.failures]
    assert not failures, "\n".join(failures)
