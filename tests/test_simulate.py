"""`imgopt simulate` / `imgopt calibrate`: model, profiles, CLI and bad input.

The real-pull validation (shaped link, second dockerd) is in
test_simulate_validation.py (slow).
"""

from __future__ import annotations

import json
import dataclasses
import math
from pathlib import Path

import networkx as nx
import pytest
import yaml

from conftest import SAMPLE_TAR, run_imgopt
from imgopt.errors import BadInput, NotFound
from imgopt.simulate import engine
from imgopt.simulate import profiles as P
from imgopt.simulate.engine import Task
from imgopt.simulate.model import Startup, simulate, slow_start_extra
from imgopt.simulate.workload import LayerWork, Workload, parse_what_if


@pytest.fixture
def env(tmp_path):
    """Isolated HOME/cache so a user's calibrated profile or cache does not leak in."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "IMGOPT_CACHE": str(tmp_path / "cache"), "IMGOPT_SIMULATE_PROFILES": ""}


def one_line_error(p, *needles):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgopt: error: "), p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def reg(**over) -> P.RegistryProfile:
    doc = {"kind": "registry", "name": "t",
           "network": {"rtt_ms": 10, "per_connection_mbps": 80, "aggregate_mbps": 80, "goodput": 1.0,
                       "initcwnd_segments": 1e9},
           "connection": {"tls": False}, "api": {"server_ms": 0, "ping": False, "auth": "none"}}
    for k, v in over.items():
        doc[k].update(v)
    return P.parse_registry(doc, "test")


def host(**over) -> P.HostProfile:
    doc = {"kind": "host", "name": "h", "cores": 2, "decompress_mb_s": {"gzip": 100, "zstd": 1000},
           "extract": {"mb_s": 100, "per_file_us": 0, "per_layer_ms": 0}, "ingest_mb_s": 1e6,
           "pull_overhead_ms": 0, "container": {"create_ms": 0, "start_ms": 0}}
    doc.update(over)
    return P.parse_host(doc, "test")


def workload(sizes, codec="gzip", ratio=0.5, entries=0) -> Workload:
    layers = [LayerWork(i, f"sha256:{i:064x}", codec, int(u * ratio), u, entries, entries) for i, u in
              enumerate(sizes)]
    return Workload("img", "sha256:" + "a" * 64, "sha256:" + "b" * 64, 500, 0, layers)


# ------------------------------------------------------------------ engine


def test_water_fill_is_max_min_fair():
    assert engine._water_fill(10, [2, 100, 100]) == [2, 4, 4]
    assert engine._water_fill(10, [math.inf]) == [10]
    assert engine._water_fill(1, []) == []


def test_engine_shares_bandwidth_and_slots():
    g = nx.DiGraph()
    for i in range(3):
        engine.add(g, Task(f"f{i}", "net", 100, cap=math.inf, acquire="s", release="s", priority=i))
    tasks = engine.run(g, engine.Resources(links={"net": 100}, slots={"s": 2}))
    # two flows share 100 B/s: both done at 2 s; the third then runs alone: 3 s
    assert tasks["f0"].end == pytest.approx(2.0)
    assert tasks["f1"].end == pytest.approx(2.0)
    assert tasks["f2"].start == pytest.approx(2.0) and tasks["f2"].end == pytest.approx(3.0)
    assert tasks["f2"].wait == "slot"
    path = engine.critical_path(tasks, "f2")
    assert [t.id for t in path][-1] == "f2" and len(path) == 2


def test_engine_cpu_processor_sharing():
    g = nx.DiGraph()
    for i in range(3):
        engine.add(g, Task(f"c{i}", "cpu", 2.0, cap=1.0))
    tasks = engine.run(g, engine.Resources(cores=2))
    assert max(t.end for t in tasks.values()) == pytest.approx(3.0)  # 6 core-seconds on 2 cores


def test_engine_pipeline_is_one_shared_pool():
    g = nx.DiGraph()
    engine.add(g, Task("extract", "host", 1.0, cap=1.0))
    engine.add(g, Task("rx", "host", 0.25, cap=1.0))
    tasks = engine.run(g, engine.Resources(cores=8))
    # capacity 1 whatever the cores: half each until rx ends at 0.5 s, then extract alone
    assert tasks["rx"].end == pytest.approx(0.5)
    assert tasks["extract"].end == pytest.approx(1.25)


# ------------------------------------------------------------------- model


def test_downloads_arriving_during_an_extraction_slow_it_down():
    """Receiving a blob uses the pipeline extraction needs: 1/ingest of it per byte."""
    # layer 0: 1 MB gzip, 40 MB to unpack (0.8 s); layer 1: 40 MB uncompressed, arriving during it
    w = Workload("img", "sha256:" + "a" * 64, "sha256:" + "b" * 64, 500, 0, [
        LayerWork(0, "sha256:" + "0" * 64, "gzip", 1_000_000, 40_000_000, 0, 0),
        LayerWork(1, "sha256:" + "1" * 64, "none", 40_000_000, 40_000_000, 0, 0)])
    fast = reg(network={"per_connection_mbps": 8000, "aggregate_mbps": 8000})  # 1 GB/s

    def extract0(ingest_mb_s):
        res = simulate(w, fast, P.load("client", "docker"), host(ingest_mb_s=ingest_mb_s), Startup(0))
        return next(t for t in res.timeline if t["task"] == "layer 0 decompress+extract")

    free = extract0(1e6)
    assert free["end"] - free["start"] == pytest.approx(0.8, rel=1e-3)
    # at 100 MB/s of ingest, layer 1's 40 MB cost 0.4 s of the pipeline, taken while layer 0 extracts
    busy = extract0(100)
    assert busy["end"] - busy["start"] == pytest.approx(0.8 + 0.4, rel=0.02)


def test_docker_one_layer_is_analytic():
    r = reg()
    w = workload([10_000_000])  # 5 MB compressed at 10 MB/s, 10 MB to inflate (100 MB/s) + extract (100 MB/s)
    res = simulate(w, r, P.load("client", "docker"), host(), Startup(0.5))
    rtt = 0.010
    # docker 20.10: a new TCP connection (1 RTT) per request: HEAD manifest, GET manifest, GET layer
    # (the config comes in parallel); then download, receive its last 1 MiB piece (1e12 B/s), inflate, extract
    expect = 3 * 2 * rtt + 0.5 + (5_000_000 / 5) / 1e12 + 0.1 + 0.1
    assert res.pull == pytest.approx(expect, rel=1e-6)
    assert res.total == pytest.approx(expect + 0.5)
    assert res.breakdown["network"] == pytest.approx(6 * rtt + 0.5, rel=1e-6)
    assert res.breakdown["cpu"] == pytest.approx(0.2 + 1e-6, rel=1e-6)  # the receive, then the unpack
    assert [c["task"] for c in res.critical_path][-1] == "ready"
    assert any(t["task"] == "layer 0 download" for t in res.timeline)


def test_docker_extracts_in_layer_order_and_streaming_overlaps():
    w = workload([40_000_000, 4_000_000, 4_000_000])
    docker = simulate(w, reg(), P.load("client", "docker"), host(), Startup(0))
    ctrd = simulate(w, reg(), P.load("client", "containerd"), host(), Startup(0))
    tl = {t["task"]: t for t in docker.timeline}
    # small layers finish downloading first but extract only after layer 0
    assert tl["layer 1 download"]["end"] < tl["layer 0 download"]["end"]
    assert tl["layer 1 decompress+extract"]["start"] >= tl["layer 0 decompress+extract"]["end"] - 1e-9
    assert ctrd.pull < docker.pull  # streaming unpack hides inflate behind the download


def test_ctr_unpacks_only_after_every_blob_is_fetched():
    """containerd 1.6's ``ctr image pull``: content.Fetch of the whole image, then the layers applied in order."""
    w = workload([4_000_000, 40_000_000, 40_000_000])
    ctr = simulate(w, reg(), P.load("client", "ctr"), host(), Startup(0))
    # the same client extracting each layer once it has arrived (the CRI's unpacker, docker's order)
    per_layer = simulate(w, reg(), dataclasses.replace(P.load("client", "ctr"), unpack="sequential"), host(),
                         Startup(0))
    tl = {t["task"]: t for t in ctr.timeline}
    last_byte = max(t["end"] for t in ctr.timeline if t["task"].endswith(("download", "receive")))
    extracts = [tl[f"layer {i} decompress+extract"] for i in range(3)]
    assert extracts[0]["start"] >= last_byte - 1e-9  # nothing unpacks while a blob is still arriving
    assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(extracts, extracts[1:]))  # in layer order
    # no overlap: the pull is the download phase plus every layer's unpack; extracting layer 0 while the
    # others arrive hides its unpack
    unpack = sum(e["busy"] for e in extracts)
    assert ctr.pull == pytest.approx(last_byte + unpack, rel=1e-3)
    assert ctr.pull - per_layer.pull == pytest.approx(extracts[0]["busy"], rel=0.05)
    assert "zstd" in P.load("client", "ctr").codecs and "zstd" not in P.load("client", "docker").codecs


def test_public_costs_more_round_trips_than_vpc():
    w = workload([1_000_000])
    vpc = simulate(w, P.load("registry", "vpc"), P.load("client", "docker"), host(), Startup(0))
    pub = simulate(w, P.load("registry", "public"), P.load("client", "docker"), host(), Startup(0))
    assert pub.pull > vpc.pull + 0.2  # token host, 40 ms RTT, CDN redirect
    assert pub.breakdown["network"] > vpc.breakdown["network"]


def test_slow_start_extra():
    r = reg(network={"initcwnd_segments": 10, "mss_bytes": 1000})
    assert slow_start_extra(1e9, r, 0.0, 1e8) == 0.0
    extra = slow_start_extra(1e9, r, 0.05, 1e8)  # BDP 5 MB: ~9 round trips to grow the window
    assert 0.2 < extra < 0.5
    assert slow_start_extra(5000, r, 0.05, 1e8) == pytest.approx(0.05 - 5000 / 1e8)


def test_bandwidth_halves_download_time():
    w = workload([100_000_000])
    slow = simulate(w, reg(network={"aggregate_mbps": 40, "per_connection_mbps": 40}), P.load("client", "docker"),
                    host(), Startup(0))
    fast = simulate(w, reg(network={"aggregate_mbps": 80, "per_connection_mbps": 80}), P.load("client", "docker"),
                    host(), Startup(0))
    assert slow.breakdown["network"] - fast.breakdown["network"] == pytest.approx(5.0, rel=0.01)


def test_lazy_fetches_startup_files_only():
    w = workload([200_000_000])
    from imgopt.simulate.workload import FileLoc

    w.files = {f"/f{i}": FileLoc(0, i * 1_000_000, 100_000) for i in range(200)}
    files = [(f"/f{i}", i * 0.001, 100_000) for i in range(20)]
    lazy = simulate(w, reg(), P.load("client", "lazy"), host(), Startup(0.5, files, "profile"))
    docker = simulate(w, reg(), P.load("client", "docker"), host(), Startup(0.5, files, "profile"))
    assert lazy.total < docker.total / 3
    assert lazy.bytes_downloaded < 10_000_000
    # without prefetch every file is a miss: one round trip each, so slower than with prefetch
    nopf = P.load("client", "lazy")
    nopf.lazy.prefetch = "none"
    miss = simulate(w, reg(), nopf, host(), Startup(0.5, files, "profile"))
    assert miss.total > lazy.total
    assert miss.total >= 0.5 + 20 * 0.010


def test_lazy_without_profile_is_refused():
    with pytest.raises(BadInput, match="startup set"):
        simulate(workload([1000]), reg(), P.load("client", "lazy"), host(), Startup(1.0))


def test_what_if_parsing():
    assert parse_what_if("compress=zstd") == {"compress": "zstd"}
    assert parse_what_if("compress=zstd,slim") == {"compress": "zstd", "slim": "profile"}
    for bad in ("compress=lz4", "squash", "", "slim=half"):
        with pytest.raises(BadInput):
            parse_what_if(bad)


# ----------------------------------------------------------------- profiles


def test_builtin_profiles_load_and_cite_sources():
    for kind, names in (("registry", ["vpc", "public"]), ("client", ["docker", "containerd", "lazy"]),
                        ("host", ["reference"])):
        for n in names:
            P.load(kind, n)
            text = (P.BUILTIN_DIR / kind / f"{n}.yaml").read_text()
            assert text.count("#") >= 2, f"{kind}/{n}: defaults need their source or assumption in comments"


@pytest.mark.parametrize("doc, needle", [
    ({"network": {"rtt_ms": 1, "per_connection_mbps": 0, "aggregate_mbps": 10}}, "per_connection_mbps must be positive"),
    ({"network": {"rtt_ms": 1, "per_connection_mbps": 10, "aggregate_mbps": -5}}, "aggregate_mbps must be positive"),
    ({"network": {"rtt_ms": -1, "per_connection_mbps": 10, "aggregate_mbps": 10}}, "rtt_ms must be >= 0"),
    ({"network": {"rtt_ms": 1, "per_connection_mbps": "fast", "aggregate_mbps": 10}}, "must be a number"),
    ({"network": {"rtt_ms": 1, "per_connection_mbps": 10, "aggregate_mbps": 10, "bogus": 1}}, "unknown field"),
    ({"network": {"per_connection_mbps": 10, "aggregate_mbps": 10}}, "rtt_ms is required"),
    ({"network": {"rtt_ms": 1, "per_connection_mbps": 10, "aggregate_mbps": 10}, "api": {"auth": "oauth"}},
     "auth must be one of"),
])
def test_bad_registry_profiles(doc, needle):
    with pytest.raises(BadInput, match=needle):
        P.parse_registry({"kind": "registry", "name": "x", **doc}, "x.yaml")


def test_unknown_profile_name():
    with pytest.raises(NotFound, match="unknown registry profile 'moon'.*available: .*public"):
        P.load("registry", "moon")


# ---------------------------------------------------------------------- CLI


def test_cli_table_vpc_vs_public(env):
    p = run_imgopt("simulate", SAMPLE_TAR, "--registry", "vpc,public", "--host", "reference", env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["image", "registry", "client"]
    rows = [l for l in lines if "sample.tar" in l and not l.startswith("note")]
    assert len(rows) == 2 and "vpc" in rows[0] and "public" in rows[1]
    pull = {l.split()[1]: float(l.split()[3]) for l in rows}
    assert 0 < pull["vpc"] < pull["public"]
    assert "ready time assumed" in p.stdout


def test_cli_json_and_markdown(env, tmp_path):
    p = run_imgopt("simulate", SAMPLE_TAR, "--registry", "vpc", "--client", "docker,containerd", "--format", "json",
                   "--ready-time", "0.25", "--what-if", "compress=zstd", "--host", "reference", env=env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    res = doc["results"]
    assert len(res) == 4  # (base, zstd) x (docker, containerd)
    r0 = res[0]
    assert r0["total_s"] == pytest.approx(r0["pull_s"] + r0["start_s"], abs=1e-3)
    assert r0["start_s"] >= 0.25
    assert r0["critical_path"][-1]["task"] == "ready"
    assert r0["timeline"] and {"task", "start", "end", "category"} <= set(r0["timeline"][0])
    z = [r for r in res if r["variant"] == "compress=zstd" and r["client"] == "docker"][0]
    assert any("cannot pull zstd" in n for n in z["notes"])
    m = run_imgopt("simulate", SAMPLE_TAR, "--format", "markdown", "--host", "reference", env=env)
    assert m.returncode == 0 and m.stdout.startswith("| image")


def _profile(path: Path, digest: str, config_digest: str, files=()) -> str:
    doc = {"schema": "imgopt.profile/v1", "image": "x", "image_digest": digest, "config_digest": config_digest,
           "backend": "native", "argv": ["/bin/busybox", "httpd"], "env": [], "workdir": "/", "user": "",
           "started_at": "2024-01-01T00:00:00Z", "duration": 2.0, "ready_time": 0.3, "exit_code": None,
           "files": [{"path": p, "first_access": t, "kinds": ["open", "read"], "exists": True, "type": "file",
                      "size": s} for p, t, s in files]}
    path.write_text(json.dumps(doc))
    return str(path)


def test_cli_profile_digest_mismatch_warns_or_fails(env, tmp_path):
    prof = _profile(tmp_path / "p.json", "sha256:" + "1" * 64, "sha256:" + "2" * 64, [("/bin/busybox", 0.01, 1000)])
    p = run_imgopt("simulate", SAMPLE_TAR, "--profile", prof, "--registry", "vpc", "--host", "reference", env=env)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "not this image" in p.stderr
    one_line_error(run_imgopt("simulate", SAMPLE_TAR, "--profile", prof, "--strict", "--host", "reference", env=env),
                   "not this image")


def test_cli_lazy_with_matching_profile(env, tmp_path):
    from imgopt.image.transports import open_image

    with open_image(str(SAMPLE_TAR)) as img:
        dig, cfg = img.digest, img.config_digest
    prof = _profile(tmp_path / "p.json", dig, cfg, [("/bin/busybox", 0.001, 1000), ("/var/www/index.html", 0.2, 80)])
    p = run_imgopt("simulate", SAMPLE_TAR, "--profile", prof, "--client", "docker,lazy", "--registry", "public",
                   "--what-if", "slim", "--format", "json", "--host", "reference", env=env)
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr
    res = json.loads(p.stdout)["results"]
    by = {(r["variant"], r["client"]): r for r in res}
    assert by[("", "lazy")]["bytes_downloaded"] < by[("", "docker")]["bytes_downloaded"]
    assert by[("slim", "docker")]["pull_s"] < by[("", "docker")]["pull_s"]
    assert by[("", "docker")]["start_s"] >= 0.3


@pytest.mark.parametrize("args, needles", [
    (["--registry", "moon"], ["--registry", "unknown registry profile 'moon'"]),
    (["--client", "podman"], ["--client", "unknown client profile"]),
    (["--host", "nowhere.yaml"], ["nowhere.yaml", "no such host profile file"]),
    (["--client", "lazy"], ["lazy", "--profile"]),
    (["--what-if", "compress=brotli"], ["--what-if", "brotli"]),
    (["--what-if", "slim"], ["--what-if", "trace profile"]),
    (["--ready-time", "-1"], ["--ready-time"]),
    (["--registry", "vpc,"], ["--registry", "empty name"]),
])
def test_cli_bad_options(env, args, needles):
    one_line_error(run_imgopt("simulate", SAMPLE_TAR, "--host", "reference", *args, env=env), *needles)


@pytest.mark.parametrize("text, needles", [
    ("kind: registry\nname: x\nnetwork: {rtt_ms: 1, per_connection_mbps: 0, aggregate_mbps: 10}\n",
     ["per_connection_mbps must be positive"]),
    ("kind: registry\nname: x\nnetwork: {rtt_ms: 1, per_connection_mbps: 100, aggregate_mbps: -1}\n",
     ["aggregate_mbps must be positive"]),
    ("kind: registry\nname: x\nnetwork: [1, 2\n", ["malformed YAML"]),
    ("- just\n- a list\n", ["not a mapping"]),
    ("kind: client\nname: x\nunpack: sequential\n", ["is a 'client' profile"]),
])
def test_cli_bad_profile_files(env, tmp_path, text, needles):
    f = tmp_path / "reg.yaml"
    f.write_text(text)
    one_line_error(run_imgopt("simulate", SAMPLE_TAR, "--registry", str(f), "--host", "reference", env=env),
                   str(f), *needles)


def test_cli_bad_image(env, tmp_path):
    one_line_error(run_imgopt("simulate", tmp_path / "missing.tar", "--host", "reference", env=env))
    bad = tmp_path / "prof.json"
    bad.write_text("{not json")
    one_line_error(run_imgopt("simulate", SAMPLE_TAR, "--profile", bad, "--host", "reference", env=env),
                   "not valid JSON")


def test_user_profile_dir_and_calibrated_default(env, tmp_path):
    d = tmp_path / "profiles" / "registry"
    d.mkdir(parents=True)
    (d / "mine.yaml").write_text(yaml.safe_dump({
        "kind": "registry", "name": "mine",
        "network": {"rtt_ms": 0.1, "per_connection_mbps": 10000, "aggregate_mbps": 10000}}))
    e = dict(env, IMGOPT_SIMULATE_PROFILES=str(tmp_path / "profiles"))
    p = run_imgopt("simulate", SAMPLE_TAR, "--registry", "mine", "--host", "reference", env=e)
    assert p.returncode == 0, p.stderr
    assert " mine " in p.stdout


def test_calibrate_in_process(env, tmp_path):
    out = tmp_path / "host.yaml"
    p = run_imgopt("calibrate", "--no-docker", "--payload-mb", "8", "-o", out, "-q", env=env)
    assert p.returncode == 0, p.stderr
    h = P.load("host", str(out))
    assert h.decompress("gzip") > 10e6 and h.extract_bps > 1e6
    assert h.calibration["method"] == "in-process"
    s = run_imgopt("simulate", SAMPLE_TAR, "--host", out, "--registry", "vpc", env=env)
    assert s.returncode == 0, s.stderr


def test_calibrate_bad_docker_host(env, tmp_path):
    one_line_error(run_imgopt("calibrate", "--docker-host", "unix:///nonexistent.sock", "-o", tmp_path / "h.yaml",
                              "-q", "--payload-mb", "4", env=env), "daemon not reachable")
    assert not (tmp_path / "h.yaml").exists()


def test_calibration_images_go_through_the_registry_sink(docker_client, tmp_path):
    """calibrate pushes its synthetic images with imgopt's own registry client; the engine pulls them."""
    import subprocess
    import uuid

    from imgopt.image.transports import open_image
    from imgopt.simulate import calibrate as C

    layers = [C._layer([("a/x", b"x" * 5000), ("salt", uuid.uuid4().bytes)], "gzip"),
              C._layer([("b/y", b"y" * 100)], "none")]
    layers[0] = layers[0].salted("structure-test")
    with C.TempRegistry() as reg:
        tag = f"t{uuid.uuid4().hex[:8]}"
        digest = C.push(reg.addr, C.REPO, tag, layers)
        ref = f"{reg.addr}/{C.REPO}:{tag}"
        with open_image(f"docker://{ref}") as img:  # an independent read back: same blobs, same diffIDs
            assert img.digest == digest
            assert [l.digest for l in img.layers] == [l.digest for l in layers]
            assert img.config.diff_ids == [l.diffid() for l in layers]
        pt = C.timed_pull(docker_client.api, ref, [l.digest for l in layers])
        try:
            assert pt.error is None and all(l["done"] is not None for l in pt.layers)
            out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
            assert out.returncode == 0 and out.stdout.strip() == C.synthetic_image(ref, layers).config_digest
        finally:
            C.remove_image(docker_client.api, ref)


# --------------------------------------------------------------- CPU steal


def test_steal_meter_reads_the_share_of_cpu_time_stolen(tmp_path):
    from imgopt.simulate import steal

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n")
    assert steal.cpu_times(str(stat)) == (40, 1000)
    with steal.StealMeter(str(stat)) as m:
        # 200 more ticks, 50 of them stolen
        stat.write_text("cpu  180 0 70 850 10 0 0 90 0 0\n")
    assert m.fraction == pytest.approx(0.25)
    assert not steal.quiet(m.fraction) and steal.quiet(0.01)
    for bad in ("", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu a b c d e f g h\n"):
        stat.write_text(bad)
        assert steal.cpu_times(str(stat)) == (0, 0)
    assert steal.cpu_times(str(tmp_path / "missing")) == (0, 0)
    with steal.StealMeter() as real:  # this machine's /proc/stat
        sum(range(10 ** 5))
    assert 0.0 <= real.fraction <= 1.0


def test_a_disturbed_calibration_pull_is_measured_again(docker_client, monkeypatch):
    """With every pull counted as disturbed, each is taken ATTEMPTS times (fresh salted copies, cold), the
    least-stolen kept, and every extra copy is listed for removal."""
    import uuid

    from imgopt.simulate import calibrate as C
    from imgopt.simulate import steal

    monkeypatch.setattr(steal, "QUIET", -1.0)
    base = [C._layer([("a/x", b"x" * 5000)], "gzip"), C._layer([("b/y", uuid.uuid4().bytes * 100)], "none")]
    layers = [l.salted(f"first-{uuid.uuid4().hex}") for l in base]
    pushed: list[str] = []
    said: list[str] = []
    with C.TempRegistry() as reg:
        ref = f"{reg.addr}/{C.REPO}:t{uuid.uuid4().hex[:8]}"
        C.push(reg.addr, C.REPO, ref.rsplit(":", 1)[1], layers)
        try:
            pt, kept = C._quiet_pull(docker_client.api, reg.addr, ref, layers, base, said.append, pushed)
            assert len(pushed) == steal.ATTEMPTS - 1 and len(said) == steal.ATTEMPTS
            assert pt.error is None and all(l["done"] is not None and not l["exists"] for l in pt.layers)
            assert 0.0 <= pt.steal <= 1.0
            # the kept layers are the ones that pull measured: salted from the base, so new digests
            assert [l.diffid() for l in kept] != [l.diffid() for l in base]
            # every attempt pulled its own copy: all of them are in the engine, none was deleted in between
            assert len(set(pushed)) == len(pushed) and ref not in pushed
            for r in [ref] + pushed:
                docker_client.api.inspect_image(r)
        finally:
            for r in [ref] + pushed:
                C.remove_image(docker_client.api, r)
