"""Slim every interpreted app given less than its real use, then check EVERY endpoint in the Docker engine.

The slim run is given only ``GET /`` on the app's port; the full probe
(``fixtures/apps/APP/probe.json``) then hits every endpoint of the slim image
in the engine, independently of imgopt's own verification.  The endpoints
past ``/`` load what ``GET /`` never touches -- a module imported inside a
handler, a template, the tz database, the CA bundle, a gettext catalogue, a
tool run through a script, the encodings a body parser loads on the first
POST, a jar on the manifest's Class-Path -- so only the language closure
keeps them.
"""

from __future__ import annotations

import json

import pytest

from conftest import build_apps, docker_load, probe_in_docker, run_imgopt

CLOSURE_APPS = ["pyweb", "nodeweb", "pynumeric", "javaweb", "pyextra", "rubyweb", "perlweb", "phpweb"]
# the language whose closure must have added files (javaweb: the JDK's HttpServer looks up its provider with
# ServiceLoader at start, which opens every class-path jar, so the trace already has lib/greeting.jar; the Java
# closure is covered by tests/test_closure.py)
LANGUAGE = {"pyweb": "python", "nodeweb": "node", "pynumeric": "python", "javaweb": None, "pyextra": "python",
            "rubyweb": "ruby", "perlweb": "perl", "phpweb": "php"}

# What the slim run is given.  "get-root": a probe file holding only GET / on the app's port.  When
# automatic probing lands, "none" (no --probe at all) joins this list and every test below runs with it too.
GIVEN_PROBES = ["get-root"]


def given_probe(kind: str, app: str, tmp_path) -> list[str]:
    """The slim command's probe arguments for ``kind``."""
    if kind == "none":
        return []
    if kind == "get-root":
        f = tmp_path / "given.json"
        f.write_text(json.dumps({"probes": [{"type": "http", "port": build_apps.APPS[app]["port"], "path": "/",
                                             "expect_status": None, "timeout": 120}]}))
        return ["--probe", str(f)]
    raise ValueError(kind)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("given", GIVEN_PROBES)
@pytest.mark.parametrize("app", CLOSURE_APPS)
def test_every_endpoint_passes_after_a_slim_given_less(app, given, app_archive, tmp_path, docker_image_cleanup):
    full = build_apps.load_probe(app)["probes"]
    assert len(full) > 1, "the full probe must reach more than GET /"
    tag = f"imgopt-test/closure-{app}-{given}:v1"
    out = tmp_path / "slim.tar"
    kept = tmp_path / "kept.json"
    p = run_imgopt("slim", str(app_archive(app)), *given_probe(given, app, tmp_path), "--kept", str(kept),
                   "--format", "json", "-q", "-o", f"docker-archive:{out}:{tag}", timeout=3600)
    assert p.returncode == 0, p.stderr[-3000:]
    rep = json.loads(p.stdout)
    assert rep["verification"]["passed"]
    assert rep["slim"]["compressed_bytes"] < rep["original"]["compressed_bytes"]
    docker_image_cleanup.append(tag)
    docker_load(out)
    failures = probe_in_docker(tag, full)
    assert not failures, failures
    # the audit says why each file is there; the language closure did the work for this app
    doc = json.loads(kept.read_text())
    reasons = {e["category"] for e in doc["kept"]}
    assert "trace" in reasons, reasons
    if LANGUAGE[app]:
        assert f"language closure ({LANGUAGE[app]})" in reasons, reasons
    by_reason = rep["kept_by_reason"]
    assert sum(v["bytes"] for v in by_reason.values()) == sum(e["size"] for e in doc["kept"]
                                                              if e["category"] in by_reason) > 0
    for e in doc["kept"]:
        if e["category"].startswith("language closure"):
            assert " in /" in e["reason"], e  # which file loads it
