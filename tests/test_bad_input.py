"""Bad input: one line naming the input and the problem, exit 2, nothing half written."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from conftest import SAMPLE_TAR, run_imgopt
from layoututil import Layout, make_tar, sha


def _assert_one_line_error(p, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("imgopt: error: ")
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _copy_fails_cleanly(src: str, tmp_path: Path, *needles: str, compress: str = "zstd") -> None:
    """Copying (with re-encoding, so every byte is decoded) fails and leaves nothing."""
    out = tmp_path / "out"
    out.mkdir()
    for dest in (f"oci:{out / 'layout'}", f"docker-archive:{out / 'x.tar'}", f"oci-archive:{out / 'y.tar'}"):
        p = run_imgopt("copy", "-q", "--compress", compress, src, dest)
        _assert_one_line_error(p, *needles)
    assert list(out.iterdir()) == [], f"half-written output left: {list(out.iterdir())}"


@pytest.fixture
def gzip_layout(tmp_path) -> Layout:
    run_imgopt("copy", "-q", "--compress", "gzip", str(SAMPLE_TAR), f"oci:{tmp_path / 'lay'}", check=True)
    return Layout(tmp_path / "lay")


def test_missing_file(tmp_path):
    p = run_imgopt("inspect", str(tmp_path / "nope.tar"))
    _assert_one_line_error(p, "nope.tar", "no such file")
    p = run_imgopt("inspect", f"docker-archive:{tmp_path / 'nope.tar'}")
    _assert_one_line_error(p, "nope.tar", "no such file")
    p = run_imgopt("inspect", f"oci:{tmp_path / 'nodir'}")
    _assert_one_line_error(p, "nodir", "no such")


@pytest.mark.parametrize("content,needle", [
    (b"hello, not an image\n", "not an image"),
    (make_tar([("readme.txt", "file", b"hi", 0o644)]), "not an image"),
    (gzip.compress(b"garbage" * 100), "not an image"),
])
def test_not_an_image(tmp_path, content, needle):
    f = tmp_path / "thing.tar"
    f.write_bytes(content)
    _assert_one_line_error(run_imgopt("inspect", str(f)), "thing.tar", needle)
    _assert_one_line_error(run_imgopt("inspect", f"docker-archive:{f}"), "thing.tar")


def test_directory_that_is_not_a_layout(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    _assert_one_line_error(run_imgopt("inspect", str(tmp_path / "d")), "not an OCI image layout")


def _corrupt(data: bytes) -> bytes:
    b = bytearray(data)
    mid = len(b) // 2
    for i in range(mid, min(len(b), mid + 256)):
        b[i] ^= 0x5A
    return bytes(b)


def test_corrupt_gzip_layer(gzip_layout, tmp_path):
    """Blob digest is right (the manifest was re-signed) but the gzip stream is broken."""
    L = gzip_layout
    big = max(range(len(L.manifest["layers"])), key=lambda i: L.manifest["layers"][i]["size"])
    blob = L.blob(L.manifest["layers"][big]["digest"]).read_bytes()
    L.replace_layer(big, _corrupt(blob))
    _copy_fails_cleanly(f"oci:{L.path}", tmp_path, "layer", "corrupt gzip data")


def test_corrupt_zstd_layer(tmp_path):
    run_imgopt("copy", "-q", "--compress", "zstd", str(SAMPLE_TAR), f"oci:{tmp_path / 'lay'}", check=True)
    L = Layout(tmp_path / "lay")
    blob = L.blob(L.manifest["layers"][0]["digest"]).read_bytes()
    L.replace_layer(0, _corrupt(blob))
    _copy_fails_cleanly(f"oci:{L.path}", tmp_path, "layer", "corrupt zstd data", compress="gzip")


def test_truncated_compressed_layer(gzip_layout, tmp_path):
    L = gzip_layout
    blob = L.blob(L.manifest["layers"][0]["digest"]).read_bytes()
    L.replace_layer(0, blob[: len(blob) // 2])
    _copy_fails_cleanly(f"oci:{L.path}", tmp_path, "layer", "truncated")


def test_truncated_tar_inside_layer(gzip_layout, tmp_path):
    """A well-formed gzip of a tar cut off mid-file, with consistent digests: analysis sees it."""
    L = gzip_layout
    tar = make_tar([("big.bin", "file", os.urandom(200_000), 0o644)])[:100_000]
    L.replace_layer(0, gzip.compress(tar), diff_id=sha(tar))
    p = run_imgopt("inspect", "--deep", f"oci:{L.path}")
    _assert_one_line_error(p, "layer 0", "truncated")


def test_blob_digest_mismatch(gzip_layout, tmp_path):
    """Bytes changed on disk under an unchanged manifest."""
    L = gzip_layout
    path = L.blob(L.manifest["layers"][1]["digest"])
    path.write_bytes(_corrupt(path.read_bytes()))
    _copy_fails_cleanly(f"oci:{L.path}", tmp_path, "layer 1", "digest mismatch")
    # a plain copy that keeps the layer bytes checks the digest too
    _assert_one_line_error(run_imgopt("copy", "-q", "--compress", "keep", f"oci:{L.path}",
                                      f"oci:{tmp_path / 'kept'}"), "layer 1", "digest mismatch")
    assert not (tmp_path / "kept").exists()


def test_diff_id_mismatch_in_docker_archive(tmp_path):
    """A docker archive whose layer tar no longer hashes to the config's diffID."""
    src = tarfile.open(SAMPLE_TAR)
    out = tmp_path / "bad.tar"
    with tarfile.open(out, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        victim = manifest[0]["Layers"][3]
        for ti in src.getmembers():
            data = src.extractfile(ti).read() if ti.isfile() else None
            if ti.name == victim:
                data = data.replace(b"mode=debug", b"mode=DEBUG")
            dst.addfile(ti, io.BytesIO(data) if data is not None else None)
    _copy_fails_cleanly(str(out), tmp_path, "bad.tar", "digest mismatch")


def test_manifest_names_missing_blob(gzip_layout, tmp_path):
    L = gzip_layout
    L.blob(L.manifest["layers"][2]["digest"]).unlink()
    p = run_imgopt("inspect", f"oci:{L.path}")
    _assert_one_line_error(p, "missing")


def test_unknown_layer_media_type(gzip_layout):
    L = gzip_layout
    m = L.manifest
    m["layers"][0]["mediaType"] = "application/x-not-a-layer"
    L.write_manifest(m)
    _assert_one_line_error(run_imgopt("inspect", f"oci:{L.path}"), "unknown media type", "application/x-not-a-layer")


def test_unknown_manifest_media_type(gzip_layout):
    L = gzip_layout
    m = L.manifest
    m["mediaType"] = "application/vnd.example.unknown+json"
    L.write_manifest(m)
    idx = L.index
    idx["manifests"][0]["mediaType"] = "application/vnd.example.unknown+json"
    (L.path / "index.json").write_text(json.dumps(idx))
    _assert_one_line_error(run_imgopt("inspect", f"oci:{L.path}"), "unknown media type")


def test_config_digest_mismatch(gzip_layout):
    L = gzip_layout
    cfg_path = L.blob(L.manifest["config"]["digest"])
    cfg_path.write_bytes(cfg_path.read_bytes().replace(b"amd64", b"arm64"))
    _assert_one_line_error(run_imgopt("inspect", f"oci:{L.path}"), "does not match its digest")


def test_no_docker_daemon(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    p = run_imgopt("inspect", "docker-daemon:imgopt-sample:latest", env=env)
    _assert_one_line_error(p, "docker-daemon:imgopt-sample:latest", "cannot connect to the Docker daemon")
    p = run_imgopt("copy", str(SAMPLE_TAR), "docker-daemon:x:y", env=env)
    _assert_one_line_error(p, "docker-daemon:x:y", "cannot connect")


def test_bad_references_and_options(tmp_path):
    _assert_one_line_error(run_imgopt("inspect", "docker-daemon:UPPER/case"), "invalid repository name")
    _assert_one_line_error(run_imgopt("inspect", "--platform", "linux", str(SAMPLE_TAR)), "--platform")
    _assert_one_line_error(run_imgopt("copy", "--compress", "gzip", "--level", "12", str(SAMPLE_TAR),
                                      f"oci:{tmp_path / 'o'}"), "level 12")
    assert not (tmp_path / "o").exists()


def test_hostile_layer_entries_are_reported_not_trusted(tmp_path):
    """`..` and absolute names never escape; analysis never writes to the host."""
    from imgopt.image.filetree import FileTree
    from imgopt.image.tarstream import iter_entries

    tar = make_tar([("../../etc/evil", "file", b"x", 0o644), ("/abs/file", "file", b"y", 0o644),
                    ("ok/.wh.never-existed", "file", b"", 0o644), ("a", "file", b"1", 0o644),
                    ("a", "file", b"22", 0o644), (".wh.", "file", b"", 0o644)])
    problems = []
    entries = [(e, None) for e, _, _ in iter_entries(io.BytesIO(tar), "t", lambda n, p: problems.append((n, p)))]
    t = FileTree()
    ch = t.apply(0, entries)
    assert t.get("etc/evil") is not None and t.get("abs/file") is not None
    assert t.get("a").size == 2 and [h.size for h in t.hidden] == [1]
    kinds = {p for _, p in problems}
    assert "path contains '..'" in kinds and "absolute path" in kinds and "whiteout of an invalid name" in kinds
    assert any("does not exist" in p for _, p in ch.problems)
    assert not Path("/etc/evil").exists()
