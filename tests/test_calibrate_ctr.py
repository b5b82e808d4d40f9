"""`imgopt calibrate --containerd SOCKET`: the host profile measured through containerd's ctr."""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

import pytest

from conftest import SAMPLE_TAR, run_imgopt
from imgopt.simulate import profiles as P
from imgopt.simulate.calibrate_ctr import NAMESPACE, go_duration

# dockerd 20.10 runs a containerd of its own unless told to use the system's
SOCKETS = ("/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock")


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "IMGOPT_CACHE": str(tmp_path / "cache"), "IMGOPT_SIMULATE_PROFILES": ""}


@pytest.fixture(scope="module")
def containerd(docker_client) -> str:
    """A containerd socket that answers (the one beside the test engine); fails, never skips, without one."""
    for s in SOCKETS:
        if Path(s).exists() and subprocess.run(["ctr", "-a", s, "version"], capture_output=True).returncode == 0:
            return s
    pytest.fail(f"no containerd answers on {' or '.join(SOCKETS)}; `make test` starts dockerd, which runs one")


def _ctr(sock: str, *args: str) -> str:
    return subprocess.run(["ctr", "-a", sock, *args], capture_output=True, text=True, check=True).stdout


def one_line_error(p, *needles):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgopt: error: "), p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("text,seconds", [("2.458795409s", 2.458795409), ("11.970249ms", 0.011970249),
                                          ("1m2.5s", 62.5), ("950µs", 0.00095), ("1h0m3s", 3603.0), ("40ns", 4e-8)])
def test_go_durations(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1.5", "s", "1.5sx", "abc1s", "1.5 s"])
def test_not_go_durations(text):
    with pytest.raises(ValueError):
        go_duration(text)


def test_calibrate_through_ctr(containerd, env, tmp_path):
    """A real calibration through ctr: containerd's own costs, its namespace gone afterwards, others untouched."""
    namespaces_before = _ctr(containerd, "namespaces", "ls", "-q").split()
    others = {ns: _ctr(containerd, "-n", ns, "images", "ls", "-q") for ns in namespaces_before}
    out = tmp_path / "host.yaml"
    p = run_imgopt("calibrate", "--containerd", containerd, "--reps", "2", "--payload-mb", "16", "-o", out,
                   env=env)
    assert p.returncode == 0, p.stderr
    h = P.load("host", str(out))
    assert "containerd" in h.description and "ctr" in h.description
    c = h.calibration
    # decompression costs time on top of extraction, and Go's zstd decodes faster than its gzip
    unpack = {k: statistics.median(v) for k, v in c["unpack_s"].items()}
    assert unpack["bin-gz"] > unpack["bin-none"], unpack
    assert h.decompress("zstd") > h.decompress("gzip")
    assert 0 < h.per_layer < 1 and h.extract_bps > 1e6 and h.pull_overhead > 0
    assert NAMESPACE not in _ctr(containerd, "namespaces", "ls", "-q").split()
    assert {ns: _ctr(containerd, "-n", ns, "images", "ls", "-q") for ns in namespaces_before} == others
    s = run_imgopt("simulate", SAMPLE_TAR, "--host", out, "--client", "ctr", "--registry", "vpc", env=env)
    assert s.returncode == 0, s.stderr


def test_calibrate_bad_containerd(env, tmp_path):
    one_line_error(run_imgopt("calibrate", "--containerd", "/nonexistent/containerd.sock", "-o", tmp_path / "h.yaml",
                              "-q", "--payload-mb", "4", env=env), "/nonexistent/containerd.sock",
                   "containerd not reachable")
    one_line_error(run_imgopt("calibrate", "--containerd", SOCKETS[1], "--no-docker", "-o", tmp_path / "h.yaml",
                              "-q", env=env), "--containerd", "--no-docker")
    assert not (tmp_path / "h.yaml").exists()
