"""A real >= 500 MB application image through every transport, then run by the engine.

docker-daemon -> docker-archive -> oci (zstd) -> oci-archive -> registry ->
docker-daemon, and the job still prints its success line.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import run_imgopt
from imgopt.image.transports import open_image


@pytest.mark.slow
@pytest.mark.docker
def test_500mb_image_round_trip(app_archive, tmp_path, registry, unique, docker_image_cleanup):
    app_archive("ffmpegjob")  # builds and loads imgopt-fixture/ffmpegjob:latest
    with open_image("docker-daemon:imgopt-fixture/ffmpegjob:latest") as img:
        diff_ids = img.config.diff_ids
        total = sum(l.size for l in img.layers)
    assert total >= 500_000_000
    steps = [
        ("docker-daemon:imgopt-fixture/ffmpegjob:latest", f"docker-archive:{tmp_path / 'a.tar'}:ff:a", []),
        (f"docker-archive:{tmp_path / 'a.tar'}", f"oci:{tmp_path / 'lay'}:zstd", ["--compress", "zstd", "--level", "3"]),
        (f"oci:{tmp_path / 'lay'}:zstd", f"oci-archive:{tmp_path / 'o.tar'}:x", []),
        (f"oci-archive:{tmp_path / 'o.tar'}:x", f"docker://{registry}/imgopt-test/ffmpeg-{unique}:v1", []),
        (f"docker://{registry}/imgopt-test/ffmpeg-{unique}:v1", f"docker-daemon:imgopt-test/ffmpeg-{unique}:v1", []),
    ]
    for src, dst, extra in steps:
        p = run_imgopt("copy", "-q", *extra, src, dst)
        assert p.returncode == 0, (src, dst, p.stderr)
        with open_image(dst) as out:
            assert out.config.diff_ids == diff_ids, dst
    docker_image_cleanup.append(f"imgopt-test/ffmpeg-{unique}:v1")
    run = subprocess.run(["docker", "run", "--rm", "--pull", "never", "--network", "none", f"imgopt-test/ffmpeg-{unique}:v1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "imgopt-ffmpegjob ok" in run.stdout + run.stderr
    # the zstd layers survived the registry and daemon hops unchanged
    with open_image(f"docker://{registry}/imgopt-test/ffmpeg-{unique}:v1") as pulled:
        assert {l.compression.value for l in pulled.layers} == {"zstd"}
