"""imgopt trace, native backend: real images in a real sandbox (unshare + pivot_root + strace)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest

from conftest import SAMPLE_TAR, run_imgopt
from imgopt.image.transports import open_image
from imgopt.trace import (ExecProbe, ExitProbe, HttpProbe, TimeoutProbe, TraceOptions, load_probes, parse_probes,
                          trace_image)
from imgopt.trace.profile import AccessProfile
from test_trace_helpers import CASES_PROBES, mounts_mentioning, sandbox_processes, slim_passes

pytest_plugins = ["test_trace_helpers"]


def _files(profile: AccessProfile) -> dict:
    return {f.path: f for f in profile.files}


@pytest.fixture(scope="module")
def sample_trace(tmp_path_factory):
    """The committed sample, with its CGI (forks /bin/sh, reads /app/config.txt)."""
    probes = [HttpProbe(8080, "/", expect_body="imgopt-sample ok", timeout=30),
              HttpProbe(8080, "/cgi-bin/status", expect_body="workers=2", timeout=10)]
    with open_image(str(SAMPLE_TAR)) as img:
        return trace_image(img, probes, TraceOptions(backend="native", trace_reads=True))


def test_sample_profile(sample_trace):
    p = sample_trace.profile
    assert p.passed and p.ready_time is not None and 0 < p.ready_time < 10
    assert p.backend == "native" and p.tracer == "strace" and p.exit_code is None
    f = _files(p)
    assert f["/bin/busybox"].exists and "exec" in f["/bin/busybox"].kinds and f["/bin/busybox"].first_access == 0
    assert f["/var/www/index.html"].bytes_read == f["/var/www/index.html"].size == 82
    assert not f["/etc/httpd.conf"].exists  # a failed lookup, recorded
    assert f["/app"].type == "dir"  # the workdir
    assert [x.first_access for x in p.files] == sorted(x.first_access for x in p.files)
    assert not any(x.path.startswith(("/proc", "/dev", "/sys", "/.imgopt-trace")) for x in p.files)


def test_fork_exec_chain(sample_trace):
    """The CGI: httpd forks, the child execs the script (#! /bin/sh), which forks and re-execs busybox `cat`."""
    p = sample_trace.profile
    f = _files(p)
    script = f["/var/www/cgi-bin/status"]
    assert "exec" in script.kinds and script.exists
    assert f["/bin/sh"].type == "symlink" and f["/bin/sh"].link_target == "busybox"  # the #! interpreter
    assert "read" in f["/app/config.txt"].kinds and f["/app/config.txt"].before_ready
    by_pid = {x.pid: x for x in p.processes}
    cgi = [x for x in p.processes if x.exe == "/var/www/cgi-bin/status"]
    assert cgi, p.processes
    chain = [cgi[0]]
    while chain[-1].ppid in by_pid:
        chain.append(by_pid[chain[-1].ppid])
    assert chain[-1].ppid is None and chain[-1].exe == "/bin/busybox"  # back to the entrypoint
    cat = [x for x in p.processes if x.argv == ["cat", "/app/config.txt"]]
    assert cat and cat[0].ppid == cgi[0].pid and cat[0].exe == "/bin/busybox"  # via /proc/self/exe


@pytest.fixture(scope="module")
def cases_trace(cases_archive):
    with open_image(str(cases_archive)) as img:
        res = trace_image(img, parse_probes(CASES_PROBES), TraceOptions(backend="native"))
    return res


def test_dirfd_and_cwd_relative_paths(cases_trace):
    f = _files(cases_trace.profile)
    assert cases_trace.passed, cases_trace.failure
    assert f["/srv/cases/data/sub/dirfd-only.txt"].exists and "open" in f["/srv/cases/data/sub/dirfd-only.txt"].kinds
    assert not f["/srv/cases/data/sub/missing-at-dirfd.txt"].exists
    assert "stat" in f["/srv/cases/data/sub/missing-at-dirfd.txt"].kinds
    assert "open" in f["/srv/cases/data/sub/cwd-only.txt"].kinds
    assert f["/srv/cases/data/sub/cwd-only.txt"].bytes_read is None  # read() is traced only with --reads
    assert "/sub/cwd-only.txt" not in f and "/dirfd-only.txt" not in f  # never resolved against the wrong base


def test_symlink_chains_link_by_link(cases_trace):
    f = _files(cases_trace.profile)
    d = "/srv/cases/data"
    assert f[f"{d}/link1"].type == "symlink" and f[f"{d}/link1"].link_target == "link2"
    assert f[f"{d}/link2"].type == "symlink" and f[f"{d}/link2"].link_target == "real/target.txt"
    assert f[f"{d}/real/target.txt"].type == "file" and "open" in f[f"{d}/real/target.txt"].kinds
    assert f[f"{d}/dirlink"].link_target == "real" and f[f"{d}/real/through-dir.txt"].exists
    assert f"{d}/dirlink/through-dir.txt" not in f  # recorded where it really is
    # the interpreter chain of the entrypoint: venv python -> /usr/bin/python3 -> python3.11 -> ld.so
    assert f["/opt/venv/bin/python3"].link_target == "/usr/bin/python3"
    assert f["/usr/bin/python3"].link_target == "python3.11" and "exec" in f["/usr/bin/python3.11"].kinds
    assert f["/lib64"].type == "symlink" and "exec" in f["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"].kinds
    assert f"{d}/unused.txt" not in f


def test_threads_and_child_processes_are_followed(cases_trace):
    p = cases_trace.profile
    f = _files(p)
    assert "open" in f["/srv/cases/data/thread-only.txt"].kinds  # opened by a worker thread of a handler thread
    assert "mmap" in f["/usr/lib/x86_64-linux-gnu/libc.so.6"].kinds  # from the mappings left at the end
    assert f["/srv/cases/data/child.txt"].exists and "exec" in f["/usr/bin/cat"].kinds
    assert "exec" in f["/usr/bin/head"].kinds
    servers = [x for x in p.processes if x.ppid is None]
    assert len(servers) == 1  # threads are not processes
    sh = [x for x in p.processes if x.argv[:2] == ["/bin/sh", "-c"]]
    assert sh and sh[0].ppid == servers[0].pid
    assert {x.argv[0] for x in p.processes if x.ppid == sh[0].pid} >= {"cat", "head"}


@pytest.mark.parametrize("settle", [1.0, 0.0])
def test_activity_after_ready_is_traced_until_quiet(cases_archive, settle):
    probes = parse_probes([{"type": "http", "port": 8090, "path": "/late", "expect_body": "later"}])
    with open_image(str(cases_archive)) as img:
        res = trace_image(img, probes, TraceOptions(backend="native", settle=settle))
    assert res.passed, res.failure
    f = _files(res.profile)
    if settle:
        assert f["/srv/cases/data/late.txt"].exists and not f["/srv/cases/data/late.txt"].before_ready
        assert f["/srv/cases/data/late.txt"].first_access > res.profile.ready_time + 0.2
    else:  # stopping at ready misses it: why settling is the default
        assert "/srv/cases/data/late.txt" not in f


def test_cases_slim_rootfs_passes(cases_archive, cases_trace, tmp_path):
    with open_image(str(cases_archive)) as img:
        res = slim_passes(img, cases_trace.profile, parse_probes(CASES_PROBES), workdir=tmp_path)
    assert res.passed, (res.failure, res.output[-2000:])


def test_slim_rootfs_without_one_traced_file_fails(cases_archive, cases_trace, tmp_path):
    """The check has teeth: drop one file the app needs and the probes fail."""
    from imgopt.image.unpack import unpack
    from imgopt.trace import trace_rootfs
    from imgopt.trace.profile import traced_paths

    keep = traced_paths(cases_trace.profile) - {"/srv/cases/data/real/target.txt"}
    with open_image(str(cases_archive)) as img:
        unpack(img, str(tmp_path / "r"), keep=lambda p: p in keep)
        res = trace_rootfs(str(tmp_path / "r"), img.config, parse_probes(CASES_PROBES), TraceOptions(backend="native", timeout=60))
    assert not res.passed and "/symlink" in res.failure
    assert "/srv/cases/data/real/target.txt" in res.missing  # what minify would need to know


def test_probe_failure_is_reported(tmp_path):
    probes = [HttpProbe(8080, "/", expect_body="not in the page", timeout=1.5)]
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, probes, TraceOptions(backend="native", scratch_dir=str(tmp_path)))
    assert not res.passed and res.profile.ready_time is None
    assert "not passed within 1.5 s" in res.failure and "HTTP 200" in res.failure
    assert res.profile.files  # the trace is still complete up to the failure
    assert list(tmp_path.iterdir()) == []


def test_cli_failed_probe_writes_profile_and_exits_1(tmp_path):
    probe = tmp_path / "p.yaml"
    probe.write_text("probes:\n  - type: http\n    port: 8080\n    expect_status: 404\n    timeout: 1\n")
    out = tmp_path / "p.json"
    p = run_imgopt("trace", str(SAMPLE_TAR), "--backend", "native", "--probe", str(probe), "-o", str(out),
                   timeout=120)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("imgopt: error: ")
    prof = AccessProfile.load(str(out))
    assert not prof.passed and not prof.probes[0].passed and "HTTP 200" in prof.probes[0].detail
    assert "/var/www/index.html" in _files(prof)


def test_hanging_entrypoint_is_killed(tmp_path):
    """An entrypoint that never serves and ignores SIGTERM: bounded time, nothing left behind."""
    marker = f"{3000 + int(uuid.uuid4().int % 500)}.{uuid.uuid4().int % 10**6:06d}"
    ov_opts = TraceOptions(backend="native", scratch_dir=str(tmp_path), timeout=30)
    ov_opts.overrides.entrypoint = ["/bin/sh"]
    ov_opts.overrides.args = ["-c", f"trap '' TERM; sleep {marker}; sleep {marker}"]
    mounts_before = len(mounts_mentioning("imgopt-trace"))
    t = time.monotonic()
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, [HttpProbe(8080, timeout=2)], ov_opts)
    elapsed = time.monotonic() - t
    assert not res.passed and elapsed < 15
    assert any(x.argv[:1] == ["sleep"] for x in res.profile.processes)
    assert sandbox_processes(marker) == []  # every process killed
    assert sandbox_processes(str(tmp_path)) == []
    assert len(mounts_mentioning("imgopt-trace")) == mounts_before  # no mount leaked to the host
    assert list(tmp_path.iterdir()) == []  # scratch removed


def test_wall_clock_limit(tmp_path):
    opts = TraceOptions(backend="native", scratch_dir=str(tmp_path), timeout=3)
    opts.overrides.entrypoint = ["/bin/sleep"]
    opts.overrides.args = ["1000"]
    t = time.monotonic()
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, [HttpProbe(8080, timeout=100)], opts)
    assert time.monotonic() - t < 12 and not res.passed


def test_exit_probe_for_a_job():
    opts = TraceOptions(backend="native")
    opts.overrides.entrypoint = ["/bin/sh"]
    opts.overrides.args = ["-c", "cat /app/config.txt; cat /etc/os-release >/dev/null; exit 3"]
    with open_image(str(SAMPLE_TAR)) as img:
        ok = trace_image(img, [ExitProbe(expect_exit=3, expect_output="workers=2", timeout=20)], opts)
        bad = trace_image(img, [ExitProbe(expect_exit=0, timeout=20)], opts)
    assert ok.passed and ok.profile.exit_code == 3 and ok.profile.ready_time is not None
    assert "/etc/os-release" in _files(ok.profile)
    assert not bad.passed and "exit 3 (expected 0)" in bad.failure


def test_default_probe_without_expose_waits_for_exit():
    opts = TraceOptions(backend="native")
    opts.overrides.entrypoint = ["/bin/echo"]
    opts.overrides.args = ["hello"]
    from imgopt.image.model import ImageConfig

    with open_image(str(SAMPLE_TAR)) as img:
        cfg = dict(img.config.raw)
        cfg["config"] = {k: v for k, v in cfg["config"].items() if k != "ExposedPorts"}
        img.config = ImageConfig(cfg)
        res = trace_image(img, None, opts)
    assert res.passed and res.profile.probes[0].type == "exit" and res.profile.exit_code == 0
    assert "hello" in res.output


def test_exec_and_timeout_probes_run_inside_the_sandbox():
    probes = [HttpProbe(8080, timeout=20), ExecProbe(["/bin/cat", "/app/config.txt"], expect_output="workers=2"),
              ExecProbe(["/bin/sh", "-c", "test \"$(hostname)\" = imgopt-trace && ls /sys/class/net"],
                        expect_output="lo"),
              TimeoutProbe(0.5)]
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, probes, TraceOptions(backend="native"))
    assert res.passed, res.failure
    assert res.profile.probes[2].output.split() == ["lo"]  # only its own loopback
    f = _files(res.profile)
    assert f["/app/config.txt"].by_probe  # the probe command's files are traced (and marked)


def test_no_network_but_its_own_loopback():
    """A server on the host's 127.0.0.1 is not reachable from the sandbox."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]
    hits: list = []
    threading.Thread(target=lambda: hits.append(srv.accept()), daemon=True).start()
    probes = [HttpProbe(8080, timeout=20),
              ExecProbe(["/bin/sh", "-c", f"wget -q -T 2 -O- http://127.0.0.1:{port}/ ; echo rc=$?"],
                        expect_output="rc=1", timeout=20)]
    try:
        with open_image(str(SAMPLE_TAR)) as img:
            res = trace_image(img, probes, TraceOptions(backend="native"))
    finally:
        srv.close()
    assert res.passed, res.failure
    assert hits == []


def test_user_env_and_args_overrides():
    opts = TraceOptions(backend="native")
    opts.overrides.entrypoint = ["/bin/sh"]
    opts.overrides.args = ["-c", "id -u; id -g; echo $GREETING; pwd"]
    opts.overrides.env = ["GREETING=hi-there"]
    opts.overrides.user = "www-data"
    opts.overrides.workdir = "/var/www"
    with open_image(str(SAMPLE_TAR)) as img:
        res = trace_image(img, [ExitProbe(expect_output="33\n33\nhi-there\n/var/www", timeout=20)], opts)
    assert res.passed, (res.failure, res.output)
    assert res.profile.user == "www-data" and res.profile.workdir == "/var/www"
    assert "GREETING=hi-there" in res.profile.env


def test_cli_summary_and_profile(tmp_path):
    out = tmp_path / "p.json"
    p = run_imgopt("trace", str(SAMPLE_TAR), "--backend", "native", "-o", str(out), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "ready:" in p.stdout and "/var/www/index.html" in p.stdout and "slowest first accesses" in p.stdout
    doc = json.loads(out.read_text())
    assert doc["schema"] == "imgopt.profile/v1" and doc["probes"][0]["name"] == "http GET :8080/"
    assert AccessProfile.load(str(out)).passed
    assert not list(tmp_path.glob("*.part"))


def test_profile_round_trip(sample_trace, tmp_path):
    p = sample_trace.profile
    p.save(str(tmp_path / "x.json"))
    q = AccessProfile.load(str(tmp_path / "x.json"))
    assert q == p


def test_probe_file_formats(tmp_path):
    y = tmp_path / "p.yaml"
    y.write_text("probes:\n  - type: wait-for-exit\n    expect_output: done\n  - type: timeout\n    seconds: 2\n")
    j = tmp_path / "p.json"
    j.write_text(json.dumps([{"type": "http", "port": 80, "headers": {"X-A": "b"}, "expect_status": None}]))
    a, b = load_probes(str(y)), load_probes(str(j))
    assert [type(x).__name__ for x in a] == ["ExitProbe", "TimeoutProbe"] and a[1].seconds == 2
    assert b[0].headers == {"X-A": "b"} and b[0].expect_status is None


def test_hostile_image_cannot_redirect_the_sandbox_mounts(tmp_path):
    """/proc, /sys, /etc and the workdir as symlinks to host paths, /dev a file: nothing lands on the host."""
    from layoututil import make_tar
    from test_filetree_docker import _busybox_layer
    from test_unpack import _archive

    host = tmp_path / "host"
    for d in ("proc", "sys", "etc", "work"):
        (host / d).mkdir(parents=True)
    evil = make_tar([
        ("proc", "symlink", str(host / "proc"), 0o777),
        ("sys", "symlink", "../../../../../../../../.." + str(host / "sys"), 0o777),
        ("etc", "symlink", str(host / "etc"), 0o777),
        ("dev", "file", b"not a directory", 0o644),
        ("app", "symlink", str(host / "work"), 0o777),
        ("var/www/index.html", "file", b"hostile but contained\n", 0o644),
    ])
    archive = _archive(tmp_path / "evil.tar", [_busybox_layer(), evil])
    opts = TraceOptions(backend="native", scratch_dir=str(tmp_path / "scratch"), timeout=30)
    opts.overrides.entrypoint = ["/bin/busybox"]
    opts.overrides.args = ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    opts.overrides.workdir = "/app"
    with open_image(str(archive)) as img:
        res = trace_image(img, [HttpProbe(8080, expect_body="contained", timeout=5)], opts)
    for d in ("proc", "sys", "etc", "work"):
        assert list((host / d).iterdir()) == [], d
    assert mounts_mentioning(str(tmp_path)) == []
    assert list((tmp_path / "scratch").iterdir()) == []
    assert res.passed, (res.failure, res.output)  # the app runs, inside its own (overlay) view of those paths
    assert "http GET :8080/" in res.profile.probes[0].name
