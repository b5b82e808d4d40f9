"""``imgopt lint`` as users run it: exit codes, standard input, many files, hadolint's options and
configuration files, every output format (SARIF validated against the official 2.1.0 schema), and
what the command does not import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from imgopt.lint.cli import OPTIONS, parse_fast

HERE = Path(__file__).parent
IMGOPT = str(Path(sys.executable).parent / "imgopt")
SCHEMA = json.loads((HERE / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text())
SUBSET = sorted((HERE / "data" / "dockerfiles").glob("[0-9]*"))

BAD = "FROM debian\nRUN apt-get update && apt-get install -y curl\nCMD node app.js\n"


def run(*args, stdin=None, cwd=None, env=None):
    e = dict(os.environ, NO_COLOR="1", XDG_CONFIG_HOME=str(cwd or HERE), HOME=str(cwd or HERE))
    e.update(env or {})
    return subprocess.run([IMGOPT, "lint", *args], input=stdin, capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=120)


@pytest.fixture()
def proj(tmp_path):
    (tmp_path / "Dockerfile").write_text(BAD)
    (tmp_path / "ok.Dockerfile").write_text("FROM debian:12.5-slim\nCMD [\"true\"]\n")
    return tmp_path


def test_exit_codes_and_tty(proj):
    r = run("Dockerfile", cwd=proj)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == "Dockerfile:1 DL3006 warning: Always tag the version of an image explicitly"
    assert any(l.startswith("Dockerfile:2 IMG104 warning: apt lists left in the layer") for l in lines)
    assert run("ok.Dockerfile", cwd=proj).returncode == 0
    assert run("--no-fail", "Dockerfile", cwd=proj).returncode == 0
    assert run("-t", "error", "Dockerfile", cwd=proj).returncode == 0  # nothing at error level
    assert run("--failure-threshold", "warning", "Dockerfile", cwd=proj).returncode == 1
    assert run(cwd=proj).returncode == 1  # no argument: ./Dockerfile


def test_unreadable_input_is_one_line_and_exit_2(proj):
    r = run("Dockerfile", "missing", cwd=proj)
    assert r.returncode == 2 and r.stdout == "" and r.stderr == "imgopt: error: missing: no such file\n"
    (proj / "dir").mkdir()
    assert run("dir", cwd=proj).stderr == "imgopt: error: dir: is a directory, not a Dockerfile\n"
    (proj / "bin").write_bytes(b"\x7fELF\0\0\0")
    assert run("bin", cwd=proj).returncode == 2
    empty = proj / "empty"
    empty.mkdir()
    assert run(cwd=empty).returncode == 2


def test_stdin_and_many_files(proj):
    r = run("-", stdin=BAD, cwd=proj)
    assert r.returncode == 1 and r.stdout.startswith("-:1 DL3006")
    r = run("-", "--file-path-in-report", "docker/Dockerfile", stdin=BAD, cwd=proj)
    assert r.stdout.startswith("docker/Dockerfile:1 DL3006")
    r = run("-f", "json", *map(str, SUBSET), cwd=proj)
    doc = json.loads(r.stdout)
    assert {d["file"] for d in doc} == {str(p) for p in SUBSET}
    assert all(list(d) == ["code", "column", "file", "level", "line", "message"] for d in doc)  # hadolint's shape


def test_hadolint_options(proj):
    r = run("-f", "json", "--ignore", "DL3006", "--error", "DL3008", "--style", "IMG104", "Dockerfile", cwd=proj)
    got = {(d["code"], d["level"]) for d in json.loads(r.stdout)}
    assert ("DL3008", "error") in got and ("IMG104", "style") in got and not any(c == "DL3006" for c, _ in got)
    r = run("-f", "json", "--trusted-registry", "registry.example.com", "--require-label", "version:semver",
            "--strict-labels", "Dockerfile", cwd=proj)
    codes = {d["code"] for d in json.loads(r.stdout)}
    assert {"DL3026", "DL3049"} <= codes
    assert run("--require-label", "version:nonsense", "Dockerfile", cwd=proj).returncode == 2
    r = run("-f", "nope", "Dockerfile", cwd=proj)
    assert r.returncode == 2 and "Invalid value for '-f'" in r.stderr  # click's message
    assert "Usage: imgopt lint" in run("--help", cwd=proj).stdout


def test_imgopt_yaml_pyproject_and_hadolint_yaml(proj):
    def found():
        return {d["code"]: d["level"] for d in json.loads(run("-f", "json", "Dockerfile", cwd=proj).stdout)}

    (proj / ".hadolint.yaml").write_text("ignored: [DL3006]\noverride:\n  error: [DL3008]\nfailure-threshold: error\n")
    got = found()
    assert "DL3006" not in got and got["DL3008"] == "error"
    assert run("Dockerfile", cwd=proj).returncode == 1
    (proj / ".imgopt.yaml").write_text("lint:\n  ignored: [IMG104]\n  override: {info: [DL3008]}\n")
    got = found()
    assert "IMG104" not in got and got["DL3008"] == "info" and "DL3006" not in got  # both files, imgopt's last
    assert run("Dockerfile", cwd=proj).returncode == 0  # threshold error from .hadolint.yaml
    (proj / ".imgopt.yaml").unlink()
    (proj / "pyproject.toml").write_text('[tool.imgopt.lint]\nignored = ["DL3025"]\n')
    assert "DL3025" not in found()
    r = run("--config", str(proj / ".hadolint.yaml"), "-V", "Dockerfile", cwd=proj)
    assert ".hadolint.yaml" in r.stderr
    (proj / "broken.yaml").write_text("lint: [1, 2\n")
    r = run("--config", "broken.yaml", "Dockerfile", cwd=proj)
    assert r.returncode == 2 and r.stderr.startswith("imgopt: error: broken.yaml: not valid YAML")
    (proj / "bad.yaml").write_text("lint:\n  ignord: [DL3006]\n")
    assert "unknown lint setting 'ignord'" in run("--config", "bad.yaml", "Dockerfile", cwd=proj).stderr
    r = run("Dockerfile", cwd=proj, env={"HADOLINT_IGNORE": "DL3008,DL3009", "HADOLINT_NOFAIL": "1"})
    assert r.returncode == 0 and "DL3008" not in r.stdout


def test_formats(proj, tmp_path):
    for fmt in ("tty", "json", "sarif", "checkstyle", "junit", "gnu", "codeclimate", "gitlab_codeclimate",
                "markdown"):
        out = tmp_path / f"out.{fmt}"
        r = run("-f", fmt, "-o", str(out), "Dockerfile", "ok.Dockerfile", cwd=proj)
        assert r.returncode == 1 and r.stdout == "", fmt
        text = out.read_text()
        if fmt == "sarif":
            doc = json.loads(text)
            jsonschema.validate(doc, SCHEMA)
            run_ = doc["runs"][0]
            ids = [d["id"] for d in run_["tool"]["driver"]["rules"]]
            assert ids == sorted(set(r["ruleId"] for r in run_["results"]))
            rule = run_["tool"]["driver"]["rules"][ids.index("DL3008")]
            assert rule["helpUri"].endswith("lint-rules.md#dl3008") and rule["defaultConfiguration"]["level"] == "warning"
            assert all(r_["ruleIndex"] == ids.index(r_["ruleId"]) for r_ in run_["results"])
        elif fmt in ("checkstyle", "junit"):
            root = ET.fromstring(text)
            errors = root.findall(".//error") if fmt == "checkstyle" else root.findall(".//failure")
            assert len(errors) == len(json.loads(run("-f", "json", "Dockerfile", cwd=proj).stdout))
            assert len(root.findall(".//file" if fmt == "checkstyle" else ".//testsuite")) == 2
        elif fmt in ("codeclimate", "gitlab_codeclimate"):
            issues = json.loads(text)
            assert {i["severity"] for i in issues} <= {"blocker", "major", "minor", "info"}
            assert len({i["fingerprint"] for i in issues}) == len(issues)
        elif fmt == "gnu":
            assert text.splitlines()[0] == "imgopt:Dockerfile:1:1: DL3006 warning: Always tag the version of an image explicitly"
        elif fmt == "markdown":
            assert text.startswith("**") and "| Dockerfile | 1 | [DL3006](" in text


def test_sarif_of_the_corpus_subset_is_valid():
    r = subprocess.run([IMGOPT, "lint", "--no-fail", "-f", "sarif", *map(str, SUBSET)], capture_output=True,
                       text=True, timeout=120)
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["runs"][0]["results"]) > 100


def test_colour_only_on_a_terminal(proj):
    from imgopt.formats import RenderOptions, renderer
    from imgopt.lint import lint_paths
    from imgopt.lint.config import LintConfig

    res = lint_paths([str(proj / "Dockerfile")], LintConfig(shellcheck=False))
    assert "\033[1;33mwarning\033[0m" in renderer("lint", "tty")(res, RenderOptions(color=True))
    assert "\033[" not in run("Dockerfile", cwd=proj).stdout  # not a terminal


@pytest.mark.parametrize("argv", [
    ["Dockerfile"], ["-f", "json", "-o", "x", "a", "b"], ["--format=sarif", "--ignore", "DL3006", "--ignore=X"],
    ["-fjson", "--no-fail", "-t", "warning", "--", "-weird-name"], ["--trusted-registry", "r.io", "-V", "-"],
    ["--require-label", "a:url", "--strict-labels", "--disable-ignore-pragma", "--file-path-in-report", "p"],
])
def test_fast_parser_agrees_with_click(argv):
    """imgopt.entry parses lint's options without click; it must read them as click does."""
    import click

    from imgopt.lint.cli import lint

    ctx = lint.make_context("lint", list(argv))
    fast = parse_fast(list(argv))
    assert fast is not None
    for k, v in ctx.params.items():
        assert (tuple(v) if isinstance(v, (list, tuple)) else v) == fast[k], k
    assert set(ctx.params) == set(fast)
    for bad in (["--help"], ["-f", "nope"], ["--unknown"], ["--no-fail=1"], ["-o"]):
        assert parse_fast(bad) is None
    assert isinstance(click.Command, type) and len(OPTIONS) == 18


def test_lint_does_not_import_the_image_stack(proj):
    """Start-up: a lint run loads neither click nor docker, networkx, zstandard, requests, yaml or the image
    stack (the simulator profiles come from the pull-rate cache)."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['imgopt', 'lint', '--no-fail', 'Dockerfile']\n"
        "from imgopt.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('docker', 'networkx', 'zstandard', 'requests', 'yaml',"
        " 'click', 'isal', 'zlib_ng', 'elftools', 'jinja2', 'tabulate') or m.startswith(('imgopt.image', "
        "'imgopt.analyze', 'imgopt.trace', 'imgopt.minify', 'imgopt.simulate.engine', 'imgopt.simulate.model'))]\n"
        "print('BAD', bad)\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(proj / "cache"))
    first = subprocess.run([sys.executable, "-c", code], cwd=proj, capture_output=True, text=True, env=env)
    assert "IMG104" in first.stdout
    second = subprocess.run([sys.executable, "-c", code], cwd=proj, capture_output=True, text=True, env=env)
    assert second.stdout.strip().endswith("BAD []"), second.stdout  # the cache filled by the first run
    assert (proj / "cache" / "imgopt" / "pull-rates.json").is_file()
