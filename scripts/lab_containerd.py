"""The lab's second engine: a containerd of its own, driven through `ctr` (containerd 1.6 here).

Beside `validate_simulator.Lab`'s dockerd: its own root, state and socket under the lab's
directories, the CRI plugin off, pulling from the lab registry over plain HTTP.  It measures
what the ``ctr`` client profile predicts: ``ctr image pull`` (timed from the request to the
command's exit, with the moment it starts unpacking, i.e. every blob fetched) and a container
of the image run until its probe passes, in a network namespace of its own (loopback only, as
Docker's ``--network none``).

    with Ctr() as ctr:
        t = ctr.timed_pull("10.213.77.2:5000/imgopt-sim/nginx:v1")
        create_start, app, total = ctr.run_until_ready(ref, probe)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import validate_simulator as V
from imgopt.proc import stop_process
from imgopt.simulate import calibrate as C

ROOT_DIR = V.STATE / "containerd"
STATE_DIR = V.RUN / "containerd"
SOCK = str(V.RUN / "containerd.sock")
NAMESPACE = "imgopt-lab"


class Ctr:
    """A lab containerd (started on enter, stopped and its data removed on exit) and `ctr` against it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self._n = 0

    def __enter__(self) -> "Ctr":
        self.teardown()
        ROOT_DIR.mkdir(parents=True, exist_ok=True)
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        cfg = V.RUN / "containerd.toml"
        cfg.write_text(f'version = 2\nroot = "{ROOT_DIR}"\nstate = "{STATE_DIR}"\n'
                       f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{SOCK}"\n')
        self.proc = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(V.RUN / "containerd.log", "w"), start_new_session=True)
        V._wait(lambda: self.ctr("version", check=False).returncode == 0, 60, "lab containerd")
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    @staticmethod
    def argv(*args: str) -> list[str]:
        """A `ctr` command line against the lab containerd."""
        return ["ctr", "-a", SOCK, "-n", NAMESPACE, *args]

    def ctr(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args[:3])}: {p.stderr.strip()[-600:]}")
        return p

    def teardown(self) -> None:
        stop_process(self.proc, 30)
        self.proc = None
        # shims outlive containerd: stop the ones serving our socket
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmd = (d / "cmdline").read_bytes().split(b"\0")
                if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and SOCK.encode() in cmd:
                    os.kill(int(d.name), signal.SIGKILL)
        V._umount_under(ROOT_DIR)
        V._umount_under(STATE_DIR)
        shutil.rmtree(ROOT_DIR, ignore_errors=True)
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        for sock in (SOCK, SOCK + ".ttrpc"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(sock)

    # -------------------------------------------------------------- measure

    def timed_pull(self, ref: str, timeout: float = 3600) -> C.PullTiming:
        """``ctr image pull``; ``layers`` holds one entry whose ``dl_end`` is when unpacking began."""
        t0 = time.monotonic()
        p = subprocess.Popen(self.argv("images", "pull", "--plain-http", ref),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        fetched: list[float] = []

        def watch() -> None:
            tail = b""
            while chunk := os.read(p.stdout.fileno(), 65536):
                tail = (tail + chunk)[-4096:]
                if not fetched and b"unpacking " in tail:
                    fetched.append(time.monotonic() - t0)

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        try:
            rc = p.wait(timeout=timeout)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        total = time.monotonic() - t0
        th.join(5)
        err = None if rc == 0 else (p.stderr.read().decode(errors="replace").strip()[-600:] or f"exit {rc}")
        return C.PullTiming(total, fetched[0] if fetched else 0.0,
                            [{"dl_start": None, "dl_end": fetched[0] if fetched else None, "done": None}], err)

    def run_until_ready(self, ref: str, probe: dict, timeout: float = 120) -> tuple[float, float, float]:
        """As `validate_simulator.run_until_ready`: (create+start s, started -> ready s, total s)."""
        self._n += 1
        cid = f"lab{os.getpid()}-{self._n}"
        if probe.get("type") == "exit":
            t0 = time.monotonic()
            p = subprocess.run(self.argv("run", "--rm", ref, cid), capture_output=True,
                               text=True, timeout=probe.get("timeout", timeout))
            t1 = time.monotonic()
            if p.returncode != probe.get("expect_exit", 0) or probe.get("expect_output", "") not in p.stdout + p.stderr:
                raise RuntimeError(f"{ref}: job exited {p.returncode} (output: {(p.stdout + p.stderr)[-300:]})")
            return 0.0, t1 - t0, t1 - t0  # ctr run --rm: create, start and the job in one command
        return V.probe_until_ready(ref, probe, timeout, self._started(ref, cid))

    @contextlib.contextmanager
    def _started(self, ref: str, cid: str):
        """`ctr run -d` (its own network namespace, loopback up): (pid, before run, run returned, no logs);
        the task and container removed afterwards."""
        try:
            t0 = time.monotonic()
            self.ctr("run", "-d", ref, cid)
            t1 = time.monotonic()
            pid = next(l.split()[1] for l in self.ctr("task", "ls").stdout.splitlines()[1:] if l.split()[0] == cid)
            yield pid, t0, t1, lambda: ""
        finally:
            self.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
            for _ in range(100):
                if self.ctr("task", "rm", "-f", cid, check=False).returncode == 0:
                    break
                time.sleep(0.05)
            self.ctr("containers", "rm", cid, check=False)

    def remove_images(self, prefix: str, salted_only: bool = False) -> None:
        """Remove the images whose names start with ``prefix`` (only salted copies, ``TAG-pNNN``, if asked)."""
        for name in self.ctr("images", "ls", "-q").stdout.split():
            if name.startswith(prefix) and (not salted_only or "-p" in name[len(prefix):]):
                self.ctr("images", "rm", "--sync", name, check=False)
