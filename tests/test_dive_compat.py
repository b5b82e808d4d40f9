"""Differential test: imgopt's dive-compatible figures == the real dive 0.13.1's.

Run on the committed sample, the whiteout/opaque edge-case image, a Docker
25+ style archive with gzip layers, the engine's classic `docker save`, and
every real application image of the fixture builder.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import APP_NAMES, SAMPLE_TAR, dive_json, run_imgopt
from imgopt.analyze.dive_compat import dive_compat, go_float
from imgopt.analyze.scan import scan_image
from imgopt.image.transports import open_image


def _ours(ref: str):
    with open_image(ref) as img:
        scan = scan_image(img)
        try:
            return dive_compat([ls.dive for ls in scan.layers])
        finally:
            scan.close()


def _assert_equal(archive: Path, tmp_path: Path, ref: str | None = None) -> None:
    theirs = dive_json(archive, tmp_path)
    ours = _ours(ref or str(archive))
    img = theirs["image"]
    assert ours.size_bytes == img["sizeBytes"]
    assert ours.wasted_bytes == img["inefficientBytes"]
    assert go_float(ours.efficiency) == _go_text(img["efficiencyScore"])
    assert ours.layer_sizes == [l["sizeBytes"] for l in theirs["layer"]]
    assert [(f.count, f.size_bytes, f.path) for f in ours.files] == \
        [(f["count"], f["sizeBytes"], f["file"]) for f in img["fileReference"]]


def _go_text(v) -> str:
    return go_float(float(v))


def test_sample(tmp_path):
    _assert_equal(SAMPLE_TAR, tmp_path)


def test_sample_as_gzip_docker25_archive(tmp_path):
    """Our docker-archive writer's layout (blobs/, gzip layers): dive reads it; numbers still agree."""
    out = tmp_path / "gz.tar"
    run_imgopt("copy", "-q", "--compress", "gzip", str(SAMPLE_TAR), f"docker-archive:{out}:x:y", check=True)
    _assert_equal(out, tmp_path)


def test_edge_cases(tmp_path, docker_client):
    from layoututil import docker_archive
    from test_filetree_docker import _layers  # the whiteout / opaque / replace edge cases

    archive = docker_archive(tmp_path / "edge.tar", _layers())
    _assert_equal(archive, tmp_path)


def test_engine_classic_docker_save(tmp_path, docker_client):
    subprocess.run(["docker", "load", "-i", str(SAMPLE_TAR)], check=True, capture_output=True)
    out = tmp_path / "classic.tar"
    subprocess.run(["docker", "save", "-o", str(out), "imgopt-sample:latest"], check=True)
    _assert_equal(out, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("app", APP_NAMES)
def test_real_app_images(app, app_archive, tmp_path):
    _assert_equal(app_archive(app), tmp_path)


def test_streamed_and_seeked_scans_agree(tmp_path):
    """zstd layers (streamed) give the same dive figures as the uncompressed archive (seeked)."""
    from conftest import SAMPLE_ZSTD

    a = _ours(str(SAMPLE_TAR))
    b = _ours(f"oci:{SAMPLE_ZSTD}")
    assert (a.efficiency, a.wasted_bytes, a.layer_sizes) == (b.efficiency, b.wasted_bytes, b.layer_sizes)
