"""kill -9 at any point of copy and minify: no partial output at the destination, and the next run
removes what the killed one left (scratch and temporary files carry their owner's pid: imgopt.scratch).

Each test starts a real ``imgopt`` process on an image big enough to take seconds,
watches the destination's directory until the run reaches a point (its scratch
appears, a layer or blob being written has passed N bytes), SIGKILLs it there, and
checks: the destination does not exist; what was left is tagged with the dead
pid; the same command run again succeeds, writes a valid image and leaves no
stale entry behind -- in the destination's directory and in $TMPDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import IMGOPT, run_imgopt
from layoututil import docker_archive, make_tar

MB = 1 << 20


@pytest.fixture(scope="module")
def big_image(tmp_path_factory) -> Path:
    """A docker archive of two 24 MB layers of incompressible bytes (gzip takes seconds)."""
    d = tmp_path_factory.mktemp("kill9-src")
    layers = [make_tar([(f"data/{i}.bin", "file", os.urandom(24 * MB), 0o644)]) for i in range(2)]
    return docker_archive(d / "big.tar", layers, {"Entrypoint": ["/data/0.bin"]})


def _entries(d: Path) -> list[str]:
    return sorted(os.listdir(d)) if d.exists() else []


def _sizes(d: Path) -> dict[str, int]:
    out = {}
    for root, _dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                out[os.path.relpath(p, d)] = os.lstat(p).st_size
            except FileNotFoundError:
                pass
    return out


def _kill_when(argv: list[str], watch: Path, point, env: dict[str, str], timeout: float = 120) -> int:
    """Start imgopt, SIGKILL it when ``point(watch)`` holds; returns the dead pid."""
    p = subprocess.Popen([IMGOPT, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise AssertionError(f"imgopt finished (exit {p.returncode}) before the kill point: "
                                     f"{p.stderr.read().decode()[-500:] if p.stderr else ''}")
            if point(watch):
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                assert p.returncode == -signal.SIGKILL
                return p.pid
            time.sleep(0.005)
        raise AssertionError("the kill point was never reached")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _has(prefix: str, min_bytes: int = 0):
    """A kill point: an entry starting with ``prefix`` exists (holding a file of >= min_bytes)."""
    def point(d: Path) -> bool:
        for name in _entries(d):
            if name.startswith(prefix):
                if not min_bytes:
                    return True
                p = d / name
                sizes = _sizes(p).values() if p.is_dir() else [p.stat().st_size]
                if any(s >= min_bytes for s in sizes):
                    return True
        return False
    return point


def _env(tmp: Path) -> dict[str, str]:
    (tmp / "tmpdir").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp / "tmpdir"), "IMGOPT_CACHE": "off"}


def _check_killed_then_rerun(argv: list[str], out: Path, dest: Path, dest_ref: str, pid: int, env: dict) -> None:
    assert not dest.exists(), f"partial output at the destination: {dest}"
    left = [n for n in _entries(out) + _entries(Path(env["TMPDIR"])) if f"pid{pid}-" in n]
    assert left, f"the kill point left nothing of pid {pid} (was the run really cut mid-way?): {_entries(out)}"
    # a live owner's scratch in the same directory must survive the cleanup
    from imgopt.scratch import owner_tag

    live = out / f".imgopt-work-{owner_tag()}-live"
    live.mkdir()
    p = run_imgopt(*argv, env=env)
    assert p.returncode == 0, p.stderr
    assert dest.exists()
    assert run_imgopt("inspect", "--deep", "-q", dest_ref, env=env).returncode == 0
    stale = [n for n in _entries(out) + _entries(Path(env["TMPDIR"])) if f"pid{pid}-" in n]
    assert not stale, f"the next run left the killed run's scratch: {stale}"
    assert sorted(_entries(out)) == sorted([dest.name, live.name]), _entries(out)
    assert _entries(Path(env["TMPDIR"])) == []


@pytest.mark.parametrize("point", [
    ("recompress starts", ".imgopt-work-", 0),
    ("recompress half way", ".imgopt-work-", 10 * MB),
    ("layout being written", ".dest.imgopt-", 0),
    ("a blob half written", ".dest.imgopt-", 6 * MB),
], ids=lambda p: p[0].replace(" ", "-"))
def test_copy_to_oci_killed(big_image, tmp_path, point):
    _, prefix, nbytes = point
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    argv = ["copy", "-q", "--compress", "gzip", f"docker-archive:{big_image}", f"oci:{out / 'dest'}:v1"]
    pid = _kill_when(argv, out, _has(prefix, nbytes), env)
    _check_killed_then_rerun(argv, out, out / "dest", f"oci:{out / 'dest'}:v1", pid, env)


@pytest.mark.parametrize("point", [("archive half written", ".dest.tar.imgopt-", 16 * MB),
                                   ("recompress half way", ".imgopt-work-", 8 * MB)],
                         ids=lambda p: p[0].replace(" ", "-"))
def test_copy_to_docker_archive_killed(big_image, tmp_path, point):
    _, prefix, nbytes = point
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    compress = "zstd" if prefix == ".imgopt-work-" else "keep"
    argv = ["copy", "-q", "--compress", compress, f"docker-archive:{big_image}", f"docker-archive:{out / 'dest.tar'}"]
    pid = _kill_when(argv, out, _has(prefix, nbytes), env)
    _check_killed_then_rerun(argv, out, out / "dest.tar", f"docker-archive:{out / 'dest.tar'}", pid, env)


@pytest.mark.parametrize("point", [("scratch made", ".imgopt-minify-", 0),
                                   ("a layer half written", ".imgopt-minify-", 6 * MB),
                                   ("output being written", ".dest.imgopt-", 0)],
                         ids=lambda p: p[0].replace(" ", "-"))
def test_minify_killed(big_image, tmp_path, point):
    _, prefix, nbytes = point
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    argv = ["minify", "--keep-all", "--verify", "none", "-q", "-o", f"oci:{out / 'dest'}:v1", str(big_image)]
    pid = _kill_when(argv, out, _has(prefix, nbytes), env)
    _check_killed_then_rerun(argv, out, out / "dest", f"oci:{out / 'dest'}:v1", pid, env)


def test_copy_into_an_existing_layout_killed(big_image, tmp_path):
    """Adding an image to a layout that exists: a kill leaves no half blob, and the layout stays readable."""
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    lay = out / "lay"
    run_imgopt("copy", "-q", "--compress", "gzip", str(Path(__file__).parent.parent / "fixtures" / "sample.tar"),
               f"oci:{lay}:sample", check=True, env=env)
    argv = ["copy", "-q", "--compress", "gzip", f"docker-archive:{big_image}", f"oci:{lay}:big"]
    blobs = lay / "blobs" / "sha256"
    pid = _kill_when(argv, blobs, _has(".", 6 * MB), env)
    assert run_imgopt("inspect", "--deep", "-q", f"oci:{lay}:sample", env=env).returncode == 0
    assert run_imgopt("inspect", "-q", f"oci:{lay}:big", env=env).returncode == 2  # not there: never half there
    assert any(f"pid{pid}-" in n for n in _entries(blobs))
    assert run_imgopt(*argv, env=env).returncode == 0
    assert not any(f"pid{pid}-" in n for n in _entries(blobs))
    assert run_imgopt("inspect", "--deep", "-q", f"oci:{lay}:big", env=env).returncode == 0


def test_slim_killed_while_minifying(tmp_path):
    """slim = trace, then minify: killed once its minify scratch exists, the next slim cleans it up."""
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path)
    sample = Path(__file__).parent.parent / "fixtures" / "sample.tar"
    argv = ["slim", "--verify", "none", "--timeout", "120", "-q", "-o", f"oci:{out / 'dest'}:v1", str(sample)]
    pid = _kill_when(argv, out, _has(".imgopt-minify-"), env, timeout=300)
    _check_killed_then_rerun(argv, out, out / "dest", f"oci:{out / 'dest'}:v1", pid, env)
