"""Escape tests: a real image whose entrypoint tries every way out, under both trace backends.

The image is the pyweb fixture (Debian bookworm + python3) with
tests/escape/escape.py as its entrypoint.  Each attempt is judged twice: from
inside (the entrypoint's report says what succeeded) and from outside (the
host's sysctls, a canary file, leftover cgroups, containers, scratch
directories).  Root and Docker are required: without them these tests fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import IMGOPT
from imgopt.image.transports import open_image
from imgopt.trace import TraceOptions, parse_probes, trace_image, trace_rootfs
from imgopt.trace.runspec import Overrides

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SYSCTLS = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
           "/proc/sys/vm/overcommit_memory")
EXIT_PROBE = [{"type": "exit", "expect_exit": 0, "timeout": 120}]
# What may succeed, per backend, and why (docs/trace.md, "Sandbox"): in the docker backend PID 1 is the
# tracer (strace), whose memory the app can read with the CAP_SYS_PTRACE strace needs; it gives the app
# nothing it does not have (same capabilities, same seccomp filter, same container).
ALLOWED = {"native": set(), "docker": {"proc1-mem"}}


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the escape tests need root (cgroups, the docker backend's network namespace)")


def _escape_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("escape_image", HERE / "escape" / "image.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="module")
def escape_image(docker_client):
    """The escape image in the engine (built FROM the pyweb fixture), its docker archive, an unpacked rootfs."""
    _require_root()
    tag, archive = _escape_builder().ensure()
    work = tempfile.mkdtemp(prefix="imgopt-escape-rootfs-")
    try:
        from imgopt.image.unpack import unpack

        with open_image(f"docker-archive:{archive}") as img:
            unpack(img, os.path.join(work, "rootfs"))
            config = img.config
        yield {"tag": tag, "archive": archive, "rootfs": Path(work) / "rootfs", "config": config}
    finally:
        from imgopt.trace.scratch import rmtree

        rmtree(work)


@pytest.fixture
def host_state(tmp_path):
    """The host's global sysctls (restored afterwards; a change fails the test) and a canary file."""
    saved = {p: Path(p).read_text() for p in SYSCTLS if os.path.exists(p)}
    canary = tmp_path / "canary.txt"
    text = f"imgopt-canary-{uuid.uuid4().hex}"
    canary.write_text(text)
    changed = {}
    try:
        yield {"canary": str(canary), "text": text}
    finally:
        for p, v in saved.items():
            now = Path(p).read_text()
            if now != v:
                changed[p] = now
                Path(p).write_text(v)  # restore before failing
    assert not changed, f"HOST SYSCTLS CHANGED FROM INSIDE THE SANDBOX (restored): {changed}"
    assert canary.read_text() == text, "the host canary file was changed from inside the sandbox"


def _root_device() -> str:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == "/":
            return f[2]
    raise AssertionError("no / in mountinfo")


def _run(backend: str, image: dict, args: list[str], env: list[str] = (), **kw):
    ov = Overrides(args=args, env=list(env))
    opts = TraceOptions(backend=backend, overrides=ov, **kw)
    probes = parse_probes(EXIT_PROBE)
    if backend == "native":
        return trace_rootfs(str(image["rootfs"]), image["config"], probes, opts, image_name=image["tag"])
    with open_image(f"docker-daemon:{image['tag']}") as img:
        return trace_image(img, probes, opts)


def _leftovers(tag: str) -> list[str]:
    """Cgroups, containers and scratch directories that still carry ``tag`` (an owner pid-start)."""
    out = []
    for root in ("/sys/fs/cgroup",):
        for dirpath, dirs, _ in os.walk(root):
            if dirpath.count("/") > 8:
                dirs[:] = []
            out += [os.path.join(dirpath, d) for d in dirs if d.startswith(f"imgopt-trace-{tag}-")]
    p = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=imgopt.trace.owner={tag}"],
                       capture_output=True, text=True)
    out += [f"container {c}" for c in p.stdout.split()]
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        marker = os.path.join(tmp, name, ".imgopt-owner")
        if name.startswith("imgopt-trace-") and os.path.exists(marker) and Path(marker).read_text().strip() == tag:
            out.append(os.path.join(tmp, name))
    return out


@pytest.mark.parametrize("backend", ["native", "docker"])
def test_no_escape(backend, escape_image, host_state, registry):
    import socket

    socket.create_connection(("127.0.0.1", 5000), timeout=5).close()  # the host service is really there
    env = [f"ESCAPE_CANARY={host_state['canary']}", f"ESCAPE_CANARY_TEXT={host_state['text']}",
           f"ESCAPE_DISK={_root_device()}", "ESCAPE_PORT=5000"]
    res = _run(backend, escape_image, ["all"], env, pids=64, timeout=180)
    m = re.search(r"ESCAPE-REPORT (.*)", res.output)
    assert m, f"no report from the entrypoint: {res.output[-2000:]}"
    report = json.loads(m.group(1))
    assert len(report) >= 45, sorted(report)
    escaped = {k: v["detail"] for k, v in report.items() if v["escaped"] and k not in ALLOWED[backend]}
    assert not escaped, f"{backend}: escaped from the sandbox: {escaped}"
    assert res.passed, res.failure
    # the fork bomb was stopped by the pids limit, not by a count of ours
    assert 10 <= report["fork-bomb"]["forks"] < 64, report["fork-bomb"]
    # denied by seccomp with EPERM, as Docker does
    for name in ("keyctl", "add_key", "init_module", "finit_module", "bpf", "perf_event_open", "userfaultfd",
                 "kexec_load", "reboot", "open_by_handle_at"):
        assert report[f"syscall:{name}"]["detail"].endswith("errno=EPERM"), (name, report[f"syscall:{name}"])
    assert "Read-only file system" in report["sysctl:core_pattern"]["detail"]
    assert report["host-loopback"]["detail"].endswith("Connection refused") or "unreachable" in \
        report["host-loopback"]["detail"], report["host-loopback"]
    if backend == "docker":  # the one documented exception: PID 1 is the tracer
        assert ".imgopt-trace/strace" in report["pid1"]["detail"], report["pid1"]
    sb = res.profile.sandbox
    assert sb["no_new_privs"] and sb["seccomp"] and "SYS_ADMIN" not in sb["capabilities"]
    assert "NET_RAW" not in sb["capabilities"] and "MKNOD" not in sb["capabilities"]
    assert sb["limits"]["pids"] == 64 and sb["limits"]["memory"] == 4 << 30
    assert not _leftovers(_own_tag()), _leftovers(_own_tag())


def _own_tag() -> str:
    from imgopt.trace.owner import owner_tag

    return owner_tag()


@pytest.mark.parametrize("backend", ["native", "docker"])
def test_memory_exhaustion_is_bounded(backend, escape_image, host_state):
    res = _run(backend, escape_image, ["memory"], memory=96 << 20, timeout=120)
    assert not res.passed
    assert res.failure.startswith("the app was killed by the memory limit (96 MiB); raise --memory"), res.failure
    got = [int(x) for x in re.findall(r"ESCAPE-MEMORY (\d+) MiB", res.output)]
    assert got and max(got) <= 96, got[-3:]
    assert not _leftovers(_own_tag())


@pytest.mark.parametrize("backend", ["native", "docker"])
def test_sleeping_past_the_timeout_is_killed(backend, escape_image, host_state):
    token = uuid.uuid4().hex[:12]  # escape.py ignores it; it tells this run's app from other runs' on the machine
    t0 = time.monotonic()
    res = _run(backend, escape_image, ["sleep", token], timeout=6)
    assert not res.passed
    assert res.profile.duration < 6 + 10, res.profile.duration  # the sandbox itself: timeout + the kill
    assert time.monotonic() - t0 < 120
    leftover = subprocess.run(["pgrep", "-f", f"/escape.py sleep {token}"], capture_output=True, text=True).stdout.split()
    assert not leftover, f"escape.py still running: {leftover}"
    assert not _leftovers(_own_tag())


# ------------------------------------------------------------------ kill -9


def _children_started(pid: int) -> bool:
    """Has the imgopt process ``pid`` got its sandbox going (a cgroup, or a container, of its own)?"""
    from imgopt.trace.owner import process_start

    tag = f"{pid}-{process_start(pid)}"
    return any(not x.startswith("/tmp") for x in _leftovers(tag))


@pytest.mark.parametrize("backend,point", [("native", "unpacking"), ("native", "running"), ("docker", "running")])
def test_kill9_then_next_run_cleans_up(backend, point, escape_image):
    """SIGKILL a real `imgopt trace` (while unpacking; while the app runs); the next run removes what it left."""
    from imgopt.trace.owner import process_start

    scratch = tempfile.mkdtemp(prefix="imgopt-kill9-")
    token = uuid.uuid4().hex[:12]  # escape.py ignores it; it tells this run's app from other runs' on the machine
    try:
        p = subprocess.Popen([IMGOPT, "trace", f"docker-archive:{escape_image['archive']}", "sleep", token,
                              "--backend", backend, "--timeout", "120", "--scratch-dir", scratch],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tag = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:
            tag = tag or (f"{p.pid}-{process_start(p.pid)}" if process_start(p.pid) else None)
            # the run's scratch, named with its owner tag (imgopt.scratch) once unpacking starts
            marked = [d for d in os.listdir(scratch) if f"pid{p.pid}-" in d]
            if point == "unpacking" and marked:
                break
            if point == "running" and marked and _children_started(p.pid):
                time.sleep(1.0)
                break
            time.sleep(0.05)
        assert p.poll() is None, "imgopt trace ended before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        time.sleep(1.0)  # the sandbox gets SIGKILL from its parent-death signal
        left_before = [x for x in _leftovers(tag) if not x.startswith(tempfile.gettempdir())]
        left_before += os.listdir(scratch)
        assert left_before, "the killed run left nothing: the test did not kill it at the right point"
        # the next run (same scratch base) removes the dead run's scratch, cgroups and containers
        q = subprocess.run([IMGOPT, "trace", f"docker-archive:{escape_image['archive']}", "sleep", token,
                            "--backend", backend, "--timeout", "3", "--scratch-dir", scratch],
                           capture_output=True, text=True, timeout=300)
        # the sleeping app is traced for 3 s (zero-config probing has not decided yet: exit 0 or a failed probe)
        assert q.returncode in (0, 1) and "Traceback" not in q.stderr, q.stderr
        assert not _leftovers(tag), _leftovers(tag)
        assert os.listdir(scratch) == [], os.listdir(scratch)
        assert not subprocess.run(["pgrep", "-f", f"/escape.py sleep {token}"], capture_output=True).stdout
        mounts = Path("/proc/self/mountinfo").read_text()
        assert scratch not in mounts
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_dead_runs_scratch_and_loaded_tag_are_removed(escape_image, tmp_path):
    """A scratch directory whose owner is dead goes, with the image tag its docker-backend run had loaded."""
    from imgopt.scratch import owner_tag
    from imgopt.trace.owner import LOADED_TAG, make_scratch, process_start

    dead = subprocess.Popen(["true"])
    start = process_start(dead.pid)
    dead.wait()
    boot = owner_tag().rsplit("-", 1)[1]  # this boot's id, as imgopt.scratch tags names
    tag = f"imgopt-trace/escape-killed-{uuid.uuid4().hex[:8]}:test"
    subprocess.run(["docker", "tag", escape_image["tag"], tag], check=True)
    try:
        stale = tmp_path / f"imgopt-trace-pid{dead.pid}-{start}-{boot}-stale"
        stale.mkdir()
        (stale / LOADED_TAG).write_text(tag + "\n")
        alive = tmp_path / f"imgopt-trace-{owner_tag()}-alive"  # a live owner (this process): left alone
        alive.mkdir()
        new = make_scratch(str(tmp_path))
        assert not stale.exists() and alive.exists() and os.path.isdir(new)
        assert subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True)


def test_a_host_without_a_real_dev_null_is_refused(tmp_path):
    """The /proc masks are /dev/null bound over the paths: a regular-file /dev/null would mask nothing."""
    fake = tmp_path / "null"
    fake.write_text("what a host process last wrote\n")
    sample = Path(__file__).resolve().parent.parent / "fixtures" / "sample.tar"
    probe = Path(__file__).resolve().parent.parent / "fixtures" / "sample" / "probe.yaml"
    out = tmp_path / "profile.json"
    # in a mount namespace of its own, so the host's /dev/null is never touched
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount --bind "$1" /dev/null && exec "$2" trace --backend native --probe "$3" -o "$4" "$5"',
                        "sh", str(fake), IMGOPT, str(probe), str(out), str(sample)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "/dev/null on this host is not the null device" in p.stderr.strip().splitlines()[-1]
    assert not out.exists()
