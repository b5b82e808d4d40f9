"""eStargz output of a real app, checked against the spec by an independent reader
(tests/estargzutil.py): in every layout, every layer is eStargz -- base layers
kept by keep-base too -- and every startup file of a real trace sits in its layer
before ``.prefetch.landmark``, so a lazy client prefetches all of them.  TOC
fields are the spec's, digests verify against the contents, and skopeo and
umoci accept the image."""

from __future__ import annotations

import json
import subprocess

import pytest

import estargzutil as esgz
from conftest import build_apps, run_imgopt
from imgopt.image.filetree import from_image
from imgopt.image.tarstream import Kind
from imgopt.image.transports import open_image
from imgopt.minify.writer import TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION
from imgopt.trace.profile import AccessProfile

pytestmark = [pytest.mark.slow, pytest.mark.docker]

APP = "nginx"  # a Debian base (loader, libc, passwd) under apt and COPY layers


@pytest.fixture(scope="module")
def traced(tmp_path_factory, docker_client):
    """(archive, profile path, the startup files: regular files of the original the trace saw)."""
    archive = build_apps.ensure_app(APP)
    d = tmp_path_factory.mktemp("esgz")
    probes = d / "probe.json"
    probes.write_text(json.dumps(build_apps.load_probe(APP)))
    prof = d / "profile.json"
    run_imgopt("trace", str(archive), "--probe", str(probes), "-q", "-o", str(prof), check=True)
    with open_image(str(archive)) as img:
        tree = from_image(img)
    startup = []
    for f in AccessProfile.load(str(prof)).files:
        node = tree.get(f.path.lstrip("/"))
        if f.exists and f.type == "file" and node is not None and node.kind is Kind.FILE:
            startup.append(f.path.lstrip("/"))
    assert len(startup) >= 10, startup  # the loader, libc, nginx, its config...: a real trace
    return archive, prof, startup


def _minify(traced, tmp_path, layout: str):
    archive, prof, _ = traced
    out = tmp_path / f"oci-{layout}"
    run_imgopt("minify", str(archive), "--profile", str(prof), "--layout", layout, "--compress", "estargz",
               "--verify", "none", "-q", "-o", f"oci:{out}:v1", check=True)
    return out


@pytest.mark.parametrize("layout", ["keep-base", "original", "startup-first", "single"])
def test_every_startup_file_is_before_a_prefetch_landmark(traced, tmp_path, layout):
    _, _, startup = traced
    out = _minify(traced, tmp_path, layout)
    with open_image(f"oci:{out}:v1") as img:
        parsed = []
        for i, layer in enumerate(img.layers):
            with layer.open_blob() as f:
                blob = f.read()
            e, problems = esgz.check(blob)  # fails on a layer that is not eStargz
            assert not problems, f"layer {i}: {problems[:5]}"
            assert not [x for x in e.toc["entries"] if "_file_digest" in x]
            ann = layer.descriptor.annotations
            assert ann[TOC_DIGEST_ANNOTATION] == esgz.sha(e.toc_json)
            assert e.diff_id == img.config.diff_ids[i] == layer.diff_id
            assert int(ann[UNCOMPRESSED_SIZE_ANNOTATION]) == e.tar_size
            parsed.append(e)
        # the history still has one entry per layer
        hist = [h for h in img.config.raw.get("history", []) if not h.get("empty_layer")]
        assert len(hist) == len(img.layers)
    # each startup file, in the topmost layer that writes it, before that layer's prefetch landmark
    holders: dict[int, list[str]] = {}
    for p in startup:
        top = max((i for i, e in enumerate(parsed) if p in e.files), default=None)
        assert top is not None, f"{p} is in no layer"
        holders.setdefault(top, []).append(p)
    for i, e in enumerate(parsed):
        pre = esgz.prefetched(e)
        if i in holders:
            assert pre is not None, f"layer {i} holds startup files {holders[i][:3]} but no prefetch landmark"
            late = [p for p in holders[i] if p not in pre]
            assert not late, f"layer {i}: startup files after the landmark: {late}"
            assert esgz.NO_PREFETCH not in e.tar_order
        else:
            assert pre is None and e.tar_order[0] == esgz.NO_PREFETCH, f"layer {i}"
    if layout == "keep-base":
        # the base was re-encoded, not passed through: the loader and libc are prefetched from it
        assert 0 in holders and any("libc.so" in p for p in holders[0]), holders
    if layout == "original":
        assert len(holders) >= 2  # startup files in several layers, each layer prioritizing its own


@pytest.mark.parametrize("layout", ["keep-base", "original"])
def test_independent_tools_accept_the_image(traced, tmp_path, layout, skopeo, umoci):
    _, _, startup = traced
    out = _minify(traced, tmp_path, layout)
    info = json.loads(subprocess.run([skopeo, "inspect", f"oci:{out}:v1"], check=True, capture_output=True,
                                     text=True).stdout)
    with open_image(f"oci:{out}:v1") as img:
        assert info["Layers"] == [l.digest for l in img.layers]
    bundle = tmp_path / "bundle"
    p = subprocess.run([umoci, "unpack", "--image", f"{out}:v1", str(bundle)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    rootfs = bundle / "rootfs"
    with open_image(str(traced[0])) as orig:
        tree = from_image(orig, hash_content=True)
    for path in startup:  # every startup file unpacked with its size and mode
        st = (rootfs / path).stat()
        node = tree.get(path)
        assert st.st_size == node.size and st.st_mode & 0o7777 == node.mode & 0o7777, path
