"""imgopt gate: configuration errors, every threshold on real images, dive's rules against dive itself,
a baseline regression, and the output formats.

Real images: the committed sample, the real application images of fixtures/build_apps.py, and two
variants built here FROM the pyweb image (one deletes the apt lists in a later layer: exact waste;
one adds a 20 MB blob, a .git directory and a MAINTAINER line: growth, a new junk class, a new lint
error).  Figures the gate measures are checked against independent measurements (the archive's own
layer tars, `du` in a container, `imgopt simulate`, dive, `imgopt lint`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import APP_NAMES, FIXTURES, ROOT, SAMPLE_TAR, run_imgopt

DIVE = shutil.which("dive") or str(Path(os.sys.executable).parent / "dive")
SAMPLE_DF = FIXTURES / "sample" / "Dockerfile"


def gate(*args, cwd=None, env=None):
    """Run the real `imgopt gate` process: (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("GITHUB_STEP_SUMMARY", None)
    e.update(env or {})
    p = subprocess.run([str(Path(os.sys.executable).parent / "imgopt"), "gate", *map(str, args)],
                       capture_output=True, text=True, cwd=cwd or ROOT, env=e, timeout=1800)
    return p.returncode, p.stdout, p.stderr


def gate_json(*args, **kw) -> tuple[int, dict]:
    code, out, err = gate(*args, "--format", "json", **kw)
    assert code in (0, 1), err
    return code, json.loads(out)


def config(tmp_path: Path, gate_section: dict, name: str = ".imgopt.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"gate": gate_section}))
    return p


def check(doc: dict, cid: str) -> dict:
    found = [c for c in doc["checks"] if c["id"] == cid]
    assert found, f"no check {cid}: {[c['id'] for c in doc['checks']]}"
    return found[0]


def layer_tar_sizes(archive: Path) -> list[int]:
    """Independent of imgopt: each layer tar's size in a docker-save archive, in manifest order."""
    import posixpath

    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))[0]
        out = []
        for p in manifest["Layers"]:
            m = t.getmember(p)
            while m.issym():  # docker save links a layer identical to another to that layer's tar
                m = t.getmember(posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname)))
            out.append(m.size)
        return out


# ------------------------------------------------------------------ configuration errors (exit 2)


@pytest.mark.parametrize("section, key", [
    ({"max-size": "5 XB"}, "gate.max-size"),
    ({"max-sizes": "5MB"}, "gate.max-sizes"),
    ({"max-junk-class": {"apt-listz": 0}}, "gate.max-junk-class.apt-listz"),
    ({"max-exact-waste": {"percent": 10, "flor": "1MB"}}, "gate.max-exact-waste.flor"),
    ({"max-exact-waste": {"floor": "1MB"}}, "gate.max-exact-waste"),
    ({"lowest-efficiency": 1.5}, "gate.lowest-efficiency"),
    ({"max-cold-start": {"registry": "public", "seconds": "fast"}}, "gate.max-cold-start.seconds"),
    ({"max-lint": "fatal"}, "gate.max-lint"),
    ({"max-layers": 2.5}, "gate.max-layers"),
])
def test_a_bad_configuration_is_one_line_naming_the_key_and_exit_2(tmp_path, section, key):
    cfg = config(tmp_path, section)
    code, out, err = gate(SAMPLE_TAR, "-c", cfg)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgopt: error: ") and key in lines[0], err


def test_bad_input_is_exit_2(tmp_path):
    code, _, err = gate(tmp_path / "nope.tar")
    assert code == 2 and "imgopt: error:" in err
    bad = tmp_path / "base.json"
    bad.write_text('{"schema": "something/v9"}')
    code, _, err = gate(SAMPLE_TAR, "--baseline", bad)
    assert code == 2 and "not a baseline" in err
    cfg = config(tmp_path, {"max-cold-start": {"registry": "public", "client": "lazy", "seconds": 5}})
    code, _, err = gate(SAMPLE_TAR, "-c", cfg)
    assert code == 2 and "--profile" in err and "max-cold-start" in err


def test_sizes_parse_like_dive_and_reject_what_is_not_one():
    from imgopt.config import parse_size
    from imgopt.errors import BadInput

    assert parse_size("500MB", "k") == 500_000_000 and parse_size("1.5GiB", "k") == 3 * 2 ** 29
    assert parse_size("300MiB", "k") == 300 * 2 ** 20 and parse_size("19Mb", "k") == 19_000_000  # dive's .dive-ci
    assert parse_size("1,000 kB", "k") == 1_000_000 and parse_size(42, "k") == 42
    for bad in ("5XB", "-1MB", "", "MB", True, "1.2.3GB", "1e3kB"):
        with pytest.raises(BadInput, match="^gate.x: not a size"):
            parse_size(bad, "gate.x")


# ------------------------------------------------------------------ zero configuration


def test_zero_configuration_passes_a_small_image_with_a_few_kb_of_waste(tmp_path):
    """The sample hides 2.2 MB (42 % of its bytes): over the default 10 %, under the 10 MB floor."""
    code, doc = gate_json(SAMPLE_TAR, cwd=tmp_path)
    assert code == 0 and doc["passed"] and doc["config"] is None
    w = check(doc, "max-exact-waste")
    assert w["status"] == "pass" and w["source"] == "default" and "floor" in w["summary"]
    assert w["measured"] > 0.4 * sum(layer_tar_sizes(SAMPLE_TAR)) * 0.9  # the waste is real, not zero
    assert check(doc, "max-size")["status"] == "info"


# ------------------------------------------------------------------ every threshold on every real app


@pytest.fixture(scope="session")
def apps(app_archive):
    return {name: app_archive(name) for name in APP_NAMES}


def _du_in_container(name: str, path: str) -> int:
    """Bytes of regular files under ``path`` in the app's image, counted by `find` in a container."""
    p = subprocess.run(["docker", "run", "--rm", "--pull", "never", "--network", "none", "--entrypoint", "/bin/sh",
                        f"imgopt-fixture/{name}:latest", "-c",
                        f"find {path} -type f ! -name lock -printf '%s\\n' | awk '{{s+=$1}} END {{print s+0}}'"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("name", APP_NAMES)
def test_gate_on_every_real_app(apps, name, tmp_path):
    archive = apps[name]
    dockerfile = FIXTURES / "apps" / name / "Dockerfile"
    sizes = layer_tar_sizes(archive)
    total = sum(sizes)
    # at the measured size and layer count: pass; one byte / one layer under: fail, naming the largest layer
    cfg = config(tmp_path, {"max-size": total, "max-layers": len(sizes), "max-compressed-size": total})
    code, doc = gate_json(archive, "-c", cfg, "--dockerfile", dockerfile)
    assert code == 0, [c for c in doc["checks"] if c["status"] == "fail"]
    assert check(doc, "max-size")["measured"] == total
    cfg = config(tmp_path, {"max-size": total - 1, "max-layers": len(sizes) - 1,
                            "max-junk-class": {"apt-lists": 0}, "max-junk": "1GB"})
    code, doc = gate_json(archive, "-c", cfg, "--dockerfile", dockerfile)
    assert code == 1 and not doc["passed"]
    size = check(doc, "max-size")
    assert size["status"] == "fail" and size["limit"] == total - 1
    biggest = max(range(len(sizes)), key=lambda i: sizes[i])
    assert size["locations"][0]["layer"] == biggest
    assert check(doc, "max-layers")["status"] == "fail" and check(doc, "max-junk")["status"] == "pass"
    # every app ran `apt-get update` without cleaning the lists: the failure names that RUN line
    apt = check(doc, "max-junk-class.apt-lists")
    assert apt["status"] == "fail"
    assert abs(apt["measured"] - _du_in_container(name, "/var/lib/apt/lists")) <= 0.01 * apt["measured"]
    line = apt["locations"][0]["line"]
    assert dockerfile.read_text().splitlines()[line - 1].startswith("RUN apt-get update")
    assert "rm -rf /var/lib/apt/lists" in apt["command"] and "DL3009" in apt["advice"]


@pytest.mark.slow
@pytest.mark.docker
def test_cold_start_limit_is_the_simulators_prediction(apps, tmp_path):
    archive = apps["nginx"]
    sim = run_imgopt("simulate", archive, "--registry", "public", "--client", "docker", "--format", "json",
                     check=True)
    total = json.loads(sim.stdout)["results"][0]["total_s"]
    for limit, expect in ((total + 0.5, 0), (max(total - 0.5, 0.01), 1)):
        cfg = config(tmp_path, {"max-cold-start": [{"registry": "public", "client": "docker", "seconds": limit}]})
        code, doc = gate_json(archive, "-c", cfg, "--dockerfile", FIXTURES / "apps" / "nginx" / "Dockerfile")
        c = check(doc, "max-cold-start.public.docker")
        assert code == expect and c["measured"] == pytest.approx(total, abs=1e-3)
        if expect:  # names the layers that take the critical path, tied to Dockerfile lines
            assert c["locations"] and all(loc["line"] for loc in c["locations"])


@pytest.mark.slow
@pytest.mark.docker
def test_max_lint_agrees_with_imgopt_lint(apps, tmp_path):
    dockerfile = FIXTURES / "apps" / "pytorch" / "Dockerfile"
    lint = run_imgopt("lint", "-f", "json", "-t", "warning", dockerfile)
    at_warning = [f for f in json.loads(lint.stdout) if f["level"] in ("error", "warning")]
    assert lint.returncode == 1 and at_warning
    code, doc = gate_json(apps["pytorch"], "-c", config(tmp_path, {"max-lint": "warning"}), "--dockerfile",
                          dockerfile)
    c = check(doc, "max-lint")
    assert code == 1 and c["status"] == "fail" and c["measured"] == len(at_warning)
    assert {loc["line"] for loc in c["locations"]} == {f["line"] for f in at_warning}
    code, doc = gate_json(apps["pytorch"], "-c", config(tmp_path, {"max-lint": "error"}), "--dockerfile",
                          dockerfile)
    errors = [f for f in at_warning if f["level"] == "error"]
    assert check(doc, "max-lint")["status"] == ("fail" if errors else "pass")


# ------------------------------------------------------------------ dive's rules, against dive itself


def _dive_ci(archive: Path, ci_file: Path) -> dict[str, str]:
    """dive --ci's verdict per rule (PASS / FAIL / SKIP)."""
    p = subprocess.run([DIVE, "--source", "docker-archive", str(archive), "--ci-config", str(ci_file)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "CI": "true"})
    text = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout + p.stderr)
    out = {m.group(2): m.group(1) for m in re.finditer(r"(PASS|FAIL|SKIP)\s*:?\s+(\w+)", text)}
    assert out, text[-2000:]
    assert (p.returncode == 1) == ("FAIL" in out.values()), text[-1000:]
    return out


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("name", ["pyweb", "javaweb"])
def test_dive_ci_file_gives_dives_verdicts(apps, name, tmp_path):
    from conftest import dive_json

    archive = apps[name]
    figures = dive_json(archive, tmp_path)["image"]
    eff, wasted = figures["efficiencyScore"], figures["inefficientBytes"]
    user = wasted / sum(l for l in layer_tar_sizes(archive)[1:])  # dive: wasted / sizes above layer 0 (~)
    cases = [
        {"lowestEfficiency": round(eff + 0.0005, 4), "highestWastedBytes": f"{wasted + 1000}B",
         "highestUserWastedPercent": round(user * 0.5, 4)},
        {"lowestEfficiency": round(eff - 0.0005, 4), "highestWastedBytes": f"{max(wasted - 1000, 0)}",
         "highestUserWastedPercent": round(user * 2, 4)},
        {"lowestEfficiency": "disabled", "highestWastedBytes": "1MB"},  # the third gets dive's default 0.1
    ]
    for rules in cases:
        ci = tmp_path / ".dive-ci"
        ci.write_text(yaml.safe_dump({"rules": rules}))
        theirs = _dive_ci(archive, ci)
        code, doc = gate_json(archive, "--dive-ci", ci, cwd=tmp_path)
        ours = {c["id"]: c["status"] for c in doc["checks"]}
        for key, camel in (("lowest-efficiency", "lowestEfficiency"), ("highest-wasted-bytes", "highestWastedBytes"),
                           ("highest-user-wasted-percent", "highestUserWastedPercent")):
            want = theirs.get(camel, "SKIP")  # dive marks a disabled rule "(skip)" / "SKIP"
            if want == "SKIP":
                assert key not in ours, (rules, key, theirs, ours)
            else:
                assert ours[key].upper() == want, (rules, key, theirs, ours)
        assert code == (1 if "FAIL" in theirs.values() else 0)
        assert sum(v == "FAIL" for v in theirs.values()) >= (1 if rules is cases[0] else 0)
        assert doc["dive_ci"] == str(ci)
        # ./.dive-ci is read without --dive-ci, as dive reads it
        code2, doc2 = gate_json(archive, cwd=tmp_path)
        assert code2 == code and doc2["dive_ci"] == ".dive-ci"


# ------------------------------------------------------------------ variants: waste, growth, new junk, new lint


@pytest.fixture(scope="session")
def variants(apps, tmp_path_factory):
    """Two images built FROM the cached pyweb image (tags unique to this run, removed afterwards)."""
    from imgopt.image.transports import open_image

    base_archive = apps["pyweb"]
    with open_image(f"docker-archive:{base_archive}") as img:
        image_id = img.config_digest
    subprocess.run(["docker", "load", "-i", str(base_archive)], check=True, capture_output=True)
    tag = uuid.uuid4().hex[:10]
    base_tag = f"imgopt-gate-test/pyweb-base:{tag}"
    subprocess.run(["docker", "tag", image_id, base_tag], check=True, capture_output=True)
    root = tmp_path_factory.mktemp("variants")
    made = {}
    specs = {
        "waste": f"FROM {base_tag}\nRUN rm -rf /var/lib/apt/lists/*\n",
        "grown": f"FROM {base_tag}\nMAINTAINER someone@example.com\nCOPY blob.bin /opt/blob.bin\n"
                 "COPY git/ /app/.git/\n",
    }
    tags = [base_tag]
    try:
        for name, text in specs.items():
            ctx = root / name
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(text)
            (ctx / "blob.bin").write_bytes(os.urandom(20_000_000))
            (ctx / "git" / "objects").mkdir(parents=True)
            (ctx / "git" / "HEAD").write_text("ref: refs/heads/main\n")
            (ctx / "git" / "objects" / "pack.pack").write_bytes(os.urandom(2_000_000))
            t = f"imgopt-gate-test/pyweb-{name}:{tag}"
            subprocess.run(["docker", "build", "-q", "-t", t, str(ctx)], check=True, capture_output=True,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=600)
            tags.append(t)
            out = root / f"{name}.tar"
            subprocess.run(["docker", "save", "-o", str(out), t], check=True, capture_output=True, timeout=600)
            made[name] = (out, ctx / "Dockerfile")
        yield made
    finally:
        for t in tags:
            subprocess.run(["docker", "rmi", "-f", t], capture_output=True)


@pytest.mark.slow
@pytest.mark.docker
def test_exact_waste_fails_by_default_naming_the_layer_that_stores_and_the_line_that_hides(apps, variants,
                                                                                           tmp_path):
    archive, dockerfile = variants["waste"]
    code, doc = gate_json(archive, "--dockerfile", dockerfile, cwd=tmp_path)
    w = check(doc, "max-exact-waste")
    _, base = gate_json(apps["pyweb"], cwd=tmp_path)
    before = check(base, "max-exact-waste")
    lists = _du_in_container("pyweb", "/var/lib/apt/lists")
    assert code == 1 and w["status"] == "fail" and w["source"] == "default" and before["status"] == "pass"
    assert abs(w["measured"] - before["measured"] - lists) < 0.01 * lists  # what the RUN rm hid
    stored, hides = w["locations"][0], w["locations"][1]
    assert stored["layer"] == 1 and stored["line"] == 1 and stored["instruction"].startswith("FROM")  # a base layer
    assert hides["layer"] == len(layer_tar_sizes(archive)) - 1 and hides["line"] == 2  # RUN rm -rf ... line
    assert "same RUN" in w["advice"]
    # dive's default user-wasted 0.1 fails it too: wasted / added above the base
    code, doc = gate_json(archive, "-c", config(tmp_path, {"highest-user-wasted-percent": 0.1}), cwd=tmp_path)
    assert check(doc, "highest-user-wasted-percent")["status"] == "fail"


@pytest.mark.slow
@pytest.mark.docker
def test_baseline_regression_growth_new_junk_class_new_lint_error(apps, variants, tmp_path, tmp_path_factory):
    base_archive = apps["pyweb"]
    base_df = FIXTURES / "apps" / "pyweb" / "Dockerfile"
    archive, dockerfile = variants["grown"]
    # the baseline as a gate JSON made on "main" (with its Dockerfile, so its lint findings are known)
    code, base_doc = gate_json(base_archive, "--dockerfile", base_df, cwd=tmp_path)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(base_doc))
    cfg = config(tmp_path, {"max-growth": {"bytes": "10MB"}})
    code, doc = gate_json(archive, "-c", cfg, "--baseline", baseline, "--dockerfile", dockerfile, cwd=tmp_path)
    assert code == 1
    g = check(doc, "max-growth")
    grown = sum(layer_tar_sizes(archive)) - sum(layer_tar_sizes(base_archive))
    assert g["status"] == "fail" and g["measured"] == grown and grown > 20_000_000
    assert g["locations"][0]["line"] == 3  # COPY blob.bin: the largest new layer
    j = check(doc, "no-new-junk-class")
    assert j["status"] == "fail" and "vcs" in j["summary"] and j["locations"][0]["line"] == 4
    lint = check(doc, "no-new-lint-errors")
    assert lint["status"] == "fail" and "DL4000" in lint["summary"] and lint["locations"][0]["line"] == 2
    # the same image as baseline: nothing grew, nothing new
    code, doc = gate_json(archive, "-c", cfg, "--baseline", archive, cwd=tmp_path)
    assert code == 0 and check(doc, "max-growth")["measured"] == 0
    assert check(doc, "no-new-junk-class")["status"] == "pass"
    # an image baseline: growth within the default 10 % of 276 MB passes; the new junk class does not
    empty = tmp_path_factory.mktemp("no-config")
    code, doc = gate_json(archive, "--baseline", base_archive, cwd=empty)
    assert doc["config"] is None and check(doc, "max-growth")["source"] == "default"
    assert check(doc, "max-growth")["status"] == "pass" and check(doc, "no-new-junk-class")["status"] == "fail"
    assert code == 1


# ------------------------------------------------------------------ formats


def _failing_sample(tmp_path):
    cfg = config(tmp_path, {"max-size": "5MB", "max-junk-class": {"apt-archives": 0}, "max-layers": 9})
    return ("-c", cfg, "--dockerfile", SAMPLE_DF.relative_to(ROOT))  # relative: as CI names it (cwd: the repo)


def test_text_says_measured_vs_limit_where_and_what_to_do(tmp_path):
    code, out, _ = gate(SAMPLE_TAR, *_failing_sample(tmp_path))
    assert code == 1 and out.startswith("imgopt gate") and "FAIL: 2 of 5 checks failed" in out
    block = out.split("Junk class apt-archives")[1].split("\nPASS")[0].split("\nFAIL")[0]
    assert "928.2 kB > 0 B" in block and "fixtures/sample/Dockerfile:16" in block and "apt-get clean" in block


def test_json_is_versioned_and_valid_against_its_schema(tmp_path):
    import jsonschema

    code, doc = gate_json(SAMPLE_TAR, *_failing_sample(tmp_path))
    schema = json.loads((ROOT / "docs" / "schema" / "gate.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["schema"] == "imgopt.gate/v1" and code == 1


def test_junit_has_one_testcase_per_check(tmp_path):
    code, out, _ = gate(SAMPLE_TAR, *_failing_sample(tmp_path), "--format", "junit")
    _, doc = gate_json(SAMPLE_TAR, *_failing_sample(tmp_path))
    limited = [c for c in doc["checks"] if c["status"] != "info"]
    cases = ET.fromstring(out).findall(".//testcase")
    assert [c.get("name") for c in cases] == [c["id"] for c in limited]
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {c["id"] for c in limited if c["status"] == "fail"} == {"max-size", "max-junk-class.apt-archives"}


def test_github_annotates_dockerfile_lines_and_writes_the_step_summary(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code, out, _ = gate(SAMPLE_TAR, *_failing_sample(tmp_path), "--format", "github",
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1
    lines = out.splitlines()
    assert any(re.match(r"::error file=fixtures/sample/Dockerfile,line=16,.*title=imgopt gate/max-junk-class", l)
               for l in lines), out
    assert lines[-1].startswith("::error title=imgopt gate::")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## imgopt gate" in text and "max-junk-class.apt-archives" in text


def test_codeclimate_is_gitlab_code_quality(tmp_path):
    code, out, _ = gate(SAMPLE_TAR, *_failing_sample(tmp_path), "--format", "codeclimate")
    issues = json.loads(out)
    assert issues and all({"description", "check_name", "fingerprint", "severity", "location"} <= set(i)
                          for i in issues)
    assert {i["check_name"] for i in issues} == {"gate/max-size", "gate/max-junk-class.apt-archives"}
    assert any(i["location"]["path"] == "fixtures/sample/Dockerfile" and i["location"]["lines"]["begin"] == 16
               for i in issues)
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_library_call(tmp_path):
    import imgopt
    from imgopt.gate import GateOptions

    res = imgopt.gate(str(SAMPLE_TAR), GateOptions(config=str(_failing_sample(tmp_path)[1])))
    assert not res.passed and {c.id for c in res.failed_checks} == {"max-size", "max-junk-class.apt-archives"}


def test_pyproject_table_and_also_outputs(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.imgopt.gate]\nmax-size = "5MB"\nmax-layers = 5\n')
    (tmp_path / ".git").mkdir()
    xml = tmp_path / "gate.xml"
    code, out, _ = gate(SAMPLE_TAR, "--also", f"junit:{xml}", cwd=tmp_path)
    assert code == 1 and "pyproject.toml" in out and "5.3 MB > 5.0 MB" in out
    assert ET.parse(xml).getroot().find(".//testcase[@name='max-size']/failure") is not None
    assert ET.parse(xml).getroot().find(".//testcase[@name='max-layers']/failure") is None
    code, out, err = gate(SAMPLE_TAR, "--also", "yaml:x.yaml", cwd=tmp_path)
    assert code == 2 and out == "" and "--also yaml:x.yaml" in err
