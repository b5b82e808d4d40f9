"""imgopt analyze on the sample and on real application images."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT, SAMPLE_TAR, SAMPLE_ZSTD, run_imgopt
from imgopt.analyze import AnalyzeOptions, analyze
from imgopt.image.transports import open_image
from layoututil import docker_archive, make_tar

SCHEMA = json.loads((ROOT / "docs/schema/analysis.schema.json").read_text())


def _analyze(ref: str, **kw):
    with open_image(ref) as img:
        return analyze(img, AnalyzeOptions(**kw))


@pytest.fixture(scope="module")
def sample():
    return _analyze(str(SAMPLE_TAR))


def test_schema_files_are_current():
    from imgopt.schema import documents

    for name, doc in documents().items():
        assert json.loads((ROOT / "docs/schema" / name).read_text()) == doc, f"run python -m imgopt.schema ({name})"


def test_json_output_validates(tmp_path):
    out = tmp_path / "a.json"
    p = run_imgopt("analyze", "--format", "json", "-o", str(out), str(SAMPLE_TAR))
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema"] == "imgopt.analysis/v1"


def test_the_json_of_an_analysis_is_asdicts_without_its_copies():
    """to_json is imgopt.schema.plain (no deep copies): the same document as dataclasses.asdict, key order too,
    and nothing in it is the result's own list or dict (a caller may edit the document)."""
    import dataclasses

    with open_image(f"docker-archive:{SAMPLE_TAR}") as img:
        r = analyze(img, AnalyzeOptions(cache=False, paths=["/etc/passwd"]))
    want = dataclasses.asdict(r)
    want = {"schema": want.pop("schema"), **want}
    got = r.to_json()
    assert json.dumps(got) == json.dumps(want) and got["paths"] and got["layers"]
    assert got["layers"] is not r.layers and got["paths"] is not r.paths


def test_exact_waste_of_the_sample(sample):
    """Every hidden byte of the sample, by hand: see fixtures/make_sample.py."""
    w = sample.waste
    busybox = 1982256
    build_log = 62000
    data = 600 + 600 + 32 * 4096
    config_v1 = len(b"mode=debug\nworkers=1\n")
    assert w.by_reason == {"overwritten": busybox + config_v1, "deleted": build_log, "opaque": data}
    assert w.exact_bytes == sample.summary.exact_waste_bytes == busybox + build_log + data + config_v1
    assert sample.summary.stored_file_bytes - sample.summary.final_bytes == w.exact_bytes
    # dive counts the kept busybox copy as waste too (#684) and ignores the opaque dir
    assert w.dive_wasted_bytes > w.exact_bytes - data
    layers = {l.index: l for l in sample.layers}
    assert layers[0].hidden_later_bytes == busybox and layers[3].hidden_later_bytes == build_log + data + config_v1
    assert layers[4].hides_bytes == build_log + data + config_v1


def test_sample_junk_classes(sample):
    junk = {c.id: c for c in sample.junk}
    assert junk["apt-archives"].files == 1 and junk["apt-archives"].layers == {"1": 928188}
    assert junk["vcs"].files == 3 and junk["vcs"].examples[0].path == "/app/.git/objects/pack/pack-0000.pack"
    assert junk["leftover-archives"].examples[0].path == "/app/site.tar.gz"
    assert junk["docs"].files == 15 and set(junk["docs"].layers) == {"0"}
    assert junk["dpkg-leftovers"].files == 2  # etc/motd.dpkg-old, var/lib/dpkg/status-old
    # the deleted build log is not junk any more: it is waste
    assert all(e.path != "/app/build.log" for c in sample.junk for e in c.examples)
    assert sample.summary.removable_junk_bytes == sum(c.bytes for c in sample.junk if c.safe_to_remove)


def test_sample_entrypoint_and_duplicates(sample):
    ep = sample.entrypoint
    assert ep.argv == ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/var/www"]
    assert ep.executable == "/bin/busybox" and not ep.missing and ep.bytes == 1982256
    groups = {tuple(sorted(c.path for c in g.copies)): g for g in sample.duplicates.groups}
    bb = groups[("/bin/busybox", "/bin/busybox")]
    assert [c.visible for c in sorted(bb.copies, key=lambda c: c.layer)] == [False, True]
    assert sample.summary.duplicate_bytes == sample.duplicates.visible_duplicate_bytes > 0


def test_streamed_and_seeked_analysis_agree(sample):
    """zstd OCI layout (streamed, every file hashed) == uncompressed archive (seeked, lazy)."""
    z = _analyze(f"oci:{SAMPLE_ZSTD}")
    a, b = sample.to_json(), z.to_json()
    for key in ("final_bytes", "final_files", "removable_junk_bytes", "exact_waste_bytes", "duplicate_bytes",
                "entrypoint_bytes", "dive_efficiency", "stored_file_bytes"):
        assert a["summary"][key] == b["summary"][key], key
    assert a["junk"] == b["junk"] and a["waste"] == b["waste"] and a["entrypoint"] == b["entrypoint"]
    assert a["duplicates"]["groups"] == b["duplicates"]["groups"]


def test_text_and_markdown_lead_with_the_three_numbers(cli):
    code, out, _ = cli("analyze", str(SAMPLE_TAR))
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    assert lines[2].startswith("Total size") and lines[3].startswith("Removable junk") \
        and lines[4].startswith("Exact waste")
    code, md, _ = cli("analyze", "--format", "markdown", str(SAMPLE_TAR))
    assert code == 0 and "| **Removable junk** |" in md and "## Layers" in md


def _image_with(tmp_path: Path, layers: list[bytes], config: dict | None = None) -> Path:
    return docker_archive(tmp_path / "img.tar", layers, config)


def test_hostile_layers_are_findings_not_crashes(tmp_path):
    """Whiteout of '/', of paths that never existed, duplicates, non-UTF-8 and '..' names."""
    evil = make_tar([("../../../etc/escaped", "file", b"x" * 10, 0o644), ("/abs", "file", b"y", 0o644),
                     ("dup", "file", b"1", 0o644), ("dup", "file", b"22", 0o644)])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        ti = tarfile.TarInfo("caf\udce9.txt")  # latin-1 byte 0xE9: not UTF-8
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"abc"))
    wh = make_tar([(".wh.", "file", b"", 0o644), (".wh.never-existed", "file", b"", 0o644),
                   ("./.wh..wh..opq", "file", b"", 0o644)])
    archive = _image_with(tmp_path, [evil, buf.getvalue(), wh])
    p = run_imgopt("analyze", "--format", "json", str(archive))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    probs = {(x["path"], x["problem"]) for x in doc["problems"]}
    assert ("/../../../etc/escaped", "path contains '..'") in probs
    assert ("//abs", "absolute path") in probs or ("/abs", "absolute path") in probs
    assert any("never-existed" in path and "does not exist" in why for path, why in probs)
    assert any("invalid name" in why for _, why in probs)
    # the opaque marker at the root hides everything below: all 17 bytes are waste
    assert doc["summary"]["exact_waste_bytes"] == 10 + 1 + 1 + 2 + 3 and doc["summary"]["final_bytes"] == 0
    assert not Path("/etc/escaped").exists()
    # without the last layer: the duplicate entry's first copy is the only waste
    archive2 = _image_with(tmp_path, [evil, buf.getvalue()])
    r = _analyze(str(archive2))
    assert r.summary.exact_waste_bytes == 1
    assert any(f.path.startswith("/caf") and f.size == 3 for f in r.largest)
    assert {f.path for f in r.largest} >= {"/etc/escaped", "/abs", "/dup"}


def test_broken_entrypoint_is_a_finding(tmp_path, sample):
    """An ELF whose interpreter and libraries are missing: reported, exit 0."""
    elf = Path("/usr/bin/python3.11").read_bytes() if Path("/usr/bin/python3.11").exists() else \
        Path("/bin/ls").read_bytes()
    layer = make_tar([("bin", "dir", None, 0o755), ("bin/app", "file", elf, 0o755),
                      ("bin/run.sh", "file", b"#!/bin/bash\nexec /bin/app\n", 0o755)])
    archive = _image_with(tmp_path, [layer], {"Entrypoint": ["/bin/run.sh"]})
    r = _analyze(str(archive))
    missing = {(m.name, m.reason) for m in r.entrypoint.missing}
    assert ("/bin/bash", "shebang") in missing
    assert r.entrypoint.executable == "/bin/run.sh"
    p = run_imgopt("analyze", str(archive))
    assert p.returncode == 0 and "MISSING: /bin/bash" in p.stdout


@pytest.mark.slow
def test_debian_pip_image_junk(app_archive):
    """A Debian + pip image built the ordinary way: apt lists, docs, locales, left-over wheels."""
    r = _analyze(str(app_archive("pyweb")))
    junk = {c.id: c for c in r.junk}
    assert junk["apt-lists"].bytes > 20_000_000
    assert all(e.path.startswith("/var/lib/apt/lists/") for e in junk["apt-lists"].examples)
    assert junk["docs"].bytes > 5_000_000 and junk["docs"].files > 500
    assert junk["locales"].bytes > 5_000_000  # LANG unset: every catalog is unused
    wheels = [e for e in junk["leftover-archives"].examples if e.path.startswith("/wheels/")]
    assert wheels and all(e.path.endswith(".whl") for e in wheels)
    (wheel_layer,) = {e.layer for e in wheels}  # all from one layer: the COPY of the wheels
    assert r.layers[wheel_layer].instruction.startswith("COPY")
    assert not any(e.path.startswith("/usr/share/python-wheels/") for e in junk["leftover-archives"].examples)
    # the entrypoint: gunicorn script -> venv python (symlinks) -> ELF + libraries
    ep = r.entrypoint
    assert ep.executable == "/opt/venv/bin/gunicorn" and not ep.missing
    reasons = {f.reason for f in ep.files}
    assert {"exec", "shebang", "symlink", "interp", "needed"} <= reasons
    assert any(f.path.startswith("/usr/bin/python3") and f.reason in ("shebang", "symlink") for f in ep.files)
    assert any("libc.so" in f.path for f in ep.files)


@pytest.mark.slow
def test_dockerfile_mapping(app_archive):
    r = _analyze(str(app_archive("pyweb")), dockerfile=str(ROOT / "fixtures/apps/pyweb/Dockerfile"))
    text = (ROOT / "fixtures/apps/pyweb/Dockerfile").read_text().splitlines()
    mapped = [l for l in r.layers if l.dockerfile]
    assert len(mapped) >= len(r.layers) - 1
    for l in mapped:
        line = text[l.dockerfile.line - 1]
        if l.instruction and l.instruction.startswith("RUN"):
            assert line.lstrip().upper().startswith(("RUN", "FROM"))


def test_path_history(cli):
    """Which layer added, changed, deleted or hid a path."""
    r = _analyze(str(SAMPLE_TAR), paths=["/bin/busybox", "/app/build.log", "/app/data/cache.bin", "/nope"])
    h = {p: [(e.layer, e.action) for e in evs] for p, evs in r.paths.items()}
    assert h["/bin/busybox"] == [(0, "added"), (1, "modified")]
    assert h["/app/build.log"] == [(3, "added"), (4, "deleted")]
    assert h["/app/data/cache.bin"] == [(3, "added"), (4, "hidden (opaque directory)")]
    assert h["/nope"] == []
    code, out, _ = cli("analyze", "--path", "/app/build.log", str(SAMPLE_TAR))
    assert code == 0 and "History of /app/build.log" in out and "layer 4: deleted" in out
