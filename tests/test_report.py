"""imgopt report: Markdown for a pull-request comment, JSON against its schema, recommendations on real
apps (tied to the layer, the Dockerfile line and the lint rule), `imgopt slim --report`, bad input."""

from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, ROOT, SAMPLE_TAR, run_imgopt


def test_bad_output_suffix_is_exit_2_and_nothing_written(tmp_path):
    out = tmp_path / "report.txt"
    p = run_imgopt("report", SAMPLE_TAR, "-o", out)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "suffix" in p.stderr and not out.exists()
    p = run_imgopt("slim", SAMPLE_TAR, "-o", f"oci:{tmp_path / 's'}:x", "--report", out)
    assert p.returncode == 2 and "suffix" in p.stderr and not (tmp_path / "s").exists()


def test_json_is_versioned_and_valid_against_its_schema(tmp_path):
    import jsonschema

    out = tmp_path / "r.json"
    run_imgopt("report", SAMPLE_TAR, "--dockerfile", FIXTURES / "sample" / "Dockerfile", "-o", out, check=True)
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads((ROOT / "docs" / "schema" / "report.schema.json").read_text()))
    assert doc["schema"] == "imgopt.report/v1" and doc["analysis"]["schema"] == "imgopt.analysis/v1"
    a = doc["analysis"]
    for bar, layer in zip(doc["layers"], a["layers"]):
        assert bar["app_bytes"] + bar["junk_bytes"] + bar["waste_bytes"] == bar["file_bytes"] == layer["file_bytes"]
    assert a["directories"][0]["path"] == "/" and a["directories"][0]["bytes"] == a["summary"]["final_bytes"]
    ranks = [(max(r["seconds_saved"].values(), default=0), r["bytes_saved"]) for r in doc["recommendations"]]
    assert [round(s, 2) for s, _ in ranks] == sorted((round(s, 2) for s, _ in ranks), reverse=True)


@pytest.mark.slow
@pytest.mark.docker
def test_markdown_fits_a_comment_with_the_same_numbers_and_recommendations(app_archive, tmp_path):
    archive = app_archive("pytorch")
    df = FIXTURES / "apps" / "pytorch" / "Dockerfile"
    run_imgopt("report", archive, "--dockerfile", df, "-o", tmp_path / "r.md", check=True)
    run_imgopt("report", archive, "--dockerfile", df, "-o", tmp_path / "r.json", check=True)
    md = (tmp_path / "r.md").read_text()
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(md.encode()) < 64 * 1024
    from imgopt.progress import human

    assert human(doc["analysis"]["summary"]["uncompressed_bytes"]) in md.split("### Recommendations")[0]
    table = md.split("### Recommendations")[1].split("###")[0]
    titles = [r["title"] for r in doc["recommendations"]]
    rows = [l for l in table.splitlines() if re.match(r"\|\s+\d+ \|", l)]
    assert len(rows) == min(len(titles), 40)
    for row, title in zip(rows, titles):
        assert title.replace("|", "\\|") in row
    # pytorch keeps its compilers: the toolchain recommendation is there, tied to the apt-get line and IMG103
    tool = [r for r in doc["recommendations"] if r["kind"] == "junk.toolchain"]
    assert tool and tool[0]["lint_rule"] == "IMG103" and tool[0]["dockerfile"]["line"] == 8


@pytest.mark.slow
@pytest.mark.docker
def test_recommendations_on_a_real_app_name_layer_line_rule_command(app_archive, tmp_path):
    archive = app_archive("pyweb")
    df = FIXTURES / "apps" / "pyweb" / "Dockerfile"
    out = tmp_path / "r.json"
    run_imgopt("report", archive, "--dockerfile", df, "-o", out, check=True)
    doc = json.loads(out.read_text())
    by_id = {r["id"]: r for r in doc["recommendations"]}
    apt = by_id["junk.apt-lists.L1"]
    line = apt["dockerfile"]["line"]
    assert df.read_text().splitlines()[line - 1].startswith("RUN apt-get update")
    assert apt["lint_rule"] == "DL3009" and "rm -rf /var/lib/apt/lists" in apt["command"]
    junk = next(c for c in doc["analysis"]["junk"] if c["id"] == "apt-lists")
    assert apt["bytes_saved"] == junk["layers"]["1"] > 40_000_000
    # 53 MB in thousands of small files: less to download and to extract, from either registry
    assert apt["seconds_saved"]["vpc"] > 0.05 and apt["seconds_saved"]["public"] >= apt["seconds_saved"]["vpc"]
    assert by_id["endpoint.vpc"]["seconds_saved"]["public"] > 0
    assert by_id["compress.zstd"]["download_bytes_saved"] > 0
    assert "imgopt copy --compress zstd" in by_id["compress.zstd"]["command"]


def test_slim_report_writes_the_before_after_report(tmp_path):
    out = tmp_path / "slim.md"
    run_imgopt("slim", SAMPLE_TAR, "--probe", FIXTURES / "sample" / "probe.yaml", "-o", f"oci:{tmp_path / 's'}:slim",
               "--report", out, "-q", check=True)
    md = out.read_text()
    assert "slim" in md and md.count("| slim ") >= 2  # the slim image's simulated pulls
    assert "Startup set vs the rest" in md  # slim's own trace is the startup set
