#!/usr/bin/env python3
"""The escape entrypoint under imgopt's native sandbox and under bubblewrap; writes reports/sandbox-engines.md.

    .venv/bin/python benchmarks/sandbox_engines.py            # root; Docker for building the image

Question (issue 9): should the native backend use Debian's bubblewrap (bwrap)
as its engine instead of the hand-written namespace code
(imgopt/trace/sandbox_init.py)?  Both run tests/escape/escape.py on the same
unpacked rootfs with the same seccomp BPF (imgopt.trace.seccomp), the same
capability set and the same cgroup (pids limit 64); bwrap gets the closest
configuration its options allow (``--unshare-all --die-with-parent
--new-session --proc --dev``, the rootfs bound read-only with a tmpfs /tmp,
/sys bound read-only, the masked files bound to /dev/null).  The report lists
every attempt's outcome per engine, the time to run the entrypoint, and what
each engine cannot do that a trace needs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgopt.image.transports import open_image  # noqa: E402
from imgopt.image.unpack import unpack  # noqa: E402
from imgopt.trace import TraceOptions, parse_probes, trace_rootfs  # noqa: E402
from imgopt.trace.cgroup import Limits, RunCgroup  # noqa: E402
from imgopt.trace.native import _CAP_NAMES, sandbox_caps  # noqa: E402
from imgopt.trace.scratch import rmtree  # noqa: E402
from imgopt.trace.runspec import Overrides  # noqa: E402
from imgopt.trace.sandbox_init import MASKED_PATHS  # noqa: E402
from imgopt.trace.seccomp import compile_bpf  # noqa: E402

_spec = importlib.util.spec_from_file_location("escape_image", ROOT / "tests" / "escape" / "image.py")
escape_image = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(escape_image)  # type: ignore[union-attr]


def run_native(rootfs: str, config, env: list[str]) -> tuple[dict, float]:
    t0 = time.monotonic()
    res = trace_rootfs(rootfs, config, parse_probes([{"type": "exit", "expect_exit": 0}]),
                       TraceOptions(tracer="none", pids=64, overrides=Overrides(args=["all"], env=env)))
    return _report(res.output), time.monotonic() - t0


def bwrap_argv(rootfs: str, env: list[str], bpf_fd: int) -> list[str]:
    caps = [f"CAP_{_CAP_NAMES[c]}" for c in sandbox_caps(traced=False)]
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", rootfs, "/",
            "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys",
            "--seccomp", str(bpf_fd), "--cap-drop", "ALL"]
    for c in caps:
        argv += ["--cap-add", c]
    for p in MASKED_PATHS:
        if os.path.isfile("/" + p):
            argv += ["--ro-bind", "/dev/null", "/" + p]
        elif os.path.isdir("/" + p):
            argv += ["--tmpfs", "/" + p, "--remount-ro", "/" + p]
    for e in env:
        k, _, v = e.partition("=")
        argv += ["--setenv", k, v]
    return argv + ["--", "/usr/bin/python3", "/escape.py", "all"]


def run_bwrap(rootfs: str, env: list[str]) -> tuple[dict, float]:
    cg, why = RunCgroup.create(Limits(pids=64))
    assert cg is not None, why
    bpf = tempfile.TemporaryFile()
    bpf.write(compile_bpf())
    bpf.seek(0)
    try:
        t0 = time.monotonic()
        p = subprocess.run(bwrap_argv(rootfs, env, bpf.fileno()), capture_output=True, text=True, timeout=300,
                           pass_fds=[bpf.fileno()], preexec_fn=cg.join_self)
        took = time.monotonic() - t0
    finally:
        cg.remove()
        bpf.close()
    return _report(p.stdout + p.stderr), took


SYSCTLS = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/vm/overcommit_memory")


def guarded(engine: str, changed: dict, run):
    """Run ``run()`` with the host's global sysctls saved, compared and restored."""
    saved = {p: Path(p).read_text() for p in SYSCTLS if os.path.exists(p)}
    try:
        return run()
    finally:
        for p, v in saved.items():
            if Path(p).read_text() != v:
                changed.setdefault(engine, []).append(p)
                Path(p).write_text(v)
                print(f"HOST SYSCTL {p} CHANGED UNDER {engine} (restored)", file=sys.stderr)


def _report(output: str) -> dict:
    m = re.search(r"ESCAPE-REPORT (.*)", output)
    if not m:
        raise SystemExit(f"no report: {output[-2000:]}")
    return json.loads(m.group(1))


def loc(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    tag, archive = escape_image.ensure()
    work = tempfile.mkdtemp(prefix="imgopt-engines-")
    try:
        rootfs = os.path.join(work, "rootfs")
        with open_image(f"docker-archive:{archive}") as img:
            unpack(img, rootfs)
            config = img.config
        canary = os.path.join(work, "canary")
        Path(canary).write_text("canary-42")
        dev = next(line.split()[2] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if line.split()[4] == "/")
        # core_pattern gets the host's own value: an engine that lets the write through changes nothing
        # (a first run of this script wrote "|/escape-payload %p" through bwrap); the sysctls are still
        # saved and restored around each engine, and a change is reported
        core = Path("/proc/sys/kernel/core_pattern").read_text().rstrip("\n")
        env = [f"ESCAPE_CANARY={canary}", "ESCAPE_CANARY_TEXT=canary-42", f"ESCAPE_DISK={dev}", "ESCAPE_PORT=5000",
               f"ESCAPE_CORE_PATTERN={core}"]
        changed: dict[str, list[str]] = {}
        native, t_native = guarded("imgopt", changed, lambda: run_native(rootfs, config, env))
        bwrap, t_bwrap = guarded("bwrap", changed, lambda: run_bwrap(rootfs, env))
    finally:
        rmtree(work)
    bw_version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    rows = []
    for k in sorted(set(native) | set(bwrap)):
        def cell(r: dict) -> str:
            v = r.get(k)
            if v is None:
                return "-"
            return ("**escaped**: " if v["escaped"] else "held: ") + v["detail"].replace("|", "\\|")[:90]
        rows.append(f"| `{k}` | {cell(native)} | {cell(bwrap)} |")
    esc_n = sorted(k for k, v in native.items() if v["escaped"])
    esc_b = sorted(k for k, v in bwrap.items() if v["escaped"])
    text = f"""# Native sandbox engine: hand-written (unshare + sandbox_init.py) vs bubblewrap

Produced by `.venv/bin/python benchmarks/sandbox_engines.py` on {platform.node()} ({platform.release()},
{bw_version}, {os.cpu_count()} CPUs, as root).  Both engines run `tests/escape/escape.py all` on the same
unpacked rootfs with the same seccomp BPF (`imgopt.trace.seccomp`), the same capabilities
({", ".join(_CAP_NAMES[c] for c in sandbox_caps(False))}) and a pids limit of 64 (the same cgroup code);
bwrap with `--unshare-all --die-with-parent --new-session --proc /proc --dev /dev`, the rootfs bound
read-only, a tmpfs `/tmp`, the host's `/sys` bound read-only and the masked files bound to `/dev/null`.
Untraced (no strace), so the times compare the engines alone.

* escaped under imgopt's engine: {", ".join(esc_n) or "nothing"}
* escaped under bubblewrap: {", ".join(esc_b) or "nothing"}
* host sysctls changed during the run (restored at once): {changed or "none"}
* time to run the entrypoint (launch to exit, incl. the fork bomb): imgopt {t_native:.2f} s, bwrap {t_bwrap:.2f} s
* code: `imgopt/trace/sandbox_init.py` {loc(ROOT / "imgopt/trace/sandbox_init.py")} lines,
  `imgopt/trace/native.py` {loc(ROOT / "imgopt/trace/native.py")} lines (non-blank, non-comment)

| attempt | imgopt native | bubblewrap |
| --- | --- | --- |
""" + "\n".join(rows) + "\n"
    out = ROOT / "reports" / "sandbox-engines.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
