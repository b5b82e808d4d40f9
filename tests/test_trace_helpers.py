"""Shared helpers for the trace tests (real images, real sandboxes), and their own checks.

* :data:`build_apps` — the fixture builder (``fixtures/build_apps.py``);
* :func:`cases_image` — a small test image built FROM the pyweb fixture: a
  threaded Python HTTP server whose routes exercise dirfd-relative opens,
  cwd-relative opens, symlink chains, a fork/exec chain and a worker thread;
* :func:`slim_passes` — the hard completeness check: a rootfs holding only
  the traced files (plus parents and symlinks) must still pass the probes;
* leftover checks: processes, mounts, scratch directories.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
build_apps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_apps)  # type: ignore[union-attr]

CASES_TAG = "imgopt-test/trace-cases:latest"
CASES_PORT = 8090

CASES_SERVER = r'''
import http.server, os, socketserver, subprocess, sys, threading

D = "/srv/cases/data"


def dirfd():
    fd = os.open(D + "/sub", os.O_RDONLY | os.O_DIRECTORY)
    try:
        f = os.open("dirfd-only.txt", os.O_RDONLY, dir_fd=fd)          # openat(fd, "dirfd-only.txt")
        try:
            os.stat("missing-at-dirfd.txt", dir_fd=fd)                 # a failed dirfd-relative lookup
        except FileNotFoundError:
            pass
        data = os.read(f, 200).decode()
        os.close(f)
        return data
    finally:
        os.close(fd)


def cwd():
    os.chdir(D + "/sub")
    try:
        with open("cwd-only.txt") as f:                                # cwd-relative
            return f.read()
    finally:
        os.chdir("/")


def symlink():
    with open(D + "/link1") as f:                                      # link1 -> link2 -> real/target.txt
        a = f.read()
    with open(D + "/dirlink/through-dir.txt") as f:                    # dirlink -> real (a directory)
        return a + f.read()


def forkexec():
    return subprocess.run(["/bin/sh", "-c", "cat " + D + "/child.txt | head -c 200"],
                          capture_output=True, text=True, check=True).stdout


def thread():
    out = []
    t = threading.Thread(target=lambda: out.append(open(D + "/thread-only.txt").read()))
    t.start()
    t.join()
    return out[0]


def late():
    def later():
        import time
        time.sleep(0.3)
        open(D + "/late.txt").read()                                   # after the answer: after "ready"
    threading.Thread(target=later, daemon=True).start()
    return "later\n"


ROUTES = {"/": lambda: "trace-cases ok\n", "/dirfd": dirfd, "/cwd": cwd, "/symlink": symlink,
          "/forkexec": forkexec, "/thread": thread, "/late": late}


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        fn = ROUTES.get(self.path)
        body = (fn() if fn else "not found\n").encode()
        self.send_response(200 if fn else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


print("trace-cases listening", flush=True)
S(("0.0.0.0", int(os.environ.get("PORT", "8090"))), H).serve_forever()
'''

CASES_DOCKERFILE = f"""FROM {build_apps.image_tag("pyweb")}
COPY server.py /srv/cases/server.py
RUN mkdir -p /srv/cases/data/sub /srv/cases/data/real \\
 && echo "cases-dirfd ok" > /srv/cases/data/sub/dirfd-only.txt \\
 && echo "cases-cwd ok" > /srv/cases/data/sub/cwd-only.txt \\
 && echo "cases-target ok" > /srv/cases/data/real/target.txt \\
 && echo "cases-through-dir ok" > /srv/cases/data/real/through-dir.txt \\
 && ln -s real/target.txt /srv/cases/data/link2 && ln -s link2 /srv/cases/data/link1 \\
 && ln -s real /srv/cases/data/dirlink \\
 && echo "cases-child ok" > /srv/cases/data/child.txt \\
 && echo "cases-thread ok" > /srv/cases/data/thread-only.txt \\
 && echo "read late" > /srv/cases/data/late.txt \\
 && echo "never read" > /srv/cases/data/unused.txt
WORKDIR /srv/cases
EXPOSE {CASES_PORT}
ENTRYPOINT ["python3", "/srv/cases/server.py"]
"""

CASES_PROBES = [
    {"type": "http", "port": CASES_PORT, "path": "/", "expect_body": "trace-cases ok", "timeout": 60},
    {"type": "http", "port": CASES_PORT, "path": "/dirfd", "expect_body": "cases-dirfd ok", "timeout": 10},
    {"type": "http", "port": CASES_PORT, "path": "/cwd", "expect_body": "cases-cwd ok", "timeout": 10},
    {"type": "http", "port": CASES_PORT, "path": "/symlink", "expect_body": "cases-through-dir ok", "timeout": 10},
    {"type": "http", "port": CASES_PORT, "path": "/forkexec", "expect_body": "cases-child ok", "timeout": 10},
    {"type": "http", "port": CASES_PORT, "path": "/thread", "expect_body": "cases-thread ok", "timeout": 10},
]


def cases_image(cache: Path) -> Path:
    """Build (docker build, no network) and save the cases image; returns the archive."""
    build_apps.ensure_app("pyweb")
    key = hashlib.sha256((CASES_SERVER + CASES_DOCKERFILE).encode()).hexdigest()[:12]
    archive = cache / f"trace-cases-{key}.tar"
    if archive.exists():
        return archive
    ctx = cache / f"ctx-{key}"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    (ctx / "server.py").write_text(CASES_SERVER)
    (ctx / "Dockerfile").write_text(CASES_DOCKERFILE)
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    subprocess.run(["docker", "build", "--network", "none", "-q", "-t", CASES_TAG, str(ctx)], check=True,
                   capture_output=True, env=env, timeout=600)
    subprocess.run(["docker", "save", "-o", str(archive), CASES_TAG], check=True, capture_output=True, timeout=600)
    return archive


@pytest.fixture(scope="session")
def cases_archive(tmp_path_factory, docker_client) -> Path:
    path = cases_image(tmp_path_factory.mktemp("cases"))
    yield path
    try:
        docker_client.images.remove(CASES_TAG, force=True)
    except Exception:  # noqa: BLE001
        pass


def slim_passes(image, profile, probes, opts=None, workdir: Path | None = None):
    """Unpack only what ``profile`` says was touched; run the probes on it (native).  Returns the result."""
    from imgopt.image.unpack import unpack
    from imgopt.trace import TraceOptions, trace_rootfs
    from imgopt.trace.profile import traced_paths

    keep = traced_paths(profile)
    assert keep, "empty profile"
    root = (workdir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"slim-{os.getpid()}-{id(profile)}"
    try:
        unpack(image, str(root), keep=lambda p: p in keep)
        return trace_rootfs(str(root), image.config, probes, opts or TraceOptions(backend="native"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sandbox_processes(marker: str) -> list[str]:
    """Command lines of live processes mentioning ``marker``."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            out.append(f"{pid}: {cmd}")
    return out


def mounts_mentioning(marker: str) -> list[str]:
    return [l for l in Path("/proc/self/mountinfo").read_text().splitlines() if marker in l]


def test_cases_image_has_the_cases(cases_archive):
    """The test image itself: symlinks and files where the tests expect them."""
    from imgopt.image.filetree import from_image
    from imgopt.image.transports import open_image

    with open_image(str(cases_archive)) as img:
        tree = from_image(img)
    assert tree.get("srv/cases/data/link1").linkname == "link2"
    assert tree.get("srv/cases/data/link2").linkname == "real/target.txt"
    assert tree.get("srv/cases/data/dirlink").linkname == "real"
    assert tree.get("srv/cases/data/sub/dirfd-only.txt") is not None
