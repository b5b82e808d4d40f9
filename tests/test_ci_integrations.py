"""The CI integrations run as their files say: the GitHub Action's steps (action.yml) and the GitLab
template's script (ci/gitlab/imgopt.gitlab-ci.yml), parsed from the YAML and run with bash against the
sample image -- the same command lines the docs show.  Only the install step (pip of this repository,
already installed here) and the third-party SARIF upload are not run; the files they consume are checked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, ROOT, SAMPLE_TAR

BIN = str(Path(os.sys.executable).parent)
FAILING = "gate:\n  max-junk-class: {apt-archives: 0}\n"


def _workspace(tmp_path: Path, config: str | None) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(FIXTURES / "sample" / "Dockerfile", ws / "Dockerfile")
    (ws / ".git").mkdir()  # the config search stops at the repository root, as in a checkout
    if config:
        (ws / ".imgopt.yaml").write_text(config)
    return ws


def _env(ws: Path, extra: dict) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "IMGOPT_"))}
    e["PATH"] = BIN + os.pathsep + e.get("PATH", "")
    e.update(extra)
    return e


# ------------------------------------------------------------------ GitHub Action


def _expr(text: str, inputs: dict) -> str:
    return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], text)


def _condition(cond: str | None, inputs: dict) -> bool:
    """The action's `if:` forms: inputs.X != '' / inputs.X == 'v', joined by &&."""
    if not cond:
        return True
    for part in cond.split("&&"):
        m = re.fullmatch(r"\s*inputs\.([\w-]+)\s*(==|!=)\s*'([^']*)'\s*", part)
        assert m, f"unsupported condition {part!r}"
        equal = inputs[m.group(1)] == m.group(3)
        if equal != (m.group(2) == "=="):
            return False
    return True


def run_action(tmp_path: Path, config: str | None, **given) -> tuple[dict, Path, dict]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs.update(given)
    ws = _workspace(tmp_path, config)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.touch()
    output.touch()
    results = {}
    for step in action["runs"]["steps"]:
        if not _condition(step.get("if"), inputs):
            results[step["id"]] = "skipped"
            continue
        if "uses" in step:
            assert step["uses"].startswith("github/codeql-action/upload-sarif@")
            results[step["id"]] = _expr(step["with"]["sarif_file"], inputs)
            continue
        if step["id"] == "install":
            assert "GITHUB_ACTION_PATH" in step["run"]  # installs this repository (here: installed already)
            continue
        env = _env(ws, {k: _expr(str(v), inputs) for k, v in step.get("env", {}).items()})
        env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output), GITHUB_ACTION_PATH=str(ROOT))
        p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ws, env=env, capture_output=True, text=True,
                           timeout=600)
        results[step["id"]] = p
        if p.returncode:
            break
    return results, ws, {"summary": summary.read_text(), "output": output.read_text()}


def test_github_action_passes_a_clean_image_and_uploads_lint_sarif(tmp_path):
    results, ws, files = run_action(tmp_path, None, image=f"docker-archive:{SAMPLE_TAR}")
    gate = results["gate"]
    assert results["lint"].returncode == 0 and gate.returncode == 0, gate.stderr
    sarif = json.loads((ws / results["upload"]).read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert "::notice title=imgopt gate::" in gate.stdout and "## imgopt gate" in files["summary"]
    assert files["output"].strip() == "result=imgopt-gate.json"
    assert json.loads((ws / "imgopt-gate.json").read_text())["passed"] is True


def test_github_action_fails_the_job_with_annotations_on_the_dockerfile(tmp_path):
    results, ws, files = run_action(tmp_path, FAILING, image=f"docker-archive:{SAMPLE_TAR}", **{"upload-sarif": "false"})
    gate = results["gate"]
    assert results["upload"] == "skipped" and gate.returncode == 1
    assert re.search(r"^::error file=Dockerfile,line=16,.*::Junk class apt-archives", gate.stdout, re.M), gate.stdout
    assert "❌ fail" in files["summary"] and "max-junk-class.apt-archives" in files["summary"]
    assert json.loads((ws / "imgopt-gate.json").read_text())["passed"] is False  # the baseline for a later run


# ------------------------------------------------------------------ GitLab template


def run_gitlab(tmp_path: Path, config: str | None, variables: dict) -> tuple[list, Path, dict]:
    doc = yaml.safe_load((ROOT / "ci" / "gitlab" / "imgopt.gitlab-ci.yml").read_text())
    job = doc[".imgopt-gate"]
    ws = _workspace(tmp_path, config)
    env = _env(ws, {k: str(v) for k, v in job["variables"].items()})
    env.update(variables)
    codes = []
    for line in job["script"]:
        if "pip install" in line:
            assert "$IMGOPT_PIP" in line
            continue
        p = subprocess.run(["bash", "-c", line], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
        codes.append((line.split()[1], p.returncode, p.stderr))
        if p.returncode:
            break
    return codes, ws, job["artifacts"]


@pytest.mark.parametrize("config, expect", [(None, 0), (FAILING, 1)])
def test_gitlab_template_reports_junit_and_code_quality(tmp_path, config, expect):
    codes, ws, artifacts = run_gitlab(tmp_path, config, {"IMGOPT_IMAGE": f"docker-archive:{SAMPLE_TAR}"})
    assert [(c[0], c[1]) for c in codes] == [("lint", 0), ("gate", expect)], codes
    junit = ET.parse(ws / artifacts["reports"]["junit"]).getroot()
    cases = junit.findall(".//testcase")
    assert cases and len([c for c in cases if c.find("failure") is not None]) == expect
    for path in artifacts["reports"]["codequality"]:
        issues = json.loads((ws / path).read_text())
        assert isinstance(issues, list) and all("fingerprint" in i and "location" in i for i in issues)
    gate_issues = json.loads((ws / "imgopt-gate-quality.json").read_text())
    assert len(gate_issues) == expect and (not expect or gate_issues[0]["location"]["path"] == "Dockerfile")
    assert json.loads((ws / artifacts["paths"][0]).read_text())["schema"] == "imgopt.gate/v1"


def test_gitlab_extra_arguments_reach_the_gate(tmp_path):
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("gate:\n  max-size: 1MB\n")
    codes, ws, _ = run_gitlab(tmp_path, None, {"IMGOPT_IMAGE": f"docker-archive:{SAMPLE_TAR}",
                                               "IMGOPT_GATE_ARGS": f"--config {cfg}"})
    assert codes[-1][:2] == ("gate", 1)
    assert "max-size" in (ws / "imgopt-gate.xml").read_text()
