"""The library under the commands: ``imgopt.<pipeline>(...)`` returns what the command prints."""

from __future__ import annotations

import json

import pytest

import imgopt
from conftest import SAMPLE_TAR, run_imgopt
from imgopt.minify import MinifyOptions
from imgopt.minify.pipeline import SlimOptions

SAMPLE = str(SAMPLE_TAR)
PROBE = SAMPLE_TAR.parent / "sample" / "probe.yaml"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {"HOME": str(home), "IMGOPT_CACHE": str(home / "cache"), "IMGOPT_SIMULATE_PROFILES": ""}


def _cli_json(*args, env=None) -> dict:
    p = run_imgopt(*args, "--format", "json", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_inspect_and_analyze_return_the_commands_documents():
    assert imgopt.inspect(SAMPLE).to_json() == _cli_json("inspect", SAMPLE)
    from imgopt.analyze import AnalyzeOptions

    assert imgopt.analyze(SAMPLE, AnalyzeOptions(top=5)).to_json() == _cli_json("analyze", "--top", "5", SAMPLE)


def test_an_open_image_is_used_as_it_is():
    from imgopt.image.transports import open_image

    with open_image(SAMPLE) as img:
        a = imgopt.analyze(img)
        b = imgopt.inspect(img)
        assert img.layers[0].open_blob().read(1)  # still open: the pipeline did not close the caller's image
    assert a.image.manifest_digest == b.manifest_digest == img.digest


def test_simulate_with_profile_names(env, monkeypatch):
    from imgopt.simulate.api import SimulateOptions

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    res = imgopt.simulate(SAMPLE, SimulateOptions(registries=["vpc"], clients=["docker", "containerd"],
                                                  host="reference"))
    cli = _cli_json("simulate", SAMPLE, "--registry", "vpc", "--client", "docker,containerd", "--host", "reference",
                    env=env)
    assert res.to_json() == cli


def test_minify_and_copy(tmp_path):
    out = f"oci:{tmp_path / 'slim'}:v1"
    res = imgopt.minify(SAMPLE, None, SlimOptions(output=out, minify=MinifyOptions(keep_all=True), verify=[]))
    cli = _cli_json("minify", SAMPLE, "--keep-all", "--verify", "none", "-o", f"oci:{tmp_path / 'slim2'}:v1")
    assert res.manifest_digest == cli["manifest_digest"]  # deterministic: the same pipeline
    assert res.slim.files == res.original.files and res.verification is None
    copied = imgopt.copy(out, f"docker-archive:{tmp_path / 'c.tar'}:slim:v1")
    assert copied.layers == res.slim.layers and (tmp_path / "c.tar").is_file()
    assert imgopt.inspect(str(tmp_path / "c.tar")).config_digest == imgopt.inspect(out).config_digest


def test_trace_and_slim_natively(tmp_path):
    from imgopt.trace import TraceOptions, load_probes

    probes = load_probes(str(PROBE))
    t = imgopt.trace(SAMPLE, TraceOptions(backend="native"), probes=probes, output=str(tmp_path / "p.json"))
    assert t.passed and t.profile_path == str(tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text()) == t.to_json()
    s = imgopt.slim(SAMPLE, SlimOptions(output=f"oci:{tmp_path / 'slim'}:v1", probes=probes))
    assert s.verification is not None and s.verification.passed
    assert s.slim.files < s.original.files


def test_forced_image_is_marked_through_the_mutate_helpers(tmp_path):
    from imgopt.image.transports import open_image
    from imgopt.minify.pipeline import UNVERIFIED_LABEL, mark_unverified

    with open_image(SAMPLE) as img:
        marked = mark_unverified(img)
        assert marked.config.labels == {**img.config.labels, UNVERIFIED_LABEL: "failed"}
        assert marked.config.raw["history"][:-1] == img.config.raw["history"]
        assert "FAILED verification" in marked.config.raw["history"][-1]["created_by"]
        assert [l.digest for l in marked.layers] == [l.digest for l in img.layers]
        assert marked.manifest.config.digest == marked.config_digest != img.config_digest
        res = imgopt.copy(marked, f"oci:{tmp_path / 'm'}:m")
    with open_image(f"oci:{tmp_path / 'm'}:m") as back:  # a valid image: digests check out when read back
        assert back.config.labels[UNVERIFIED_LABEL] == "failed" and back.digest == res.manifest_digest
