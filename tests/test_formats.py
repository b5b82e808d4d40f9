"""The output layer: every renderer in the table exists, every JSON document matches its generated schema."""

from __future__ import annotations

import importlib
import json

import jsonschema
import pytest

from conftest import ROOT, SAMPLE_TAR, run_imgopt
from imgopt import formats

SCHEMAS = ROOT / "docs" / "schema"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.mark.parametrize("kind,fmt", [(k, f) for k, fs in formats.FORMATTERS.items() for f in fs])
def test_every_registered_renderer_imports(kind, fmt):
    module, _, attr = formats.FORMATTERS[kind][fmt].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert formats.Format(fmt)  # every format is one the enum names


def test_unknown_format_is_a_one_line_error():
    from imgopt.errors import BadInput

    with pytest.raises(BadInput, match="not available for analysis"):
        formats.render("analysis", "sarif", object())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {"HOME": str(home), "IMGOPT_CACHE": str(home / "cache"), "IMGOPT_SIMULATE_PROFILES": ""}


def test_inspect_json_matches_its_schema(env):
    doc = json.loads(run_imgopt("inspect", "--format", "json", SAMPLE_TAR, check=True, env=env).stdout)
    jsonschema.validate(doc, _schema("inspect"))
    assert doc["schema"] == "imgopt.inspect/v1" and len(doc["layers"]) == 5


@pytest.mark.parametrize("extra", [[], ["--no-timeline"]], ids=["timeline", "no-timeline"])
def test_simulate_json_matches_its_schema(env, extra):
    p = run_imgopt("simulate", SAMPLE_TAR, "--registry", "vpc,public", "--client", "docker,containerd",
                   "--host", "reference", "--format", "json", *extra, env=env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, _schema("simulate"))
    assert doc["schema"] == "imgopt.simulate/v1" and len(doc["results"]) == 4
    assert all(("timeline" in r) == (not extra) for r in doc["results"])


def test_minify_json_and_removed_list_match_their_schemas(env, tmp_path):
    removed = tmp_path / "removed.json"
    p = run_imgopt("minify", SAMPLE_TAR, "--keep-all", "--verify", "none", "--format", "json",
                   "--removed", removed, "-o", f"oci:{tmp_path / 'slim'}:slim", env=env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, _schema("minify"))
    assert doc["schema"] == "imgopt.minify/v1" and doc["verification"] is None
    assert doc["slim"]["files"] == doc["original"]["files"]  # --keep-all removes nothing
    rem = json.loads(removed.read_text())
    jsonschema.validate(rem, _schema("removed"))
    assert rem["schema"] == "imgopt.removed/v1" and rem["removed"] == []


def test_a_schema_rejects_what_the_type_does_not_have():
    doc = json.loads(run_imgopt("inspect", "--format", "json", SAMPLE_TAR, check=True).stdout)
    doc["layers"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema("inspect"))
