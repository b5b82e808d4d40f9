"""`imgopt slim IMAGE -o docker-archive:OUT` with NO probe file, on every real fixture app, then every
endpoint of the app's own full probe (fixtures/apps/APP/probe.json) against the slim image in the
Docker engine, checked independently of imgopt (nsenter + curl / a TCP client).

What zero-config probing guarantees is asserted for every app: the server's port is found (from the
listening socket; staticsite has no EXPOSE) and spoken to in its protocol, or the job is run to exit;
the decision comes from the app, not from a timeout; verification replays the discovered probes.
Plus: document roots kept whole, slim images named <repo>:<tag>-slim (`docker load` leaves the
original's tag alone), and two slims of the same app from two independent traces give one digest.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from conftest import build_apps, docker_load, probe_in_docker, run_imgopt

APPS = ["staticsite", "memcached", "postonly", "pyjob", "nginx", "nodeweb", "javaweb", "ffmpegjob", "pyweb",
        "pynumeric", "pyextra", "rubyweb", "perlweb", "phpweb", pytest.param("pytorch", marks=pytest.mark.slow)]
_DONE: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def zero_config_slim(tmp_path_factory, docker_client):
    """``zero_config_slim(app)`` -> (slim archive, its tag, the JSON report), slimmed once per app."""

    def slim(app: str):
        if app not in _DONE:
            archive = build_apps.ensure_app(app)
            out = tmp_path_factory.mktemp(f"zc-{app}") / "slim.tar"
            tag = f"imgopt-test/zeroconf-{app}:{uuid.uuid4().hex[:8]}"
            p = run_imgopt("slim", str(archive), "--format", "json", "-q", "-o", f"docker-archive:{out}:{tag}",
                           timeout=3600)
            assert p.returncode == 0, p.stderr[-3000:]
            _DONE[app] = (out, tag, json.loads(p.stdout))
        return _DONE[app]

    yield slim
    for _out, tag, _rep in _DONE.values():  # loaded by the endpoint test
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    _DONE.clear()


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("app", APPS)
def test_zero_config_finds_how_the_app_is_used(app, zero_config_slim):
    _out, _tag, rep = zero_config_slim(app)
    meta = build_apps.APPS[app]
    pr = rep["probing"]
    assert pr is not None, "no probe file given: the probes must have been found automatically"
    if meta["kind"] == "job":
        assert pr["kind"] == "job" and pr["sockets"] == []
        assert [p["name"] for p in pr["probes"]] == ["exit"] and pr["probes"][0]["passed"]
    else:
        assert pr["kind"] == "server"
        assert [(s["port"], s["protocol"]) for s in pr["sockets"]] == \
            [(meta["port"], "memcached" if meta["kind"] == "tcp" else "http")]
        names = [p["name"] for p in pr["probes"]]
        if meta["kind"] == "http":
            assert names[0] == f"http GET :{meta['port']}/" and f"http HEAD :{meta['port']}/" in names
    # decided by the socket or the exit, in the app's own time: never at the 120 s default timeout
    assert pr["decided_after"] < 60, pr
    assert pr["ready_time"] is not None and pr["ready_time"] <= pr["decided_after"] + 30
    v = rep["verification"]
    assert v["passed"] and v["results"][0]["backend"] == "native"
    assert rep["tags"] and rep["tags"][0].startswith("imgopt-test/zeroconf-")


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("app", APPS)
def test_zero_config_slim_passes_every_endpoint_in_docker(app, zero_config_slim):
    out, tag, _rep = zero_config_slim(app)
    docker_load(out)
    failures = probe_in_docker(tag, build_apps.load_probe(app)["probes"])
    assert not failures, failures


@pytest.mark.slow
@pytest.mark.docker
def test_the_static_site_keeps_its_document_root(zero_config_slim):
    """No EXPOSE, a page nothing links to, a file only a script fetches: all kept, by the document root."""
    _out, _tag, rep = zero_config_slim("staticsite")
    dirs = {d["path"]: d for d in rep["dirs"]}
    root = dirs["/srv/www"]
    assert root["reason"] == "document root" and root["kept"] and root["files"] == 16
    assert dirs["/srv/www/files"]["reason"] == "listed while answering"
    crawled = {p["name"] for p in rep["probing"]["probes"]}
    assert "http GET :8090/fonts/site.woff2" in crawled  # html -> css -> @import css -> url() font
    assert "http GET :8090/unlinked.html" not in crawled  # ... which the document root still keeps


@pytest.mark.docker
def test_slim_archive_does_not_take_the_originals_tag(tmp_path, docker_client, docker_image_cleanup):
    """`docker load` of a slim archive written without a name: <repo>:<tag>-slim, the original untouched."""
    from conftest import SAMPLE_TAR

    name = f"imgopt-test/zeroconf-naming-{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src.tar"
    assert run_imgopt("copy", "--quiet", str(SAMPLE_TAR), f"docker-archive:{src}:{name}:v1").returncode == 0
    docker_image_cleanup += [f"{name}:v1", f"{name}:v1-slim"]
    subprocess.run(["docker", "load", "-i", str(src)], check=True, capture_output=True)
    original = docker_client.images.get(f"{name}:v1").id
    out = tmp_path / "slim.tar"
    p = run_imgopt("slim", str(src), "--format", "json", "-q", "-o", f"docker-archive:{out}")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["tags"] == [f"{name}:v1-slim"]
    loaded = docker_load(out)
    assert f"Loaded image: {name}:v1-slim" in loaded
    assert docker_client.images.get(f"{name}:v1").id == original  # still the original
    slim_id = docker_client.images.get(f"{name}:v1-slim").id
    assert slim_id != original
    import yaml

    from conftest import FIXTURES

    probes = yaml.safe_load((FIXTURES / "sample" / "probe.yaml").read_text())["probes"]
    assert not probe_in_docker(f"{name}:v1-slim", probes[:1])


@pytest.mark.slow
@pytest.mark.docker
def test_two_slims_from_two_traces_give_one_digest(tmp_path, docker_client):
    """gunicorn with two worker processes: interleaving differs in every trace, the digests must not."""
    archive = build_apps.ensure_app("pyweb")
    digests, layers = [], []
    for i in range(2):
        p = run_imgopt("slim", str(archive), "--format", "json", "-q", "-o", f"oci:{tmp_path / f'o{i}'}:v1",
                       timeout=3600)
        assert p.returncode == 0, p.stderr[-2000:]
        rep = json.loads(p.stdout)
        digests.append(rep["manifest_digest"])
        layers.append(rep["slim"]["layers"])
    assert layers[0] == 2 and digests[0] == digests[1]
