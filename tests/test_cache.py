"""The layer cache: summaries merge to the same analysis, cached layers are not read again,
the database is safe with concurrent writers, bounded, and never a reason to fail."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import SAMPLE_TAR, SAMPLE_ZSTD, run_imgopt

from imgopt.analyze import AnalyzeOptions, build_result
from imgopt.analyze import analyze as analyze_image
from imgopt.analyze.scan import scan_image
from imgopt.analyze.summary import FORMAT, SUMMARY_SCHEMA, summarize_layer
from imgopt.cache.store import LayerCache
from imgopt.image.transports import open_image


def analyze(ref: str, opts: AnalyzeOptions, counter=None):
    with open_image(ref) as img:
        return analyze_image(img, opts, counter=counter)


def _direct(ref: str) -> dict:
    """The analysis straight from a scan of the blobs (imgopt.analyze.scan), no summaries involved."""
    with open_image(ref) as img:
        scan = scan_image(img)
        try:
            return build_result(scan, AnalyzeOptions()).to_json()
        finally:
            scan.close()


@pytest.mark.parametrize("ref", [f"docker-archive:{SAMPLE_TAR}", f"oci:{SAMPLE_ZSTD}"])
def test_analysis_merged_from_summaries_is_the_direct_scans(ref):
    """Seekable (uncompressed archive) and streamed (zstd) layers: the merge equals the blob scan."""
    assert analyze(ref, AnalyzeOptions(cache=False)).to_json() == _direct(ref)


@pytest.mark.slow
def test_merge_equals_direct_scan_on_a_real_app(app_archive):
    ref = f"docker-archive:{app_archive('pyweb')}"
    assert analyze(ref, AnalyzeOptions(cache=False)).to_json() == _direct(ref)


def test_cached_layers_are_not_read_again(tmp_path):
    ref = f"docker-archive:{SAMPLE_TAR}"
    cache = str(tmp_path / "c")
    read: list[int] = []
    cold = analyze(ref, AnalyzeOptions(cache=cache), counter=read.append).to_json()
    with open_image(ref) as img:
        assert sum(read) == sum({l.diff_id: l.size for l in img.layers}.values()) > 0
    read.clear()
    # other options: the finished analysis does not match, the layers do -- no blob is read
    warm = analyze(ref, AnalyzeOptions(cache=cache, top=3), counter=read.append).to_json()
    assert read == []
    assert warm["summary"] == cold["summary"] and len(warm["largest"]) == 3
    read.clear()
    again = analyze(ref, AnalyzeOptions(cache=cache), counter=read.append).to_json()
    assert read == [] and again == cold == analyze(ref, AnalyzeOptions(cache=False)).to_json()


def test_the_cli_uses_the_cache_and_no_cache_reads_everything(tmp_path):
    cache = tmp_path / "c"
    p1 = run_imgopt("analyze", "--cache", cache, "--format", "json", SAMPLE_TAR, check=True)
    assert (cache / "imgopt.sqlite3").is_file()
    p2 = run_imgopt("analyze", "--cache", cache, "--format", "json", SAMPLE_TAR, check=True)
    p3 = run_imgopt("analyze", "--no-cache", "--format", "json", SAMPLE_TAR, check=True)
    assert json.loads(p1.stdout) == json.loads(p2.stdout) == json.loads(p3.stdout)
    info = json.loads(run_imgopt("cache", "info", "--cache", cache, "--format", "json", check=True).stdout)
    assert info["layers"] == 5 and info["results"] == 1 and info["integrity"] == "ok"
    p = run_imgopt("analyze", "--cache", cache, "--no-cache", SAMPLE_TAR)
    assert p.returncode == 2 and "--no-cache" in p.stderr


def test_unverified_summaries_are_not_cached(tmp_path):
    cache = tmp_path / "c"
    run_imgopt("analyze", "--no-verify", "--cache", cache, "--format", "json", SAMPLE_TAR, check=True)
    info = json.loads(run_imgopt("cache", "info", "--cache", cache, "--format", "json", check=True).stdout)
    assert info["layers"] == 0 and info["results"] == 0


def _summaries():
    with open_image(f"docker-archive:{SAMPLE_TAR}") as img:
        return [summarize_layer(l) for l in img.layers]


def _writer(directory: str, n: int, seed: int) -> None:
    """Write n copies of the sample's summaries under made-up diffIDs (some shared between writers)."""
    import dataclasses

    c = LayerCache(directory)
    base = _summaries()
    for i in range(n):
        s = base[i % len(base)]
        c.put_layer(dataclasses.replace(s, diff_id=f"sha256:{(i if i % 2 else seed * 1000 + i):064x}"), FORMAT)
    c.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    directory = str(tmp_path / "c")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(directory, 30, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    c = LayerCache(directory)
    t = c.totals()
    assert t.layers == 15 + 4 * 15  # odd ids shared by all writers, even ones each writer's own
    assert c.integrity() == "ok"
    base = _summaries()
    got = c.get_layer(f"sha256:{3:064x}", SUMMARY_SCHEMA, FORMAT)
    assert list(got.rows()) == list(base[3].rows())


def test_the_cache_stays_within_its_bound_least_recently_used_first(tmp_path):
    import dataclasses
    import time

    from imgopt.cache import store

    base = _summaries()
    big = max(base, key=lambda s: s.packed_bytes)
    c = LayerCache(str(tmp_path / "c"), max_bytes=big.packed_bytes * 5)
    store.TOUCH_EVERY = 0.0
    try:
        ids = [f"sha256:{i:064x}" for i in range(12)]
        for n, d in enumerate(ids):
            c.put_layer(dataclasses.replace(big, diff_id=d), FORMAT)
            time.sleep(0.01)
            if n >= 1:
                assert c.get_layer(ids[0], SUMMARY_SCHEMA, FORMAT) is not None  # kept in use: never evicted
        t = c.totals()
        assert t.layer_bytes <= big.packed_bytes * 5
        assert c.has_layer(ids[0], SUMMARY_SCHEMA) and c.has_layer(ids[-1], SUMMARY_SCHEMA)
        assert not c.has_layer(ids[1], SUMMARY_SCHEMA)  # the least recently used went
    finally:
        store.TOUCH_EVERY = 60.0


def test_the_bound_is_counted_when_it_may_be_passed_not_after_every_write(tmp_path, monkeypatch):
    import dataclasses

    from imgopt.cache import store

    base = _summaries()
    big = max(base, key=lambda s: s.packed_bytes)
    c = LayerCache(str(tmp_path / "c"), max_bytes=big.packed_bytes * 40)
    counts: list[str] = []
    c._db().set_trace_callback(lambda sql: counts.append(sql) if "SUM(nbytes)" in sql else None)
    monkeypatch.setattr(store, "RECOUNT_EVERY", 8)
    for i in range(20):  # well within the bound: counted at the first write, then every 8th
        c.put_layer(dataclasses.replace(big, diff_id=f"sha256:{i:064x}"), FORMAT)
    assert len(counts) == 3
    other = LayerCache(c.directory, max_bytes=c.max_bytes)  # another process's writes: seen at a recount
    for i in range(20, 60):
        other.put_layer(dataclasses.replace(big, diff_id=f"sha256:{i:064x}"), FORMAT)
        c.put_result(f"r{i}", {"n": i})
    assert c.totals().layer_bytes + c.totals().result_bytes <= c.max_bytes


def test_cache_prune(tmp_path):
    cache = tmp_path / "c"
    run_imgopt("analyze", "--cache", cache, "--format", "json", SAMPLE_TAR, check=True)
    run_imgopt("analyze", "--cache", cache, "--format", "json", f"oci:{SAMPLE_ZSTD}", check=True)
    doc = json.loads(run_imgopt("cache", "prune", "--cache", cache, "--max-size", "1", "--format", "json",
                                check=True).stdout)
    with open_image(f"oci:{SAMPLE_ZSTD}") as a, open_image(f"docker-archive:{SAMPLE_TAR}") as b:
        layers = len(set(a.config.diff_ids) | set(b.config.diff_ids))
    assert doc["action"] == "prune" and doc["layers"] == doc["results"] == 0
    assert doc["removed_layers"] == layers and doc["removed_results"] == 2
    doc = json.loads(run_imgopt("cache", "prune", "--cache", cache, "--all", "--format", "json", check=True).stdout)
    assert doc["layers"] == doc["results"] == doc["blobs"] == 0
    text = run_imgopt("cache", "info", "--cache", cache, check=True).stdout
    assert "Layer summaries: 0" in text
    p = run_imgopt("cache", "prune", "--cache", cache, "--max-size", "lots")
    assert p.returncode == 2 and "--max-size" in p.stderr


def test_a_broken_cache_is_a_warning_not_a_failure(tmp_path):
    cache = tmp_path / "c"
    cache.mkdir()
    (cache / "imgopt.sqlite3").write_bytes(b"this is not a database" * 100)
    p = run_imgopt("analyze", "--cache", cache, "--format", "json", SAMPLE_TAR)
    assert p.returncode == 0 and "continuing without the cache" in p.stderr
    assert json.loads(p.stdout)["summary"] == analyze(f"docker-archive:{SAMPLE_TAR}",
                                                      AnalyzeOptions(cache=False)).to_json()["summary"]


def test_a_process_killed_while_writing_leaves_no_partial_summary(tmp_path):
    """A summary is one transaction: kill -9 a writer mid-stream, the database has whole summaries only."""
    directory = tmp_path / "c"
    code = ("import sys; sys.path.insert(0, %r); from test_cache import _writer; _writer(%r, 100000, 7)"
            % (os.path.dirname(__file__), str(directory)))
    p = subprocess.Popen([sys.executable, "-c", code])
    db = directory / "imgopt.sqlite3"
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=30) as conn:
                    if conn.execute("SELECT COUNT(*) FROM layers").fetchone()[0] >= 20:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    p.kill()
    p.wait()
    c = LayerCache(str(directory))
    assert c.integrity() == "ok"
    with sqlite3.connect(db) as conn:
        bad = conn.execute("SELECT COUNT(*) FROM layers l WHERE chunks != (SELECT COUNT(*) FROM chunks c "
                           "WHERE c.diff_id = l.diff_id AND c.schema = l.schema)").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM layers l "
                               "WHERE l.diff_id = c.diff_id AND l.schema = c.schema)").fetchone()[0]
    assert bad == 0 and orphans == 0 and c.totals().layers >= 20


def _state(tree) -> list:
    return [(p, n.kind, n.size, n.mode, n.layer, n.added, n.linkname) for p, n in tree.walk()] + \
        [("hidden", h.path, h.origin, h.by, h.size, h.reason) for h in tree.hidden]


def test_a_forked_tree_never_changes_its_original():
    """Copy-on-write forks (the merge memo): whatever the fork applies, the original stays as it was,
    and the fork ends up as the tree built without forking."""
    from imgopt.image.filetree import FileTree
    from imgopt.image.tarstream import Entry, Kind

    def E(path, kind=Kind.FILE, size=0, target="", link=""):
        return (Entry(path, kind, size=size, mode=0o755 if kind is Kind.DIR else 0o644, target=target,
                      linkname=link), None)

    lower = [[E("etc", Kind.DIR), E("etc/a", size=10), E("etc/b", size=20), E("etc/sub", Kind.DIR),
              E("etc/sub/c", size=30), E("usr", Kind.DIR), E("usr/bin", Kind.DIR), E("usr/bin/x", size=40),
              E("lnk", Kind.SYMLINK, link="usr/bin/x")],
             [E("etc/a", size=11), E("opt", Kind.DIR), E("opt/d", size=5)]]
    upper = [[E("etc/.wh.b", Kind.WHITEOUT, target="etc/b"), E("etc/sub/.wh..wh..opq", Kind.OPAQUE, target="etc/sub"),
              E("etc/sub/new", size=7), E("usr/bin/x", Kind.DIR), E("usr/bin/x/y", size=1), E("", Kind.DIR),
              E("opt/d/deeper", size=3), E("etc/a", Kind.DIR)],
             [E(".wh.opt", Kind.WHITEOUT, target="opt"), E("usr/bin/hl", Kind.HARDLINK, link="etc/sub/new")]]
    base = FileTree()
    for i, entries in enumerate(lower):
        base.apply(i, entries)
    before = _state(base)
    fork = base.fork()
    for i, entries in enumerate(upper, len(lower)):
        fork.apply(i, entries)
    assert _state(base) == before
    plain = FileTree()
    for i, entries in enumerate(lower + upper):
        plain.apply(i, entries)
    assert _state(fork) == _state(plain) != before
    again = base.fork()  # a second fork of the same snapshot sees the snapshot, not the first fork
    assert _state(again) == before
