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

APP = "nginx"  # a Debian base (loader, libc, passwd) under apt and COPY layers


@pytest.fixture(scope="module")
def traced(tmp_path_factory, docker_client):
    """(archive, profile path, the startup files: regular files of the original the trace saw)."""
    # nginx is built by fixtures/build_apps.py (cached), then traced natively with its probe
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


@pytest.mark.slow
@pytest.mark.docker
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


@pytest.mark.slow
@pytest.mark.docker
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


def _profile(paths: list[str]) -> AccessProfile:
    from imgopt.trace.profile import FileAccess

    files = [FileAccess(path="/" + p, first_access=i * 0.01, kinds=["open"], exists=True, type="file")
             for i, p in enumerate(paths)]
    return AccessProfile(image="x", image_digest="", config_digest="", backend="native", argv=[], env=[],
                         workdir="/", user="", started_at="", duration=1.0, ready_time=0.5, exit_code=None,
                         files=files)


@pytest.mark.parametrize("layout", ["keep-base", "original"])
def test_reencoded_layers_keep_what_extraction_sees(tmp_path, layout, umoci):
    """Base layers with a root entry, a path written twice, a hardlink traced whose target
    is not, a whiteout and an opaque directory: re-encoded with the startup files first,
    the merged filesystem is unchanged (imgopt's reading and umoci's unpacking)."""
    from layoututil import docker_archive, make_tar

    base0 = make_tar([("./", "dir", None, 0o755), ("bin", "dir", None, 0o755), ("bin/tool", "file", b"old", 0o755),
                      ("etc", "dir", None, 0o755), ("etc/other", "file", b"other" * 100, 0o644),
                      ("etc/gone", "file", b"gone", 0o644), ("opt", "dir", None, 0o700),
                      ("opt/old", "file", b"old", 0o644), ("bin/tool", "file", b"new tool", 0o750),
                      ("bin/alias", "hardlink", "etc/other", 0o644), ("etc/passwd", "file", b"root:x:0:0", 0o644)])
    base1 = make_tar([("etc/.wh.gone", "file", b"", 0o644), ("opt/.wh..wh..opq", "file", b"", 0o644),
                      ("opt/fresh", "file", b"fresh", 0o644), ("etc/new", "file", b"new", 0o600)])
    app = make_tar([("app", "dir", None, 0o755), ("app/run", "file", b"#!/bin/tool\n", 0o755)])
    src = docker_archive(tmp_path / "src.tar", [base0, base1, app], {"Entrypoint": ["/app/run"]})
    startup = ["etc/passwd", "bin/alias", "bin/tool", "opt/fresh", "app/run"]
    prof = tmp_path / "p.json"
    _profile(startup).save(str(prof))
    out = tmp_path / "out"
    run_imgopt("minify", str(src), "--profile", str(prof), "--keep-all", "--layout", layout, "--base-layers", "2",
               "--compress", "estargz", "--verify", "none", "-q", "-o", f"oci:{out}:v1", check=True)
    extra = {esgz.TOC_NAME, esgz.PREFETCH, esgz.NO_PREFETCH}

    def listing(ref: str) -> dict:
        with open_image(ref) as img:
            t = from_image(img, hash_content=True)
        return {p: (n.kind.value, n.size, n.mode, n.digest) for p, n in t.walk() if p not in extra}

    assert listing(f"oci:{out}:v1") == listing(str(src))
    with open_image(f"oci:{out}:v1") as img:
        parsed = [esgz.check(l.open_blob().read()) for l in img.layers]
        assert len([h for h in img.config.raw["history"] if not h.get("empty_layer")]) == len(img.layers)
    assert [p for _, p in parsed] == [[]] * len(parsed)
    top = {p: max(i for i, (e, _) in enumerate(parsed) if p in e.files or p in e.tar_order) for p in startup}
    for p, i in top.items():
        pre = esgz.prefetched(parsed[i][0])
        assert pre is not None and p in pre, (p, i, parsed[i][0].tar_order)
    if layout == "keep-base":
        first = parsed[0][0].tar_order
        assert first.count("bin/tool") == 1 and parsed[0][0].files["bin/tool"] == b"new tool"
        assert first.index("etc/other") < first.index("bin/alias") < first.index(esgz.PREFETCH)
        assert first.index(esgz.PREFETCH) < first.index("etc/gone")  # not a startup file
        second = parsed[1][0].tar_order
        assert second.index("etc/.wh.gone") < second.index(esgz.PREFETCH)  # markers lead
    bundle = tmp_path / "bundle"
    p = subprocess.run([umoci, "unpack", "--image", f"{out}:v1", str(bundle)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    root = bundle / "rootfs"
    assert (root / "bin/tool").read_bytes() == b"new tool" and (root / "bin/alias").read_bytes() == b"other" * 100
    assert not (root / "etc/gone").exists() and not (root / "opt/old").exists()
    assert sorted(x.name for x in (root / "opt").iterdir()) == ["fresh"]
    assert (root / "opt").stat().st_mode & 0o777 == 0o700
