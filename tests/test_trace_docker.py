"""imgopt trace, docker backend: the real engine, the same bundled strace, the same profile."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from conftest import SAMPLE_TAR, run_imgopt
from imgopt.image.transports import open_image
from imgopt.trace import ExecProbe, ExitProbe, HttpProbe, TraceOptions, parse_probes, trace_image
from test_trace_helpers import CASES_PROBES

pytest_plugins = ["test_trace_helpers"]
pytestmark = pytest.mark.docker


def _containers(client) -> list[str]:
    """The trace containers this test process made that still exist (others' runs on a shared engine are not ours)."""
    from imgopt.trace.docker import OWNER_LABEL
    from imgopt.trace.owner import owner_tag

    mine = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner_tag()}"})
    return [c.name for c in mine if c.name.startswith("imgopt-trace-")]


def _relabelled_sample(path) -> str:
    """The sample with another label: an image ID the engine does not have yet."""
    with tarfile.open(SAMPLE_TAR) as src, tarfile.open(path, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        cfg_name = manifest[0]["Config"]
        cfg = json.load(src.extractfile(cfg_name))
        cfg["config"]["Labels"]["imgopt.test"] = "relabelled"
        raw = json.dumps(cfg).encode()
        new_name = hashlib.sha256(raw).hexdigest() + ".json"
        manifest[0]["Config"] = new_name
        manifest[0]["RepoTags"] = []
        for m in src.getmembers():
            if m.name in ("manifest.json", cfg_name) or m.name.startswith("blobs/sha256/" + cfg_name[-64:]):
                continue
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, data in ((new_name, raw), ("manifest.json", json.dumps(manifest).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            dst.addfile(ti, io.BytesIO(data))
    return str(path)


def test_sample_in_docker_matches_native(docker_client):
    probes = [HttpProbe(8080, "/", expect_body="imgopt-sample ok", timeout=30),
              HttpProbe(8080, "/cgi-bin/status", expect_body="workers=2", timeout=10)]
    with open_image(str(SAMPLE_TAR)) as img:
        d = trace_image(img, probes, TraceOptions(backend="docker"))
        n = trace_image(img, probes, TraceOptions(backend="native"))
    assert d.passed, (d.failure, d.output)
    assert d.profile.backend == "docker" and d.profile.ready_time is not None
    dp = {f.path for f in d.profile.files if f.exists}
    np_ = {f.path for f in n.profile.files if f.exists}
    assert {"/bin/busybox", "/var/www/index.html", "/var/www/cgi-bin/status", "/bin/sh", "/app/config.txt"} <= dp
    assert dp == np_, (dp ^ np_)
    assert not any(f.path.startswith("/.imgopt-trace") for f in d.profile.files)
    assert _containers(docker_client) == []


def test_cases_in_docker(cases_archive, docker_client):
    with open_image(str(cases_archive)) as img:
        res = trace_image(img, parse_probes(CASES_PROBES), TraceOptions(backend="docker"))
    assert res.passed, res.failure
    f = {x.path: x for x in res.profile.files}
    d = "/srv/cases/data"
    assert f[f"{d}/link1"].link_target == "link2" and f[f"{d}/real/target.txt"].exists
    assert f[f"{d}/sub/dirfd-only.txt"].exists and f[f"{d}/sub/cwd-only.txt"].exists
    assert "open" in f[f"{d}/thread-only.txt"].kinds and "exec" in f["/usr/bin/cat"].kinds
    assert not f[f"{d}/sub/missing-at-dirfd.txt"].exists


def test_runtime_options_pass_through(tmp_path, docker_client):
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "mounted.txt").write_text("from the host\n")
    opts = TraceOptions(backend="docker", volumes=[f"{tmp_path / 'vol'}:/data:ro"])
    opts.overrides.entrypoint = ["/bin/sh"]
    opts.overrides.args = ["-c", "id -u; echo $GREETING; cat /data/mounted.txt; pwd"]
    opts.overrides.env = ["GREETING=hello-docker"]
    opts.overrides.user = "33"
    opts.overrides.workdir = "/var/www"
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, [ExitProbe(expect_output="33\nhello-docker\nfrom the host\n/var/www", timeout=60)],
                          opts)
    assert res.passed, (res.failure, res.output)
    f = {x.path: x for x in res.profile.files}
    assert not f["/data/mounted.txt"].exists and "open" in f["/data/mounted.txt"].kinds  # not image content
    assert res.profile.exit_code == 0


def test_exec_probe_in_docker_is_traced(docker_client):
    probes = [HttpProbe(8080, timeout=30), ExecProbe(["/bin/cat", "/etc/motd"], expect_output="Welcome")]
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, probes, TraceOptions(backend="docker"))
    assert res.passed, res.failure
    motd = [x for x in res.profile.files if x.path == "/etc/motd"]
    assert motd and motd[0].by_probe


def test_image_not_in_the_engine_is_loaded_then_removed(tmp_path, docker_client):
    archive = _relabelled_sample(tmp_path / "relabelled.tar")
    before = {t for i in docker_client.images.list() for t in i.tags}
    with open_image(archive) as img:
        assert not any(i.id == img.config_digest for i in docker_client.images.list())
        res = trace_image(img, [HttpProbe(8080, timeout=30)], TraceOptions(backend="docker"))
    assert res.passed, res.failure
    after = {t for i in docker_client.images.list() for t in i.tags}
    assert after == before and _containers(docker_client) == []


def test_cli_docker_backend(tmp_path, docker_client):
    out = tmp_path / "p.json"
    p = run_imgopt("trace", str(SAMPLE_TAR), "--backend", "docker", "-o", str(out), timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["backend"] == "docker" and doc["ready_time"] is not None
    assert "(docker, strace)" in p.stdout


def test_hanging_container_is_removed(docker_client):
    opts = TraceOptions(backend="docker", timeout=30)
    opts.overrides.entrypoint = ["/bin/sh"]
    opts.overrides.args = ["-c", "trap '' TERM; sleep 1000"]
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, [HttpProbe(8080, timeout=2)], opts)
    assert not res.passed and "not passed within 2 s" in res.failure
    assert _containers(docker_client) == []
