"""Whiteout and opaque semantics against what the Docker engine shows.

An image of hand-made layers covering the edge cases (opaque marker after
same-layer children, nested opaque dirs, whiteout of a directory, file <->
directory replacement, symlink replaced by a file, hardlinks, implicit
parents, recreated directories) is loaded into the real engine; `find` +
`stat` inside a container must list exactly the merged tree imgopt computes.
"""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from conftest import SAMPLE_TAR, docker_run, run_imgopt
from imgopt.image.filetree import from_image
from imgopt.image.transports import open_image
from imgopt.image.tarstream import Kind
from layoututil import docker_archive, make_tar

# the container runtime's own mounts and files (Docker's init layer)
RUNTIME = ("proc", "sys", "dev", "etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv", "etc/mtab")


def _busybox_layer() -> bytes:
    with tarfile.open(SAMPLE_TAR) as tf:
        import json

        first = json.load(tf.extractfile("manifest.json"))[0]["Layers"][0]
        return tf.extractfile(first).read()


def _layers() -> list[bytes]:
    F, D, S, H = "file", "dir", "symlink", "hardlink"
    l1 = make_tar([
        ("d1", D, None, 0o755), ("d1/f1", F, b"one", 0o644), ("d1/f2", F, b"two", 0o600),
        ("d1/sub", D, None, 0o750), ("d1/sub/g1", F, b"g" * 100, 0o644),
        ("d2", D, None, 0o755), ("d2/h1", F, b"h" * 10, 0o644), ("d2/h2", F, b"h2", 0o644),
        ("d3", D, None, 0o755), ("d3/x", F, b"x", 0o644), ("d3/y", F, b"yy", 0o644),
        ("f_to_dir", F, b"was a file", 0o644),
        ("dir_to_file", D, None, 0o755), ("dir_to_file/z", F, b"z" * 5, 0o644),
        ("link", S, "d2", 0o777),
        ("opq", D, None, 0o755), ("opq/a", D, None, 0o755), ("opq/a/deep1", F, b"deep", 0o644),
        ("opq/b", F, b"bee", 0o644),
        ("ws", D, None, 0o755), ("ws/keep", F, b"keep", 0o644), ("ws/gone", F, b"gone" * 10, 0o644),
    ])
    l2 = make_tar([
        ("d1", D, None, 0o755), ("d1/new1", F, b"new one", 0o644), ("d1/.wh..wh..opq", F, b"", 0o644),
        ("d2", D, None, 0o755), ("d2/.wh.h1", F, b"", 0o644),
        (".wh.d3", F, b"", 0o644),
        ("f_to_dir", D, None, 0o711), ("f_to_dir/inner", F, b"inner", 0o644),
        ("dir_to_file", F, b"now a file", 0o640),
        ("link", F, b"not a link any more", 0o644),
        ("hl_src", F, b"hard" * 25, 0o644), ("hl_link", H, "hl_src", 0o644),
        ("opq", D, None, 0o755), ("opq/.wh..wh..opq", F, b"", 0o644), ("opq/a", D, None, 0o700),
        ("opq/a/new", F, b"new", 0o644),
        ("ws", D, None, 0o755), ("ws/.wh.gone", F, b"", 0o644),
        ("newdir/deep/er/file", F, b"implicit parents", 0o644),
    ])
    l3 = make_tar([
        ("d1", D, None, 0o755), ("d1/new1", F, b"newer one!", 0o644),
        (".wh.newdir", F, b"", 0o644),
        ("d3", D, None, 0o705), ("d3/again", F, b"again", 0o644),
        ("opq", D, None, 0o755), ("opq/a", D, None, 0o700), ("opq/a/new", F, b"replaced", 0o644),
    ])
    return [_busybox_layer(), l1, l2, l3]


@pytest.fixture(scope="module")
def edge_image(tmp_path_factory, docker_client):
    d = tmp_path_factory.mktemp("edge")
    layers = _layers()
    archive = docker_archive(d / "edge.tar", layers, {"Entrypoint": ["/bin/busybox"], "Env": ["PATH=/bin"]},
                             ["imgopt-test/edge:latest"])
    subprocess.run(["docker", "load", "-i", str(archive)], check=True, capture_output=True)
    yield archive
    docker_client.images.remove("imgopt-test/edge:latest", force=True)


def _docker_listing() -> dict[str, tuple]:
    out = docker_run("imgopt-test/edge:latest", "sh", "-c",
                     "find / -xdev ! -path / -exec stat -c '%n|%F|%s|%a' {} +", entrypoint="/bin/busybox")
    got = {}
    for line in out.splitlines():
        name, ftype, size, mode = line.rsplit("|", 3)
        rel = name.lstrip("/")
        if rel.startswith(RUNTIME):
            continue
        kind = {"regular file": "file", "regular empty file": "file", "directory": "dir",
                "symbolic link": "symlink"}[ftype]
        got[rel] = (kind, int(size) if kind == "file" else None, int(mode, 8) if kind != "symlink" else None)
    return got


def _imgopt_listing(archive) -> dict[str, tuple]:
    with open_image(str(archive)) as img:
        tree = from_image(img)
    got = {}
    for p, n in tree.walk():
        if p.startswith(RUNTIME):
            continue
        kind = "file" if n.kind in (Kind.FILE, Kind.HARDLINK) else n.kind.value
        got[p] = (kind, n.size if kind == "file" else None, n.mode & 0o7777 if kind != "symlink" else None)
    return got


@pytest.mark.docker
def test_merged_tree_matches_docker(edge_image):
    docker = _docker_listing()
    ours = _imgopt_listing(edge_image)
    only_docker = sorted(set(docker) - set(ours))
    only_ours = sorted(set(ours) - set(docker))
    assert not only_docker and not only_ours, (only_docker, only_ours)
    diff = {p: (docker[p], ours[p]) for p in docker if docker[p] != ours[p]}
    assert not diff, diff
    # and the cases are really there
    assert ours["d1/new1"][1] == len(b"newer one!") and "d1/f1" not in ours
    assert "d1/sub" not in ours and "d2/h1" not in ours and "d2/h2" in ours
    assert ours["d3"][2] == 0o705 and "d3/x" not in ours
    assert ours["f_to_dir"][0] == "dir" and ours["dir_to_file"][0] == "file"
    assert sorted(p for p in ours if p.startswith("opq/")) == ["opq/a", "opq/a/new"]
    assert "newdir" not in ours and ours["hl_link"][1] == 100


def test_hidden_bytes_are_exact(edge_image):
    """Every byte stored but invisible is accounted for once, with its reason."""
    with open_image(str(edge_image)) as img:
        tree = from_image(img)
    stored = sum(ch.file_bytes for ch in tree.layers)
    visible_stored = sum(n.size for _, n in tree.walk() if n.kind is Kind.FILE)
    assert stored - visible_stored == sum(h.size for h in tree.hidden)
    reasons = {h.path: h.reason.value for h in tree.hidden}
    assert reasons["d1/f1"] == "opaque" and reasons["d1/sub/g1"] == "opaque"
    assert reasons["d2/h1"] == "deleted" and reasons["d3/y"] == "deleted"
    assert reasons["f_to_dir"] == "replaced" and reasons["dir_to_file/z"] == "replaced"
    assert reasons["opq/a/deep1"] == "opaque" and reasons["opq/b"] == "opaque"
    assert reasons["newdir/deep/er/file"] == "deleted"
    assert reasons["opq/a/new"] == "overwritten"


def test_sample_fixture_matches_docker(docker_client):
    """The committed fixture, too: imgopt's merged view == the container's."""
    subprocess.run(["docker", "load", "-i", str(SAMPLE_TAR)], check=True, capture_output=True)
    out = docker_run("imgopt-sample:latest", "sh", "-c", "find / -xdev ! -path / -type f -exec stat -c '%n|%s' {} +",
                     entrypoint="/bin/busybox")
    docker = {l.rsplit("|", 1)[0].lstrip("/"): int(l.rsplit("|", 1)[1]) for l in out.splitlines()
              if not l.lstrip("/").startswith(RUNTIME)}
    with open_image(str(SAMPLE_TAR)) as img:
        tree = from_image(img)
    ours = {p: n.size for p, n in tree.files() if not p.startswith(RUNTIME)}
    assert docker == ours
    assert run_imgopt("inspect", str(SAMPLE_TAR)).returncode == 0
