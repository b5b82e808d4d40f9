"""imgopt slim on every real application image: the slim image must pass the
app's probes in the Docker engine (checked independently of imgopt's own
verification), with no hand-written includes."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import APP_NAMES, SAMPLE_TAR, build_apps, docker_load, probe_in_docker, run_imgopt
from imgopt.image.transports import open_image

SLIM_APPS = APP_NAMES  # pyweb nodeweb nginx ffmpegjob pynumeric javaweb pytorch


def _slim(app_tar, probes: dict, tmp_path, tag: str, *extra: str):
    probe_file = tmp_path / "probe.json"
    probe_file.write_text(json.dumps(probes))
    out = tmp_path / "slim.tar"
    p = run_imgopt("slim", str(app_tar), "--probe", str(probe_file), "--verify", "both", "--format", "json",
                   "-q", "-o", f"docker-archive:{out}:{tag}", *extra, timeout=3600)
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads(p.stdout)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("app", SLIM_APPS)
def test_slim_app_passes_its_probes_in_docker(app, app_archive, tmp_path, docker_image_cleanup, skopeo):
    probes = build_apps.load_probe(app)
    tag = f"imgopt-test/slim-{app}:v1"
    out, rep = _slim(app_archive(app), probes, tmp_path, tag)
    assert rep["verification"]["passed"]
    assert {r["backend"] for r in rep["verification"]["results"]} == {"native", "docker"}
    assert rep["slim"]["compressed_bytes"] < rep["original"]["compressed_bytes"]
    docker_image_cleanup.append(tag)
    docker_load(out)
    failures = probe_in_docker(tag, probes["probes"])
    assert not failures, failures
    # a valid image for independent tools too
    info = json.loads(subprocess.run([skopeo, "inspect", f"docker-archive:{out}"], capture_output=True,
                                     text=True, check=True).stdout)
    assert len(info["Layers"]) == rep["slim"]["layers"]
    with open_image(str(out)) as img:
        orig = open_image(str(app_archive(app)))
        for key in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts", "Labels"):
            assert (img.config.raw.get("config") or {}).get(key) == (orig.config.raw.get("config") or {}).get(key)
        orig.close()


def test_sample_slim_is_deterministic_and_verified(tmp_path, docker_client):
    probes = tmp_path / "p.yaml"
    probes.write_text((SAMPLE_TAR.parent / "sample/probe.yaml").read_text())
    digests = []
    for i in range(2):
        p = run_imgopt("slim", str(SAMPLE_TAR), "--probe", str(probes), "--format", "json", "-q",
                       "-o", f"oci:{tmp_path / f'o{i}'}:v1")
        assert p.returncode == 0, p.stderr
        rep = json.loads(p.stdout)
        digests.append(rep["manifest_digest"])
        assert rep["verification"]["passed"] and rep["slim"]["files"] < rep["original"]["files"]
    assert digests[0] == digests[1]


def test_failed_verification_writes_nothing(tmp_path, docker_client):
    """A probe the slim image cannot pass (the original cannot either): exit 1, no output."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"probes": [{"type": "http", "port": 8080, "path": "/nope", "expect_status": 200,
                                           "timeout": 3}]}))
    out = tmp_path / "never.tar"
    p = run_imgopt("slim", str(SAMPLE_TAR), "--probe", str(bad), "-q", "-o", str(out))
    assert p.returncode == 1 and "fails its own probes" in p.stderr
    assert not out.exists()
    # minify with an unsatisfiable exclude: the slim image breaks, verification says so
    prof = tmp_path / "prof.json"
    good = tmp_path / "good.yaml"
    good.write_text((SAMPLE_TAR.parent / "sample/probe.yaml").read_text())
    assert run_imgopt("trace", str(SAMPLE_TAR), "--probe", str(good), "-o", str(prof)).returncode == 0
    p = run_imgopt("minify", str(SAMPLE_TAR), "--profile", str(prof), "--probe", str(good), "--exclude",
                   "bin/busybox", "--max-rounds", "2", "-q", "-o", str(out))
    assert p.returncode == 1 and "fails verification" in p.stderr, p.stderr
    assert not out.exists()
    p = run_imgopt("minify", str(SAMPLE_TAR), "--profile", str(prof), "--probe", str(good), "--exclude",
                   "bin/busybox", "--max-rounds", "1", "--force", "-q", "--format", "json", "-o", str(out))
    assert p.returncode == 0 and out.exists()
    with open_image(str(out)) as img:
        assert img.config.labels.get("org.imgopt.verification") == "failed"


@pytest.mark.docker
@pytest.mark.parametrize("codec", ["gzip", "estargz"])
def test_slim_image_through_the_registry(tmp_path, registry, unique, docker_image_cleanup, skopeo, codec):
    """The slim image pushes to the registry, `docker pull` takes it, and it still serves."""
    probes = tmp_path / "p.yaml"
    probes.write_text((SAMPLE_TAR.parent / "sample/probe.yaml").read_text())
    ref = f"{registry}/imgopt-test/slim-{unique}:{codec}"
    p = run_imgopt("slim", str(SAMPLE_TAR), "--probe", str(probes), "--compress", codec, "-q", "--format", "json",
                   "-o", f"docker://{ref}")
    assert p.returncode == 0, p.stderr
    info = json.loads(subprocess.run([skopeo, "inspect", "--tls-verify=false", f"docker://{ref}"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["Digest"] == json.loads(p.stdout)["manifest_digest"]
    pulled = subprocess.run(["docker", "pull", ref], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    docker_image_cleanup.append(ref)
    import yaml

    failures = probe_in_docker(ref, yaml.safe_load(probes.read_text())["probes"])
    assert not failures, failures
