"""imgopt scan on a real registry: a slice of the scale fixture (scripts/scale_fixture.py) in a
docker-registry of its own, read through the real client, the real process pool and a real
Dask cluster.  The full 200+ tags run in `make bench` (benchmarks/scan_bench.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import IMGOPT, ROOT, load_script, run_imgopt

from imgopt import api
from imgopt.analyze import AnalyzeOptions
from imgopt.scan.pipeline import ScanOptions

sys.path.insert(0, str(Path(__file__).parent / "registry"))
from registry_harness import RegistryFront, RegistryProcess, free_port  # noqa: E402

pytestmark = [pytest.mark.registry, pytest.mark.slow]
scale = load_script("scripts/scale_fixture.py", "scale_fixture")
PREFIX = "imgopt-scan-test"
TAGS = 21


class Fleet:
    def __init__(self, reg: RegistryProcess, refs: list[str]):
        self.reg, self.refs = reg, refs

    @property
    def host(self) -> str:
        return self.reg.host

    def mark(self) -> int:
        return len(self.reg.requests_log())

    def blob_gets(self, since: int = 0) -> Counter:
        """Blob GETs (digest -> count) the registry answered since ``since``."""
        out: Counter = Counter()
        for method, uri, status in self.reg.requests_log()[since:]:
            m = re.match(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})", uri)
            if m and method == "GET" and status == 200:
                out[m[1]] += 1
        return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    reg = RegistryProcess(tmp_path_factory.mktemp("scan-registry")).start()
    try:
        refs = scale.push(reg.host, scale.plan(TAGS, scale.SMALL_APPS, PREFIX), log=None)
        yield Fleet(reg, refs)
    finally:
        reg.stop()


def _scan(sources, cache, **kw):
    kw.setdefault("jobs", 2)
    return api.scan(sources, ScanOptions(cache=str(cache), **kw))


@pytest.fixture(scope="module")
def reference(fleet, tmp_path_factory):
    """A cold scan of the whole registry, each image's analysis kept."""
    mark = fleet.mark()
    res = _scan([f"docker://{fleet.host}"], tmp_path_factory.mktemp("ref-cache"), details=True, page_size=4)
    return res, fleet.blob_gets(mark)


def _layer_digests(res) -> dict[str, int]:
    return {l.digest: l.compressed_bytes for i in res.images for l in i.layers}


def _comparable(res) -> dict:
    doc = res.to_json()
    doc.pop("stats")
    doc.pop("sources")
    for i in doc["images"]:
        i.pop("analysis", None)
    return doc


# ---------------------------------------------------------------- listing


def test_catalog_and_tags_are_paginated_through_link_headers(fleet):
    from imgopt.scan.sources import SourceOptions, list_candidates

    mark = fleet.mark()
    cands, errors = list_candidates([f"docker://{fleet.host}"], SourceOptions(page_size=2))
    assert errors == [] and sorted(c.reference for c in cands) == sorted(fleet.refs)
    catalog = [u for _, u, _ in fleet.reg.requests_log()[mark:] if u.startswith("/v2/_catalog")]
    assert len(catalog) == 2 and "last=" in catalog[1]  # 3 repositories in pages of 2, by the registry itself
    front = RegistryFront(fleet.reg.url, paginate_tags=True).start()  # distribution 2.8 pages only the catalog
    try:
        cands, errors = list_candidates([f"docker://{front.host}/{PREFIX}/pyweb"], SourceOptions(page_size=2))
    finally:
        front.stop()
    assert errors == [] and [c.tag for c in cands] == [f"v{n:03d}" for n in range(7)]
    tags = [p for _, m, p, s in front.log if "/tags/list" in p]
    assert len(tags) == 4 and all("last=" in p for p in tags[1:])  # 7 tags: 4 pages, each asked by its Link


def test_filters_globs_and_newest(fleet, tmp_path):
    res = _scan([f"docker://{fleet.host}"], tmp_path / "c", repositories=[f"{PREFIX}/n*"], tags=["v00*"],
                registries=[])
    assert {i.repository for i in res.images} == {f"{PREFIX}/nginx"} and len(res.images) == 7
    res = _scan([f"docker://{fleet.host}"], tmp_path / "c", newest=2, registries=[])
    got = sorted((i.repository, i.tag) for i in res.images)
    assert got == sorted((f"{PREFIX}/{a}", t) for a in scale.SMALL_APPS for t in ("v005", "v006"))


# ------------------------------------------------------------- equality


def test_scan_equals_analyze_image_by_image(fleet, reference, tmp_path):
    res, gets = reference
    assert len(res.images) == TAGS and all(i.status == "ok" for i in res.images) and not res.partial
    # every distinct layer read exactly once, nothing else
    layers = _layer_digests(res)
    assert {d: n for d, n in gets.items() if d in layers} == {d: 1 for d in layers}
    assert res.stats.layers_read == len(layers) == res.fleet.distinct_layers
    assert res.stats.blob_bytes_read == sum(layers.values())
    fresh = tmp_path / "analyze-cache"  # an independent cache: imgopt analyze reads and merges on its own
    for rec in res.images:
        doc = api.analyze(rec.reference, AnalyzeOptions(cache=str(fresh))).to_json()
        assert rec.analysis == doc, rec.reference
        s = doc["summary"]
        assert (rec.compressed_bytes, rec.exact_waste_bytes, rec.removable_junk_bytes, rec.dive_efficiency) == \
            (s["compressed_bytes"], s["exact_waste_bytes"], s["removable_junk_bytes"], s["dive_efficiency"])
    for app in scale.SMALL_APPS:  # and against an analysis that reads every blob, as a separate process
        ref = f"docker://{fleet.host}/{PREFIX}/{app}:v000"
        p = run_imgopt("analyze", "--no-cache", "--format", "json", ref, check=True)
        assert json.loads(p.stdout) == next(i.analysis for i in res.images if i.reference == ref)


def test_fleet_totals_add_up(reference):
    res, _ = reference
    f = res.fleet
    layers = _layer_digests(res)
    assert f.stored_bytes == sum(i.compressed_bytes for i in res.images)
    assert f.unique_bytes == sum(layers.values()) < f.stored_bytes
    assert f.dedup_ratio == round(f.stored_bytes / f.unique_bytes, 4)
    base = res.layers[0]  # the Debian base of the nginx and pyweb images (the sample is busybox)
    assert base.images == 14 and base.repositories == 2 and base.diff_id == f.most_shared_layers[0]
    for i in res.images:
        assert i.shared_layers >= 1 and i.unique_bytes + i.shared_bytes == sum(
            {l.diff_id: l.compressed_bytes for l in i.layers}.values())
        assert {c.registry for c in i.cold_start} == {"vpc", "public"}
        vpc, public = (next(c.total_s for c in i.cold_start if c.registry == r) for r in ("vpc", "public"))
        assert 0 < vpc < public
    assert f.top_removable[0].value == max(i.removable_bytes for i in res.images)
    assert all(j.bytes_in_layers <= j.bytes_in_images for j in f.junk)
    assert max(j.images for j in f.junk) >= 14  # the Debian base's junk is in every image built on it
    for j in f.junk:  # summed over images, as each image's own junk says
        assert j.bytes_in_images == sum(i.junk.get(j.id, 0) for i in res.images)


# ------------------------------------------------------------ cache use


def test_warm_rescan_and_one_new_tag_read_only_the_new_layer(fleet, tmp_path, monkeypatch):
    from imgopt.scan.engine import LocalEngine

    started: list[int] = []  # the workers start while the catalog is resolved, only when there is work
    real = LocalEngine.prestart
    monkeypatch.setattr(LocalEngine, "prestart", lambda self: (started.append(1), real(self))[1])
    cache = tmp_path / "c"
    src = f"docker://{fleet.host}/{PREFIX}/sample"
    cold = _scan([src], cache)
    assert len(started) >= 1
    started.clear()
    mark = fleet.mark()
    warm = _scan([src], cache)
    assert started == []  # every record was in the cache: no worker process was started
    assert fleet.blob_gets(mark).keys() <= {i.config_digest for i in cold.images}  # configs, no layer
    assert warm.stats.layers_read == 0 and warm.stats.images_cached == len(cold.images) == 7
    assert _comparable(warm) == _comparable(cold)
    ref, digest = scale.push_extra(fleet.host, PREFIX, "sample", "extra")
    try:
        mark = fleet.mark()
        inc = _scan([src], cache)
        layer_gets = {d: n for d, n in fleet.blob_gets(mark).items() if d in _layer_digests(inc)}
        assert layer_gets == {digest: 1}
        assert inc.stats.layers_read == 1 and inc.stats.images_merged == 1 and inc.stats.images_cached == 7
        new = next(i for i in inc.images if i.reference == ref)
        assert inc.stats.blob_bytes_read == new.layers[-1].compressed_bytes and new.unique_bytes == \
            new.layers[-1].compressed_bytes
    finally:
        _delete_tag(fleet, f"{PREFIX}/sample", "extra")


def _manifest_gets(fleet: Fleet, since: int) -> dict[str, list[int]]:
    """Tag -> statuses of the manifest GETs by tag the registry answered since ``since``."""
    out: dict[str, list[int]] = {}
    for method, uri, status in fleet.reg.requests_log()[since:]:
        m = re.match(r"^/v2/.+/manifests/([^/?]+)$", uri)
        if m and method == "GET" and not m[1].startswith("sha256:"):
            out.setdefault(m[1], []).append(status)
    return out


def test_a_rescan_asks_each_tag_only_whether_it_moved(fleet, tmp_path):
    import requests

    cache = tmp_path / "c"
    repo = f"{PREFIX}/sample"
    src = f"docker://{fleet.host}/{repo}"
    mark = fleet.mark()
    cold = _scan([src], cache)
    assert _manifest_gets(fleet, mark) == {i.tag: [200] for i in cold.images}
    mark = fleet.mark()
    warm = _scan([src], cache)
    assert _manifest_gets(fleet, mark) == {i.tag: [304] for i in cold.images}  # If-None-Match: not modified
    assert _comparable(warm) == _comparable(cold)
    # a remembered manifest that no longer hashes to its digest is not trusted: that tag is asked for in full
    from imgopt.cache import open_cache
    from imgopt.cache.manifests import ManifestMemo

    ManifestMemo(open_cache(str(cache))).remember_tag(fleet.host, repo, cold.images[2].tag,
                                                      cold.images[2].manifest_digest, b'{"damaged": 1}', "x")
    mark = fleet.mark()
    again = _scan([src], cache)
    gets = _manifest_gets(fleet, mark)
    assert gets.pop(cold.images[2].tag) == [200] and set(map(tuple, gets.values())) == {(304,)}
    assert _comparable(again) == _comparable(cold)
    # a tag moved to another image's manifest is read again, and its record is that image's
    first, second = cold.images[0], cold.images[1]
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                        "application/vnd.docker.distribution.manifest.v2+json"}
    got = requests.get(f"{fleet.reg.url}/v2/{repo}/manifests/{second.manifest_digest}", headers=accept, timeout=10)
    got.raise_for_status()
    put = requests.put(f"{fleet.reg.url}/v2/{repo}/manifests/{first.tag}", data=got.content,
                       headers={"Content-Type": got.headers["Content-Type"]}, timeout=10)
    put.raise_for_status()
    try:
        mark = fleet.mark()
        moved = _scan([src], cache)
        gets = _manifest_gets(fleet, mark)
        assert gets.pop(first.tag) == [200] and set(map(tuple, gets.values())) == {(304,)}
        rec = next(i for i in moved.images if i.tag == first.tag)
        assert rec.manifest_digest == second.manifest_digest != first.manifest_digest
        assert rec.final_bytes == second.final_bytes and moved.stats.layers_read == 0
    finally:  # put the tag back where it was
        back = requests.get(f"{fleet.reg.url}/v2/{repo}/manifests/{first.manifest_digest}", headers=accept,
                            timeout=10)
        requests.put(f"{fleet.reg.url}/v2/{repo}/manifests/{first.tag}", data=back.content,
                     headers={"Content-Type": back.headers["Content-Type"]}, timeout=10).raise_for_status()


def _delete_tag(fleet: Fleet, repo: str, tag: str) -> None:
    import requests

    r = requests.head(f"{fleet.reg.url}/v2/{repo}/manifests/{tag}",
                      headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    digest = r.headers["Docker-Content-Digest"]
    requests.delete(f"{fleet.reg.url}/v2/{repo}/manifests/{digest}", timeout=10).raise_for_status()


def test_analyze_after_a_scan_is_served_from_the_cache(fleet, reference, tmp_path):
    cache = tmp_path / "c"
    ref = f"docker://{fleet.host}/{PREFIX}/nginx:v003"
    _scan([ref], cache, registries=[])
    mark = fleet.mark()
    p = run_imgopt("analyze", "--cache", cache, "--format", "json", ref, check=True)
    assert json.loads(p.stdout) == next(i.analysis for i in reference[0].images if i.reference == ref)
    assert not (set(fleet.blob_gets(mark)) & set(_layer_digests(reference[0])))


# ------------------------------------------------------------------ shards


def test_shards_merge_to_the_whole_scan(fleet, reference, tmp_path):
    from imgopt.formats import render

    files = []
    for i in (1, 2, 3):
        part = _scan([f"docker://{fleet.host}"], tmp_path / f"c{i}", shard=f"{i}/3")
        assert 0 < len(part.images) < TAGS and part.shard == f"{i}/3"
        path = tmp_path / f"shard{i}.jsonl"
        path.write_text(render("scan", "jsonl" if i != 2 else "json", part))
        files.append(str(path))
    assert sum(len(json.loads(Path(f).read_text())["images"]) if f.endswith("2.jsonl") else
               sum(1 for ln in Path(f).read_text().splitlines() if '"kind":"image"' in ln) for f in files) == TAGS
    merged = api.scan_merge(files)
    want = _comparable(reference[0])
    got = _comparable(merged)
    assert got["images"] == want["images"] and got["layers"] == want["layers"] and got["fleet"] == want["fleet"]
    p = run_imgopt("scan", "merge", "--format", "json", *files[:2])
    assert p.returncode == 0 and "shards missing: 3/3" in p.stdout


# ------------------------------------------------------------------ faults


def test_one_failing_repository_does_not_stop_the_scan(fleet, tmp_path):
    front = RegistryFront(fleet.reg.url, broken=[rf"^/v2/{PREFIX}/nginx/tags/list"]).start()
    try:
        p = run_imgopt("scan", "--cache", tmp_path / "c", "--registry", "none", "--format", "json",
                       f"docker://{front.host}")
    finally:
        front.stop()
    assert p.returncode == 0 and "partial result" in p.stderr
    doc = json.loads(p.stdout)
    assert doc["partial"] and {i["repository"] for i in doc["images"]} == {f"{PREFIX}/sample", f"{PREFIX}/pyweb"}
    assert all(i["status"] == "ok" for i in doc["images"]) and len(doc["images"]) == 14
    assert [e["repository"] for e in doc["errors"]] == [f"{PREFIX}/nginx"] and "HTTP 500" in doc["errors"][0]["error"]


def test_a_scan_where_everything_failed_is_an_error_not_a_result(fleet, tmp_path):
    """Nothing analysed and something failed: one line naming the first failure, exit code 2, nothing written
    -- a CI job must not read an unreachable registry as an empty, clean one."""
    out = tmp_path / "scan.json"
    front = RegistryFront(fleet.reg.url, broken=[r"^/v2/.+/tags/list"]).start()
    try:
        p = run_imgopt("scan", "--cache", tmp_path / "c", "--registry", "none", "--format", "json", "-o", out,
                       f"docker://{front.host}/{PREFIX}/nginx", f"docker://{front.host}/{PREFIX}/sample")
    finally:
        front.stop()
    assert p.returncode == 2 and not out.exists(), p.stderr
    [line] = p.stderr.strip().splitlines()
    subject = f"docker://{front.host}/{PREFIX}/nginx"
    assert line.startswith(f"imgopt: error: {subject}: ") and line.count(subject) == 1, line
    assert "HTTP 500" in line and "1 more failure" in line and "nothing was scanned" in line
    p = run_imgopt("scan", "--cache", tmp_path / "c", "--registry", "none", "docker://127.0.0.1:1")
    assert p.returncode == 2 and p.stderr.count("docker://127.0.0.1:1") == 1, p.stderr
    # one image analysed among failures is a (partial) result, listed without repeating each subject
    front = RegistryFront(fleet.reg.url, broken=[rf"^/v2/{PREFIX}/nginx/tags/list"]).start()
    try:
        p = run_imgopt("scan", "--cache", tmp_path / "c", "--registry", "none",
                       f"docker://{front.host}/{PREFIX}/nginx", f"docker://{front.host}/{PREFIX}/sample:v000")
    finally:
        front.stop()
    assert p.returncode == 0 and "partial result" in p.stderr
    failed = p.stdout.split("Failed:", 1)[1]
    assert failed.count(f"{PREFIX}/nginx") == 1 and "HTTP 500" in failed, failed



def test_a_failure_is_labelled_by_its_own_subject_once():
    from imgopt.scan.record import failed_record
    from imgopt.scan.result import ScanError, ScanResult

    errors = [ScanError("docker://h", "a/b", None, "docker://h/a/b: tags list: HTTP 500"),  # a registry's repo
              ScanError("docker://h/c", None, None, "docker://h/c: cannot connect"),
              ScanError("list.txt", None, None, "no such file")]
    images = [failed_record("docker://h/a/x:1", "a/x", "1", "docker://h/a/x:1: manifest: not found"),
              failed_record("docker://h/a/y:1", "a/y", "1", "sha256:ab: layer truncated")]
    r = ScanResult(["docker://h"], None, True, images, [], None, errors, None)
    assert r.failures() == [("docker://h/a/x:1", "manifest: not found"),
                            ("docker://h/a/y:1", "sha256:ab: layer truncated"),
                            ("docker://h/a/b", "tags list: HTTP 500"), ("docker://h/c", "cannot connect"),
                            ("list.txt", "no such file")]
    assert r.nothing_scanned()


def test_a_hostile_catalog_or_tag_list_is_one_error(fleet, tmp_path):
    """Lists are hostile input like manifests (imgopt.image.limits): nested past the depth bound, not JSON,
    names of the wrong type -- a one-line error for that source, and the other sources still scanned."""
    deep = b'{"repositories": ' + b"[" * 200 + b"]" * 200 + b"}"
    canned = {"/v2/_catalog": ("application/json", deep),
              f"/v2/{PREFIX}/nginx/tags/list": ("application/json", b'{"tags": NaN}'),
              f"/v2/{PREFIX}/pyweb/tags/list": ("application/json", b'{"tags": [1, 2]}')}
    front = RegistryFront(fleet.reg.url, canned=canned).start()
    try:
        p = run_imgopt("scan", "--cache", tmp_path / "c", "--registry", "none", "--format", "json",
                       f"docker://{front.host}", f"docker://{front.host}/{PREFIX}/nginx",
                       f"docker://{front.host}/{PREFIX}/pyweb", f"docker://{front.host}/{PREFIX}/sample:v000")
    finally:
        front.stop()
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    doc = json.loads(p.stdout)
    assert doc["partial"] and [i["reference"].rsplit("/", 1)[-1] for i in doc["images"]] == ["sample:v000"]
    errors = {e.get("repository") or e.get("source"): e["error"] for e in doc["errors"]}
    assert len(errors) == 3 and all("\n" not in e for e in errors.values()), errors
    assert any("nested deeper" in e for e in errors.values()), errors
    assert any("not valid JSON" in e for e in errors.values()), errors
    assert any("not a list of names" in e for e in errors.values()), errors


def test_a_corrupt_layer_fails_only_the_images_that_use_it(fleet, reference, tmp_path):
    res = reference[0]
    # a dependency-variant layer of nginx: used by some nginx tags only
    users: dict[str, set[str]] = {}
    for i in res.images:
        for l in i.layers:
            users.setdefault(l.digest, set()).add(i.reference)
    victim = next(d for d, refs in users.items() if 1 < len(refs) < 7 and all("nginx" in r for r in refs))
    path = fleet.reg.blob_data_path(victim)
    original = path.read_bytes()
    try:
        path.write_bytes(original[:100] + bytes(len(original) - 200) + original[-100:])
        out = _scan([f"docker://{fleet.host}/{PREFIX}/nginx", f"docker://{fleet.host}/{PREFIX}/sample"],
                    tmp_path / "c", registries=[])
    finally:
        path.write_bytes(original)
    failed = {i.reference for i in out.images if i.status == "failed"}
    assert failed == users[victim] and out.partial
    assert all(victim[:19] in i.error or "digest" in i.error or "corrupt" in i.error
               for i in out.images if i.status == "failed")
    assert sum(i.status == "ok" for i in out.images) == 14 - len(failed)


def test_rate_limits_are_waited_out(fleet, tmp_path):
    front = RegistryFront(fleet.reg.url, faults=["429", "ok", "429", "ok", "ok", "429"], retry_after="1").start()
    try:
        res = _scan([f"docker://{front.host}/{PREFIX}/sample:v001"], tmp_path / "c", registries=[])
    finally:
        front.stop()
    assert [i.status for i in res.images] == ["ok"]
    log = front.log
    limited = [(t, m, p) for t, m, p, s in log if s == 429]
    assert len(limited) == 3
    for t, m, p in limited:  # the same request came back no sooner than Retry-After said
        again = next(t2 for t2, m2, p2, s2 in log if (m2, p2) == (m, p) and t2 > t and s2 != 429)
        assert again - t >= 0.95, p


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _layers_in(cache: Path) -> int:
    db = cache / "imgopt.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM layers").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for(pred, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_scan_resumes_from_the_cache(fleet, reference, tmp_path):
    cache = tmp_path / "c"
    p = subprocess.Popen([IMGOPT, "scan", "-q", "-j", "2", "--cache", str(cache), "--format", "json",
                          f"docker://{fleet.host}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        _wait_for(lambda: _layers_in(cache) >= 8 or p.poll() is not None)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    done = _layers_in(cache)
    assert 8 <= done < reference[0].fleet.distinct_layers, "killed too late to test a resume"
    with sqlite3.connect(cache / "imgopt.sqlite3") as conn:
        cached = {r[0] for r in conn.execute("SELECT diff_id FROM layers")}
    digest_of = {l.diff_id: l.digest for i in reference[0].images for l in i.layers}
    mark = fleet.mark()
    res = _scan([f"docker://{fleet.host}"], cache, details=True)
    assert _comparable(res) == _comparable(reference[0])
    gets = {d for d in fleet.blob_gets(mark) if d in _layer_digests(res)}
    assert not gets & {digest_of[d] for d in cached}  # nothing the killed run had cached is read again
    assert len(gets) == res.stats.layers_read and res.stats.layers_read + res.stats.layers_cached == \
        res.stats.layers_distinct
    assert res.stats.layers_read + done == res.fleet.distinct_layers  # the rest, read once now


def test_a_killed_worker_costs_only_its_task(fleet, reference, tmp_path):
    cache = tmp_path / "c"
    mark = fleet.mark()
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("res", _scan([f"docker://{fleet.host}"], cache, jobs=2)))
    t.start()
    _wait_for(lambda: _layers_in(cache) >= 5)
    servers = [pid for pid in _children(os.getpid()) if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    workers = [w for s in servers for w in _children(s)]  # the pool's workers are the fork server's children
    assert len(workers) == 2, "expected the two worker processes"
    os.kill(workers[0], signal.SIGKILL)
    t.join(600)
    res = out["res"]
    assert res.stats.task_retries == 1
    assert _comparable(res) == _comparable(reference[0])
    counts = {d: n for d, n in fleet.blob_gets(mark).items() if d in _layer_digests(res)}
    assert set(counts) == set(_layer_digests(res)) and sum(counts.values()) - len(counts) <= 1  # one retried read


# -------------------------------------------------------------------- dask


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1, each worker with its own cache."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    address = f"tcp://127.0.0.1:{port}"
    for n in (1, 2):
        env = {**os.environ, "IMGOPT_CACHE": str(tmp_path / f"worker{n}-cache")}
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--memory-limit", "0", "--name", f"w{n}"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_a_dask_cluster_gives_the_local_result(fleet, reference, dask_cluster, tmp_path):
    address, procs = dask_cluster
    mark = fleet.mark()
    p = run_imgopt("scan", "-q", "--scheduler", address, "--cache", tmp_path / "client", "--details",
                   "--format", "jsonl", "-o", tmp_path / "dask.jsonl", f"docker://{fleet.host}", check=True)
    assert p.returncode == 0
    res = api.scan_merge([str(tmp_path / "dask.jsonl")])
    assert _comparable(res) == _comparable(reference[0])
    assert [i.analysis for i in res.images] == [i.analysis for i in reference[0].images]
    header = json.loads((tmp_path / "dask.jsonl").read_text().splitlines()[0])
    assert header["stats"]["engine"] == f"dask:{address}"
    counts = {d: n for d, n in fleet.blob_gets(mark).items() if d in _layer_digests(res)}
    assert counts == {d: 1 for d in _layer_digests(res)}  # each distinct layer once, across both workers
    for n in (1, 2):  # both workers did some of it, into their own caches
        assert _layers_in(tmp_path / f"worker{n}-cache") > 0


# ----------------------------------------------------------------- formats


def test_every_format_renders_the_scan(reference, tmp_path):
    import html.parser

    import jsonschema

    from imgopt.formats import render

    res = reference[0]
    doc = json.loads(render("scan", "json", res))
    jsonschema.validate(doc, json.loads((ROOT / "docs/schema/scan.schema.json").read_text()))
    lines = [json.loads(ln) for ln in render("scan", "jsonl", res).splitlines()]
    assert [ln["kind"] for ln in lines] == ["scan"] + ["image"] * TAGS + ["layer"] * len(res.layers) + ["fleet"]
    page = render("scan", "html", res)

    class Check(html.parser.HTMLParser):
        external: list[str] = []

        def handle_starttag(self, tag, attrs):
            for k, v in attrs:
                if k in ("src", "href") and v:
                    self.external.append(v)

    c = Check()
    c.feed(page)
    assert c.external == []  # self-contained: no stylesheet, script or image fetched
    assert all(i.reference in page for i in res.images) and "<table" in page and "dedup" in page
    md = render("scan", "markdown", res)
    assert re.search(r"^\| image +\| compressed", md, re.M) and res.layers[0].diff_id[:19] in md
    text = render("scan", "text", res)
    assert text.startswith(f"Images: {TAGS} analysed in 3 repositories")


def test_daemon_and_list_sources(fleet, docker_client, docker_image_cleanup, unique, tmp_path):
    from conftest import SAMPLE_TAR

    name = f"imgopt-scan-test-{unique}/sample"
    run_imgopt("copy", "-q", SAMPLE_TAR, f"docker-daemon:{name}:one", check=True)
    docker_image_cleanup += [f"{name}:one", f"{name}:two"]
    docker_client.images.get(f"{name}:one").tag(name, "two")
    cache = tmp_path / "c"
    res = _scan([f"docker-daemon:{name}"], cache, details=True)
    assert sorted(i.tag for i in res.images) == ["one", "two"] and res.stats.images_merged == 1
    direct = api.analyze(f"docker-daemon:{name}:one", AnalyzeOptions(cache=False)).to_json()
    assert res.images[0].analysis == direct
    assert res.images[0].cold_start  # uncompressed layers: simulated at their measured gzip push size
    again = _scan([f"docker-daemon:{name}"], cache, details=True)
    assert again.stats.images_cached == 2 and again.stats.layers_read == 0  # known by image ID: no docker save
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two images and a bad line\ndocker://{fleet.host}/{PREFIX}/sample:v000\n"
                       f"docker-daemon:{name}:two\n\nnot a reference at all!\n")
    res = _scan([], cache, from_file=str(listing), registries=[])
    assert sorted(i.reference for i in res.images if i.status == "ok") == sorted(
        [f"docker://{fleet.host}/{PREFIX}/sample:v000", f"docker-daemon:{name}:two"])
    assert res.partial and len(res.errors) + sum(i.status != "ok" for i in res.images) == 1
