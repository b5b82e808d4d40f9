"""imgopt.image.unpack: the merged filesystem on disk, as the engine makes it, and safely.

Checked against ``docker export`` of a container of the same image (the
engine's overlay2 view), on hand-made edge-case layers and a real app image;
hostile layer tars must never write outside the destination.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import SAMPLE_TAR
from imgopt.errors import BadInput
from imgopt.image.transports import open_image
from imgopt.image.unpack import unpack
from layoututil import make_tar
from test_filetree_docker import RUNTIME, _layers



def _archive(path: Path, layers: list[bytes], tag: str = "imgopt-test/unpack:latest") -> Path:
    """A docker-archive of hand-made layers."""
    from layoututil import docker_archive

    return docker_archive(path, layers, {"Entrypoint": ["/bin/busybox"], "Env": ["PATH=/bin"]}, [tag])


def _export_listing(image: str) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, size, link target, sha256) from `docker export`."""
    cid = subprocess.run(["docker", "create", image], check=True, capture_output=True, text=True).stdout.strip()
    try:
        p = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        out: dict[str, tuple] = {}
        links: dict[str, str] = {}
        with tarfile.open(fileobj=p.stdout, mode="r|") as tf:
            for m in tf:
                name = m.name.strip("/").removeprefix("./")
                if not name or name.startswith(RUNTIME):
                    continue
                if m.islnk():  # the export writes the second name of a hardlinked file as a link
                    links[name] = m.linkname.strip("/")
                    continue
                digest = hashlib.sha256(tf.extractfile(m).read()).hexdigest() if m.isfile() else None
                kind = "file" if m.isfile() else "dir" if m.isdir() else "symlink" if m.issym() else "other"
                out[name] = (kind, m.mode & 0o7777 if kind != "symlink" else None, m.uid, m.gid,
                             m.size if kind == "file" else None, m.linkname if kind == "symlink" else None, digest)
        p.wait()
        for name, target in links.items():
            out[name] = out[target]
        return out
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def _disk_listing(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if rel.startswith(RUNTIME):
                continue
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size, None, digest)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, None, None)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", None, st.st_uid, st.st_gid, None, os.readlink(p), None)
            else:
                out[rel] = ("other", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None, None, None)
    return out


def _same_as_export(image: str, root: Path) -> None:
    docker, ours = _export_listing(image), _disk_listing(root)
    only_docker = sorted(set(docker) - set(ours))
    only_ours = sorted(set(ours) - set(docker))
    assert not only_docker and not only_ours, (only_docker[:20], only_ours[:20])
    diff = {p: (docker[p], ours[p]) for p in docker if docker[p] != ours[p]}
    assert not diff, dict(list(diff.items())[:20])


@pytest.mark.docker
def test_edge_layers_unpack_like_the_engine(tmp_path, docker_client):
    archive = _archive(tmp_path / "edge.tar", _layers(), "imgopt-test/unpack-edge:latest")
    subprocess.run(["docker", "load", "-i", str(archive)], check=True, capture_output=True)
    try:
        with open_image(str(archive)) as img:
            res = unpack(img, str(tmp_path / "root"))
        _same_as_export("imgopt-test/unpack-edge:latest", tmp_path / "root")
    finally:
        docker_client.images.remove("imgopt-test/unpack-edge:latest", force=True)
    root = tmp_path / "root"
    # the cases are really there: opaque, whiteouts, file<->dir, hardlinks share an inode
    assert sorted(os.listdir(root / "d1")) == ["new1"] and not (root / "d3" / "x").exists()
    assert (root / "f_to_dir").is_dir() and (root / "dir_to_file").is_file()
    assert os.stat(root / "hl_link").st_ino == os.stat(root / "hl_src").st_ino
    assert res.hardlinks == 1 and not res.problems


@pytest.mark.slow
@pytest.mark.docker
def test_real_app_unpacks_like_the_engine(tmp_path, docker_client):
    from test_trace_apps import build_apps

    archive = build_apps.ensure_app("pyweb")
    with open_image(str(archive)) as img:
        res = unpack(img, str(tmp_path / "root"))
    assert res.files > 5000 and res.symlinks > 500
    _same_as_export(build_apps.image_tag("pyweb"), tmp_path / "root")


def test_sample_whiteouts_opaque_hardlinks(tmp_path):
    with open_image(str(SAMPLE_TAR)) as img:
        res = unpack(img, str(tmp_path / "r"))
    r = tmp_path / "r"
    assert (r / "app/config.txt").read_text() == "mode=production\nworkers=2\n"
    assert not (r / "app/build.log").exists()  # whiteout
    assert sorted(os.listdir(r / "app/data")) == ["fresh.txt"]  # opaque dir
    assert os.stat(r / "var/www/index-copy.html").st_ino == os.stat(r / "var/www/index.html").st_ino
    assert os.readlink(r / "bin/sh") == "busybox" and os.readlink(r / "usr/bin/env") == "../../bin/busybox"
    assert stat.S_IMODE(os.stat(r / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(r / "root").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(r / "var/www/cgi-bin/status").st_mode) == 0o755
    assert os.stat(r / "bin/busybox").st_mtime == 1700000000
    inodes = {os.lstat(os.path.join(d, f)).st_ino: os.lstat(os.path.join(d, f)).st_size
              for d, _, fs in os.walk(r) for f in fs if not os.path.islink(os.path.join(d, f))}
    assert res.bytes == sum(inodes.values())  # content written once per inode


def test_keep_writes_only_the_selection_and_parents(tmp_path):
    keep = {"/bin/sh", "/app/config.txt", "/var/www/index-copy.html", "/tmp"}
    with open_image(str(SAMPLE_TAR)) as img:
        unpack(img, str(tmp_path / "r"), keep=lambda p: p in keep)
    r = tmp_path / "r"
    got = sorted(os.path.relpath(os.path.join(d, n), r) for d, ds, fs in os.walk(r) for n in ds + fs)
    assert got == ["app", "app/config.txt", "bin", "bin/sh", "tmp", "var", "var/www", "var/www/index-copy.html"]
    # a kept hardlink gets its content even though the other name is not kept
    assert b"imgopt-sample ok" in (r / "var/www/index-copy.html").read_bytes()
    assert os.path.islink(r / "bin/sh") and not (r / "bin/busybox").exists()  # kept literally: a dangling link
    assert stat.S_IMODE(os.stat(r / "tmp").st_mode) == 0o1777


def test_destination_must_be_empty(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with open_image(str(SAMPLE_TAR)) as img, pytest.raises(BadInput, match="not empty"):
        unpack(img, str(tmp_path / "d"))


def test_hostile_layers_never_write_outside(tmp_path):
    """'..', absolute names, symlinked parents and hardlinks out: all stay inside dest."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_text("host secret")
    F, D, S, H = "file", "dir", "symlink", "hardlink"
    depth = "../" * 12
    l0 = make_tar([
        ("etc", D, None, 0o755),
        ("up", S, depth + str(outside).lstrip("/"), 0o777),  # relative, climbing out
        ("abs", S, str(outside), 0o777),  # absolute, to the host dir
        ("up/pwned-same-layer", F, b"x", 0o644),
        (depth + "escape-dotdot", F, b"x", 0o644),
        (str(outside / "escape-abs"), F, b"x", 0o644),
        ("hl", H, depth + str(secret).lstrip("/"), 0o644),
    ])
    l1 = make_tar([
        ("abs/pwned-next-layer", F, b"x", 0o644),
        ("etc/link", S, str(outside), 0o777),
        ("etc/link/pwned-through-link", F, b"x", 0o644),
    ])
    archive = _archive(tmp_path / "evil.tar", [l0, l1])
    dest = tmp_path / "dest"
    with open_image(str(archive)) as img:
        res = unpack(img, str(dest))
    assert sorted(os.listdir(outside)) == ["secret"]
    assert secret.read_text() == "host secret" and os.stat(secret).st_nlink == 1
    for d, ds, fs in os.walk(dest):
        for n in ds + fs:
            p = os.path.join(d, n)
            assert os.path.realpath(os.path.dirname(p)).startswith(str(dest)), p
    # names were clamped into the rootfs, as the engine does
    assert (dest / "escape-dotdot").is_file()
    assert (dest / str(outside).lstrip("/") / "escape-abs").is_file()
    assert res.problems  # and reported


def test_tar_of_builds_a_layer_the_reader_sees_as_given():
    """imgopt.image.mutate.tar_of (the scale fixture's and calibrate's layers): files in the order given, each
    parent directory once before its first entry, (path, None) a whiteout of that path, deterministic."""
    import io

    from imgopt.image.mutate import tar_of
    from imgopt.image.tarstream import Kind, iter_entries

    files = [("usr/lib/a.so", b"\x7fELF" * 8), ("usr/lib/b.so", b"b"), ("etc/gone", None), ("usr/bin/x", b""),
             ("top", None)]
    tar = tar_of(files, mtime=7, mode=0o755)
    got = [(e.path, e.kind, e.size, e.mode & 0o7777, e.mtime, e.target)
           for e, _, _ in iter_entries(io.BytesIO(tar), "tar_of")]
    assert got == [("usr", Kind.DIR, 0, 0o755, 7, ""), ("usr/lib", Kind.DIR, 0, 0o755, 7, ""),
                   ("usr/lib/a.so", Kind.FILE, 32, 0o755, 7, ""), ("usr/lib/b.so", Kind.FILE, 1, 0o755, 7, ""),
                   ("etc", Kind.DIR, 0, 0o755, 7, ""), ("etc/.wh.gone", Kind.WHITEOUT, 0, 0o755, 7, "etc/gone"),
                   ("usr/bin", Kind.DIR, 0, 0o755, 7, ""), ("usr/bin/x", Kind.FILE, 0, 0o755, 7, ""),
                   (".wh.top", Kind.WHITEOUT, 0, 0o755, 7, "top")]
    assert tar_of(files, mtime=7, mode=0o755) == tar
    assert tar_of(files) != tar
