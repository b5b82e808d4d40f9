"""imgopt trace on every real application image, in both backends, checked the hard way.

For each app (built by fixtures/build_apps.py) and backend: the trace must
pass the app's own probes and record the files we know it needs; then a
rootfs holding only the traced paths (plus their parents) must pass the same
probes — natively for the native profile, and as a real image in the engine
(``docker import`` of that rootfs with the original config) for the docker
profile.  A file the app needs but the trace missed fails this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from imgopt.image.transports import open_image
from imgopt.trace import TraceOptions, parse_probes, trace_image
from imgopt.trace.profile import traced_paths
from test_trace_helpers import build_apps, slim_passes

pytestmark = [pytest.mark.slow, pytest.mark.docker]

# files each app is known to need (a few per app; the slim check covers the rest)
EXPECTED = {
    "pyweb": ["/app/wsgi.py", "/app/templates/index.html", "/opt/venv/bin/gunicorn", "/usr/bin/python3.11",
              "/opt/venv/lib/python3.11/site-packages/flask/__init__.py"],
    "nodeweb": ["/app/server.js", "/app/node_modules/express/index.js", "/usr/bin/node"],
    "nginx": ["/etc/nginx/nginx.conf", "/etc/nginx/sites-enabled/imgopt", "/etc/nginx/sites-available/imgopt",
              "/var/www/imgopt/index.html", "/usr/sbin/nginx"],
    "ffmpegjob": ["/usr/local/bin/transcode.sh", "/usr/bin/bash", "/usr/bin/ffmpeg", "/usr/bin/ffprobe"],
    "pynumeric": ["/srv/app/server.py", "/usr/local/lib/python3.11/dist-packages/numpy/__init__.py",
                  "/usr/local/lib/python3.11/dist-packages/sklearn/__init__.py"],
    "javaweb": ["/opt/app/app.jar", "/usr/lib/jvm/java-17-openjdk-amd64/lib/modules",
                "/etc/java-17-openjdk/security/java.security"],
    "pytorch": ["/workspace/server.py", "/usr/local/lib/python3.11/dist-packages/torch/__init__.py",
                "/usr/local/lib/python3.11/dist-packages/torch/lib/libtorch_cpu.so"],
}
APPS = list(EXPECTED)


def _probes(app: str):
    return parse_probes(build_apps.load_probe(app), f"{app} probe")


@pytest.fixture(scope="module", params=APPS)
def app(request, docker_client):
    name = request.param
    return name, build_apps.ensure_app(name)


def _check_profile(name: str, res) -> None:
    p = res.profile
    assert res.passed, f"{name}: {res.failure}\n{res.output[-3000:]}"
    files = {f.path: f for f in p.files}
    for path in EXPECTED[name]:
        assert path in files and files[path].exists, f"{name}: {path} not in the profile"
    assert p.ready_time is not None and p.ready_time > 0
    assert all(f.first_access <= p.duration + 1 for f in p.files)
    assert p.processes and p.processes[0].ppid is None
    if build_apps.APPS[name]["kind"] == "job":
        assert p.exit_code == 0
    if name == "nginx":  # master (root) + workers (www-data), all followed
        assert len(p.processes) >= 2
    if name == "pyweb":  # gunicorn master + 2 workers
        assert len(p.processes) >= 3


def _docker_changes(cfg) -> list[str]:
    ch = []
    if cfg.entrypoint:
        ch.append("ENTRYPOINT " + json.dumps(cfg.entrypoint))
    if cfg.cmd:
        ch.append("CMD " + json.dumps(cfg.cmd))
    for e in cfg.env:
        k, _, v = e.partition("=")
        ch.append(f"ENV {k}={json.dumps(v) if (' ' in v or not v) else v}")
    if cfg.workdir:
        ch.append(f"WORKDIR {cfg.workdir}")
    if cfg.user:
        ch.append(f"USER {cfg.user}")
    for port in cfg.exposed_ports:
        ch.append(f"EXPOSE {port}")
    return ch


def _slim_in_docker(img, profile, probes, tmp_path, client):
    """A real image made of only the traced paths, run in the engine by the docker backend."""
    from imgopt.image.unpack import unpack

    keep = traced_paths(profile)
    root = tmp_path / "slim-root"
    unpack(img, str(root), keep=lambda p: p in keep)
    tag = f"imgopt-test/slim-{uuid.uuid4().hex[:10]}:latest"
    args = ["docker", "import"]
    for c in _docker_changes(img.config):
        args += ["--change", c]
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(args + ["-", tag], stdin=tar.stdout, check=True, capture_output=True, timeout=900)
    finally:
        tar.wait()
        shutil.rmtree(root, ignore_errors=True)
    try:
        with open_image(f"docker-daemon:{tag}") as slim:
            return trace_image(slim, probes, TraceOptions(backend="docker", scratch_dir=str(tmp_path)))
    finally:
        client.images.remove(tag, force=True)


def test_native_profile_is_complete(app, tmp_path):
    name, archive = app
    with open_image(str(archive)) as img:
        res = trace_image(img, _probes(name), TraceOptions(backend="native", scratch_dir=str(tmp_path)))
        _check_profile(name, res)
        slim = slim_passes(img, res.profile, _probes(name), TraceOptions(backend="native", scratch_dir=str(tmp_path)),
                           tmp_path)
    assert slim.passed, f"{name}: slim rootfs failed: {slim.failure}; new failed lookups: " \
                        f"{sorted(set(slim.missing) - set(res.missing))[:30]}\n{slim.output[-2000:]}"
    assert not [p for p in os.listdir(tmp_path) if p.startswith("imgopt-trace-")]


def test_docker_profile_is_complete(app, tmp_path, docker_client):
    name, archive = app
    with open_image(str(archive)) as img:
        res = trace_image(img, _probes(name), TraceOptions(backend="docker", scratch_dir=str(tmp_path)))
        _check_profile(name, res)
        slim = _slim_in_docker(img, res.profile, _probes(name), tmp_path, docker_client)
    assert slim.passed, f"{name}: slim image failed in docker: {slim.failure}\n{slim.output[-2000:]}"
    assert not [c for c in docker_client.containers.list(all=True) if c.name.startswith("imgopt-trace-")]
