"""Round trips across every local source -> sink pair, validated by real tools.

Sources: docker-archive (Docker 25+ layout, the committed fixture),
docker-archive (classic, made by the engine's `docker save`), oci (zstd),
oci (gzip), oci-archive, docker-daemon.  Sinks: docker-archive, oci,
oci-archive, docker-daemon.  Every output is read back by imgopt and checked
by an independent consumer: `docker load` + `docker run`, `skopeo inspect`,
`umoci unpack`.  (Registry pairs are in test_registry.py.)
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import SAMPLE_TAR, SAMPLE_ZSTD, docker_load, docker_run, run_imgopt
from imgopt.image.filetree import from_image
from imgopt.image.transports import open_image

SAMPLE_TAG = "imgopt-test/sample:latest"


def _tree_listing(ref: str) -> list[tuple]:
    with open_image(ref) as img:
        t = from_image(img, hash_content=True)
    return [(p, n.kind.value, n.size, n.mode & 0o7777, n.digest, n.linkname) for p, n in t.walk()]


@pytest.fixture(scope="module")
def reference():
    with open_image(str(SAMPLE_TAR)) as img:
        return {"diff_ids": img.config.diff_ids, "config": img.config_digest,
                "tree": _tree_listing(str(SAMPLE_TAR))}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, docker_client):
    """Every kind of local source, made from the committed fixture."""
    d = tmp_path_factory.mktemp("sources")
    subprocess.run(["docker", "load", "-i", str(SAMPLE_TAR)], check=True, capture_output=True)
    subprocess.run(["docker", "tag", "imgopt-sample:latest", SAMPLE_TAG], check=True)
    classic = d / "classic.tar"
    subprocess.run(["docker", "save", "-o", str(classic), SAMPLE_TAG], check=True)
    run_imgopt("copy", "-q", "--compress", "gzip", str(SAMPLE_TAR), f"oci:{d / 'oci-gzip'}:v1", check=True)
    run_imgopt("copy", "-q", str(SAMPLE_TAR), f"oci-archive:{d / 'oci.tar'}:v1", check=True)
    yield {
        "docker-archive-25": str(SAMPLE_TAR),
        "docker-archive-classic": f"docker-archive:{classic}",
        "oci-zstd": f"oci:{SAMPLE_ZSTD}:latest",
        "oci-gzip": f"oci:{d / 'oci-gzip'}:v1",
        "oci-archive": f"oci-archive:{d / 'oci.tar'}:v1",
        "docker-daemon": f"docker-daemon:{SAMPLE_TAG}",
    }
    docker_client.images.remove(SAMPLE_TAG, force=True)


def test_classic_docker_save_is_classic(sources):
    """The engine here writes the classic layout, so both layouts are covered."""
    import tarfile

    path = sources["docker-archive-classic"].split(":", 1)[1]
    with tarfile.open(path) as tf:
        names = tf.getnames()
    assert any(n.endswith("/layer.tar") for n in names)
    with tarfile.open(SAMPLE_TAR) as tf:
        assert "oci-layout" in tf.getnames() and any(n.startswith("blobs/sha256/") for n in tf.getnames())


@pytest.mark.parametrize("src", ["docker-archive-25", "docker-archive-classic", "oci-zstd", "oci-gzip",
                                 "oci-archive", "docker-daemon"])
def test_sources_read_the_same_image(sources, reference, src):
    ref = sources[src]
    with open_image(ref) as img:
        assert img.config.diff_ids == reference["diff_ids"]
        assert img.config.entrypoint == ["/bin/busybox", "httpd", "-f", "-v"]
        assert [h.instruction.split()[0] for h in img.layer_history()] == ["ADD", "RUN", "COPY", "COPY", "RUN"]
    assert _tree_listing(ref) == reference["tree"]


SINKS = ["docker-archive", "oci", "oci-archive", "docker-daemon"]


@pytest.mark.docker
@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("src", ["docker-archive-25", "docker-archive-classic", "oci-zstd", "oci-gzip",
                                 "oci-archive", "docker-daemon"])
def test_round_trip(sources, reference, tmp_path, sink, src, unique, docker_image_cleanup, skopeo, umoci):
    ref = sources[src]
    with open_image(ref) as img:
        src_layers = [(l.digest, l.compression.value) for l in img.layers]
    if sink == "docker-archive":
        dest = f"docker-archive:{tmp_path / 'out.tar'}:imgopt-test/rt-{unique}:v1"
    elif sink == "oci":
        dest = f"oci:{tmp_path / 'layout'}:v1"
    elif sink == "oci-archive":
        dest = f"oci-archive:{tmp_path / 'oci.tar'}:v1"
    else:
        dest = f"docker-daemon:imgopt-test/rt-{unique}:v1"
    p = run_imgopt("copy", "-q", ref, dest)
    assert p.returncode == 0, p.stderr
    assert not list(tmp_path.glob(".*.part")), "temporary files left behind"

    # read back: same diffIDs, same merged filesystem
    with open_image(dest) as out:
        assert out.config.diff_ids == reference["diff_ids"]
        out_layers = [(l.digest, l.compression.value) for l in out.layers]
    # compressed layers keep their digests; uncompressed ones are gzipped for OCI layouts
    for (sd, sc), (od, oc) in zip(src_layers, out_layers):
        if sink in ("oci", "oci-archive") and sc == "none":
            assert oc == "gzip"
        elif sink != "docker-daemon":
            assert (od, oc) == (sd, sc)
    assert _tree_listing(dest) == reference["tree"]

    # independent consumers
    if sink == "docker-archive":
        tag = f"imgopt-test/rt-{unique}:v1"
        docker_image_cleanup.append(tag)
        docker_load(tmp_path / "out.tar")
        assert docker_run(tag, "/app/config.txt", entrypoint="/bin/cat").startswith("mode=production")
    elif sink == "docker-daemon":
        tag = f"imgopt-test/rt-{unique}:v1"
        docker_image_cleanup.append(tag)
        assert "fresh.txt" in docker_run(tag, "/app/data", entrypoint="/bin/ls")
    else:
        oref = f"{sink}:{tmp_path / ('layout' if sink == 'oci' else 'oci.tar')}:v1"
        info = json.loads(subprocess.run([skopeo, "inspect", oref], check=True, capture_output=True,
                                         text=True).stdout)
        assert info["Layers"] == [d for d, _ in out_layers]
        assert info["Architecture"] == "amd64"
        if sink == "oci" and all(c != "zstd" for _, c in out_layers):  # Debian's umoci 0.4 lacks zstd
            bundle = tmp_path / "bundle"
            subprocess.run([umoci, "unpack", "--image", f"{tmp_path / 'layout'}:v1", str(bundle)],
                           check=True, capture_output=True)
            rootfs = bundle / "rootfs"
            assert (rootfs / "app/config.txt").read_text().startswith("mode=production")
            assert not (rootfs / "app/build.log").exists()
            assert sorted(p.name for p in (rootfs / "app/data").iterdir()) == ["fresh.txt"]


@pytest.mark.parametrize("codec", ["gzip", "zstd", "none"])
def test_recompression_keeps_diff_ids(tmp_path, reference, codec):
    out = tmp_path / f"{codec}.tar"
    run_imgopt("copy", "-q", "--compress", codec, "--level", "1" if codec != "none" else "", str(SAMPLE_TAR),
               f"oci-archive:{out}", check=True) if codec != "none" else \
        run_imgopt("copy", "-q", "--compress", codec, str(SAMPLE_TAR), f"oci-archive:{out}", check=True)
    with open_image(f"oci-archive:{out}") as img:
        assert img.config.diff_ids == reference["diff_ids"]
        assert {l.compression.value for l in img.layers} == {codec}
        want = {"gzip": "tar+gzip", "zstd": "tar+zstd", "none": "v1.tar"}[codec]
        assert all(l.descriptor.media_type.endswith(want) for l in img.layers)


def test_copy_is_deterministic(tmp_path):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    for p in (a, b):
        run_imgopt("copy", "-q", "--compress", "gzip", str(SAMPLE_TAR), f"oci-archive:{p}", check=True)
    assert a.read_bytes() == b.read_bytes()


def test_oci_layout_holds_several_tags(tmp_path):
    lay = tmp_path / "lay"
    run_imgopt("copy", "-q", str(SAMPLE_TAR), f"oci:{lay}:one", check=True)
    run_imgopt("copy", "-q", "--compress", "zstd", str(SAMPLE_TAR), f"oci:{lay}:two", check=True)
    idx = json.loads((lay / "index.json").read_text())
    assert sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in idx["manifests"]) == ["one", "two"]
    with open_image(f"oci:{lay}:two") as img:
        assert img.layers[0].compression.value == "zstd"
    p = run_imgopt("inspect", f"oci:{lay}")
    assert p.returncode == 2 and "holds 2 images (tags: one, two); add :TAG" in p.stderr


def test_inspect_json_and_text(cli):
    code, out, err = cli("inspect", "--format", "json", str(SAMPLE_TAR))
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "imgopt.inspect/v1"
    assert [l["instruction"].split()[0] for l in doc["layers"]] == ["ADD", "RUN", "COPY", "COPY", "RUN"]
    assert doc["exposed_ports"] == ["8080/tcp"]
    assert sum(l["size"] for l in doc["layers"]) == doc["total_size"]
    code, out, err = cli("inspect", "--deep", f"oci:{SAMPLE_ZSTD}")
    assert code == 0 and "zstd" in out and "uncompressed" in out


def test_platform_selection_from_index(tmp_path):
    """An OCI index with two platforms: --platform picks, a missing one is an error."""
    from layoututil import Layout

    lay = tmp_path / "multi"
    run_imgopt("copy", "-q", str(SAMPLE_TAR), f"oci:{lay}:x", check=True)
    L = Layout(lay)
    man = L.manifest
    cfg = L.config
    cfg["architecture"] = "arm64"
    cfg["variant"] = "v8"
    raw_cfg = json.dumps(cfg).encode()
    man_arm = dict(man, config=dict(man["config"], digest=L.put(raw_cfg), size=len(raw_cfg)))
    raw_arm = json.dumps(man_arm).encode()
    amd = dict(L.manifest_desc)
    amd.pop("annotations", None)
    amd["platform"] = {"os": "linux", "architecture": "amd64"}
    arm = {"mediaType": amd["mediaType"], "digest": L.put(raw_arm), "size": len(raw_arm),
           "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [amd, arm]}).encode()
    (lay / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": L.put(index),
                       "size": len(index), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    with open_image(f"oci:{lay}:multi") as img:  # default: the host (amd64)
        assert img.config.architecture == "amd64"
    from imgopt.image.model import Platform
    from imgopt.image.transports import SourceOptions

    with open_image(f"oci:{lay}:multi", SourceOptions(platform=Platform.parse("linux/arm64"))) as img:
        assert img.config.architecture == "arm64"
    p = run_imgopt("inspect", "--platform", "linux/s390x", f"oci:{lay}:multi")
    assert p.returncode == 2
    assert "no image for platform linux/s390x" in p.stderr and "linux/arm64/v8" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_every_transport_prefix_is_known_without_importing_it():
    """parse() matches references against PREFIXES so that a file reference imports no registry client;
    the table must say what each transport class says."""
    from imgopt.image.transports import PREFIXES, TRANSPORTS, transport

    assert set(PREFIXES) == set(TRANSPORTS)
    for name in TRANSPORTS:
        assert PREFIXES[name] == transport(name).prefix, name


def test_a_file_reference_does_not_import_the_registry_client(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from imgopt.image.transports import parse; parse('docker-archive:x.tar'); "
            "print('requests' in sys.modules, 'imgopt.image.registry_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
