"""pytest-benchmark: reading and copying a >= 500 MB image (run with `make bench`)."""

from __future__ import annotations

import shutil

import pytest

from imgopt.image.transports import SinkOptions, open_image, write_image

APP = "pynumeric"  # 595 MB docker-save archive


@pytest.fixture(scope="module")
def archive(app_archive):
    return app_archive(APP)


@pytest.fixture(scope="module")
def gzip_layout(archive, tmp_path_factory):
    d = tmp_path_factory.mktemp("lay") / "oci"
    with open_image(str(archive)) as img:
        write_image(img, f"oci:{d}:v1", SinkOptions(compress="gzip", level=6))
    return d


@pytest.fixture(scope="module")
def pushed(gzip_layout, registry):
    ref = f"docker://{registry}/imgopt-bench/{APP}:gzip"
    with open_image(f"oci:{gzip_layout}:v1") as img:
        write_image(img, ref)
    return ref


def _read_all(ref: str) -> int:
    n = 0
    with open_image(ref) as img:
        for layer in img.layers:
            t = layer.open_tar()
            while b := t.read(1 << 20):
                n += len(b)
            t.verify()
            t.close()
    return n


def test_read_archive(benchmark, archive):
    n = benchmark.pedantic(_read_all, args=(str(archive),), rounds=3, iterations=1)
    benchmark.extra_info["MB"] = n / 1e6


def test_read_gzip_layout(benchmark, gzip_layout):
    n = benchmark.pedantic(_read_all, args=(f"oci:{gzip_layout}:v1",), rounds=3, iterations=1)
    benchmark.extra_info["MB"] = n / 1e6


def test_read_registry(benchmark, pushed):
    n = benchmark.pedantic(_read_all, args=(pushed,), rounds=3, iterations=1)
    benchmark.extra_info["MB"] = n / 1e6


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_copy_recompress(benchmark, archive, tmp_path, codec):
    def run():
        out = tmp_path / "out"
        if out.exists():
            shutil.rmtree(out)
        with open_image(str(archive)) as img:
            write_image(img, f"oci:{out}:v1", SinkOptions(compress=codec))

    benchmark.pedantic(run, rounds=2, iterations=1)
