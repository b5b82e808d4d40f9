"""Minify's writers and layouts without removing anything (--keep-all):
the merged filesystem must stay identical, in every layout and codec, as
seen by imgopt and by the Docker engine; eStargz blobs must follow the spec."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import subprocess
import tarfile
import zlib

import pytest

import estargzutil
from conftest import SAMPLE_TAR, docker_load, docker_run
from imgopt.analyze.scan import scan_image
from imgopt.image.filetree import from_image
from imgopt.image.transports import SinkOptions, open_image, write_image
from imgopt.minify import MinifyOptions, new_workdir, plan_and_build
from imgopt.minify.writer import NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_DIGEST_ANNOTATION, TOC_NAME
from imgopt.trace.profile import AccessProfile, FileAccess

ESTARGZ_EXTRA = {TOC_NAME, PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK}


def _listing(ref: str) -> dict:
    with open_image(ref) as img:
        t = from_image(img, hash_content=True)
    return {p: (n.kind.value, n.size, n.mode, n.uid, n.gid, n.linkname, n.digest, n.mtime, n.xattrs)
            for p, n in t.walk() if p not in ESTARGZ_EXTRA}


def _profile(paths: list[str]) -> AccessProfile:
    files = [FileAccess(path="/" + p, first_access=i * 0.01, kinds=["open"], exists=True, type="file")
             for i, p in enumerate(paths)]
    return AccessProfile(image="x", image_digest="", config_digest="", backend="native", argv=[], env=[],
                         workdir="/", user="", started_at="", duration=1.0, ready_time=0.5, exit_code=None,
                         files=files)


STARTUP = ["bin/busybox", "var/www/index.html", "var/www/cgi-bin/status", "app/config.txt"]


def _slim(src: str, tmp_path, layout: str, codec: str, keep_all: bool = True, profile=None, name="slim"):
    out = tmp_path / f"{name}-{layout}-{codec}.tar"
    with open_image(src) as img:
        scan = scan_image(img)
        wd = new_workdir(str(out))
        try:
            slim = plan_and_build(scan, profile, MinifyOptions(layout=layout, codec=codec, keep_all=keep_all), wd)
            res = write_image(slim.image, f"docker-archive:{out}:imgopt-test/{name}:{layout}-{codec}",
                              SinkOptions(compress="keep"))
        finally:
            scan.close()
            import shutil

            shutil.rmtree(wd, ignore_errors=True)
    return out, res.manifest_digest, slim


@pytest.fixture(scope="module")
def reference():
    return _listing(str(SAMPLE_TAR))


@pytest.mark.parametrize("codec", ["gzip", "zstd", "estargz", "none"])
@pytest.mark.parametrize("layout", ["startup-first", "keep-base", "original", "single"])
def test_keep_all_keeps_the_filesystem_identical(tmp_path, reference, layout, codec):
    out, digest, slim = _slim(str(SAMPLE_TAR), tmp_path, layout, codec, profile=_profile(STARTUP))
    assert _listing(str(out)) == reference
    assert slim.removed == []
    if layout == "keep-base":
        with open_image(str(SAMPLE_TAR)) as a, open_image(str(out)) as b:
            if codec != "estargz":
                assert b.layers[0].digest == a.layers[0].digest  # the base layer byte-identical
            else:  # re-encoded, every entry kept: the same files, and a TOC
                base = estargzutil.parse(b.layers[0].open_blob().read())
                with a.layers[0].open_tar() as raw, tarfile.open(fileobj=raw, mode="r|") as tf:
                    files = {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}
                assert {n: c for n, c in base.files.items() if n not in ESTARGZ_EXTRA} == files
    # deterministic: the same input, profile and options give the same digest
    _, digest2, _ = _slim(str(SAMPLE_TAR), tmp_path, layout, codec, profile=_profile(STARTUP), name="again")
    assert digest == digest2


@pytest.mark.docker
@pytest.mark.parametrize("layout,codec", [("startup-first", "estargz"), ("keep-base", "zstd"), ("original", "gzip"),
                                          ("keep-base", "estargz")])
def test_engine_sees_the_same_filesystem(tmp_path, layout, codec, docker_image_cleanup):
    out, _, _ = _slim(str(SAMPLE_TAR), tmp_path, layout, codec, profile=_profile(STARTUP))
    tag = f"imgopt-test/slim:{layout}-{codec}"
    docker_image_cleanup.append(tag)
    docker_load(out)
    subprocess.run(["docker", "load", "-i", str(SAMPLE_TAR)], check=True, capture_output=True)
    cmd = "find / -xdev ! -path / -exec stat -c '%n|%F|%s|%a|%u|%g|%Y' {} + | grep -v -e ^/proc -e ^/sys -e ^/dev " \
          "-e ^/etc/hosts -e ^/etc/hostname -e ^/etc/resolv.conf -e ^/.dockerenv -e ^/etc/mtab -e landmark " \
          "-e stargz.index.json -e '^/etc|directory' | sort"  # the runtime touches /etc (mount points)
    ours = docker_run(tag, "sh", "-c", cmd, entrypoint="/bin/busybox")
    orig = docker_run("imgopt-sample:latest", "sh", "-c", cmd, entrypoint="/bin/busybox")
    import difflib

    assert ours == orig, "\n".join(difflib.unified_diff(orig.splitlines(), ours.splitlines(), lineterm="", n=0))
    assert "/bin/busybox|regular file|1982256" in ours  # sanity: it is a listing


def _member(blob: bytes, offset: int) -> bytes:
    """Decompress the single gzip member starting at ``offset``."""
    d = zlib.decompressobj(31)
    return d.decompress(blob[offset:])


def test_estargz_follows_the_spec(tmp_path):
    out, _, _ = _slim(str(SAMPLE_TAR), tmp_path, "single", "estargz", profile=_profile(STARTUP))
    img = open_image(str(out))
    layer = img.layers[0]
    blob = layer.open_blob().read()
    # the footer: 51 bytes, an empty gzip member whose extra field holds the TOC offset
    foot = blob[-51:]
    assert foot[:4] == b"\x1f\x8b\x08\x04" and struct.unpack("<H", foot[10:12])[0] == 26
    assert foot[12:14] == b"SG" and foot[-8:] == b"\0" * 8 and foot[16:38].endswith(b"STARGZ")
    toc_off = int(foot[16:32], 16)
    toc_tar = _member(blob, toc_off)
    with tarfile.open(fileobj=io.BytesIO(toc_tar)) as tf:
        (ti,) = tf.getmembers()
        assert ti.name == TOC_NAME
        toc_json = tf.extractfile(ti).read()
    toc = json.loads(toc_json)
    assert toc["version"] == 1
    assert layer.descriptor.annotations[TOC_DIGEST_ANNOTATION] == "sha256:" + hashlib.sha256(toc_json).hexdigest()
    names = [e["name"] for e in toc["entries"]]
    # prioritized files first -- in path order, whatever order they were accessed in (the
    # layers must not depend on trace timing) -- then the landmark
    files = [e["name"] for e in toc["entries"] if e["type"] == "reg"]
    assert STARTUP != sorted(STARTUP)
    assert files[: len(STARTUP)] == sorted(STARTUP) and files[len(STARTUP)] == PREFETCH_LANDMARK
    assert NO_PREFETCH_LANDMARK not in names
    with open_image(str(SAMPLE_TAR)) as img:
        t = from_image(img)
    for e in toc["entries"]:
        if e["type"] == "reg" and e.get("size"):
            data = _member(blob, e["offset"])[: e["size"]]
            assert "sha256:" + hashlib.sha256(data).hexdigest() == e["digest"] == e["chunkDigest"]
            if e["name"] != PREFETCH_LANDMARK:
                assert t.get(e["name"]).size == e["size"]
        elif e["type"] == "dir":
            assert e["name"].endswith("/")
    # and the whole blob is one ordinary gzip stream of a tar with the layer's diffID
    tar = gzip.decompress(blob)
    assert "sha256:" + hashlib.sha256(tar).hexdigest() == layer.diff_id


def test_estargz_chunks_large_files(tmp_path):
    from imgopt.image.tarstream import Kind
    from imgopt.minify.writer import OutEntry, write_estargz_layer

    payload = bytes(range(256)) * 40_000  # 10 MB
    e = OutEntry("big.bin", Kind.FILE, 0o644, size=len(payload), content=lambda: io.BytesIO(payload))
    w = write_estargz_layer([e], 0, 1, str(tmp_path), "t", chunk_size=4 << 20)
    blob = w.layer.open_blob().read()
    toc_off = int(blob[-51:][16:32], 16)
    with tarfile.open(fileobj=io.BytesIO(_member(blob, toc_off))) as tf:
        toc = json.loads(tf.extractfile(TOC_NAME).read())
    chunks = [x for x in toc["entries"] if x["name"] == "big.bin"]
    assert [c["type"] for c in chunks] == ["reg", "chunk", "chunk"]
    assert [c.get("chunkOffset", 0) for c in chunks] == [0, 4 << 20, 8 << 20]
    assert [c["chunkSize"] for c in chunks] == [4 << 20, 4 << 20, 0]
    got = b""
    for c in chunks:
        size = (c["chunkSize"] or len(payload) - c.get("chunkOffset", 0))
        part = _member(blob, c["offset"])[:size]
        assert "sha256:" + hashlib.sha256(part).hexdigest() == c["chunkDigest"]
        got += part
    assert got == payload
    assert toc["entries"][0]["name"] == NO_PREFETCH_LANDMARK
