"""The native sandbox: fresh namespaces, the image's rootfs, no daemon.

:class:`NativeSandbox` starts ``unshare`` with :mod:`imgopt.trace.sandbox_init`
as PID 1 of new mount, PID, IPC, UTS and (unless ``network="host"``) network
namespaces, plus a user namespace when not running as root.  It talks to
that init over a SOCK_SEQPACKET control socket: HTTP probes get TCP sockets
created inside the sandbox's network namespace (so they reach its loopback),
exec probes run inside it, and the app's exit is reported as it happens.

Cleanup is by construction: every sandbox process lives in the PID namespace
whose init we own, so killing it kills them all; every mount lives in the
private mount namespace, which disappears with them; ``unshare`` gets
``--kill-child`` and a parent-death signal, so a crash of this process does not
leave the sandbox running either.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from imgopt.errors import ImgoptError
from imgopt.trace.cgroup import Limits, RunCgroup
from imgopt.trace.runspec import RunSpec

INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_init.py")
CAP_SYS_PTRACE = 19


class SandboxError(ImgoptError):
    """The sandbox could not be set up on this host."""


@dataclass
class ExecResult:
    exit_code: int
    output: str
    timed_out: bool = False


def connect_loopback(s: socket.socket, port: int, timeout: float) -> socket.socket:
    """Connect ``s`` (a socket made inside a sandbox's network namespace) to 127.0.0.1:``port``
    (``::1`` for an IPv6 socket); closed again when that fails (raises OSError)."""
    s.settimeout(timeout)
    try:
        s.connect(("::1", port) if s.family == socket.AF_INET6 else ("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def _preexec(cgroup: RunCgroup | None):
    def run() -> None:  # in the child between fork and exec: into the run's cgroup, die with us
        import ctypes

        if cgroup is not None:
            cgroup.join_self()
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    return run


def sandbox_caps(traced: bool) -> list[int]:
    """The sandbox's capabilities: Docker's default set less NET_RAW and MKNOD, plus SYS_PTRACE when traced.

    strace needs CAP_SYS_PTRACE to read the memory (the path arguments) of a
    tracee whose uid changed (nginx's workers after ``setuid``: the kernel
    makes them non-dumpable); without it those paths are lost.  strace and
    the app share one capability set (a capability in the tracer's bounding
    set comes back to a root app at exec), so the app has it too, as in the
    docker backend with ``--cap-add SYS_PTRACE``; the seccomp filter denies
    attaching to any process and PID 1's memory is masked.
    """
    from imgopt.trace.sandbox_init import DEFAULT_CAPS

    return sorted({*DEFAULT_CAPS, *((CAP_SYS_PTRACE,) if traced else ())})


class AgentClient:
    """Requests to the sandbox's init, and the events it sends."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.events: queue.Queue[dict] = queue.Queue()
        self._replies: dict[int, tuple[dict, list[int]]] = {}
        self._cond = threading.Condition()
        self._next = 0
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="sandbox-agent", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 20, 8)
            except OSError:
                data, fds = b"", []
            if not data:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                self.events.put({"event": "closed"})
                return
            msg = json.loads(data)
            if "id" in msg:
                with self._cond:
                    self._replies[msg["id"]] = (msg, list(fds))
                    self._cond.notify_all()
            else:
                msg["fds"] = list(fds)
                self.events.put(msg)

    def request(self, op: str, payload: dict | None = None, timeout: float = 30.0) -> tuple[dict, list[int]]:
        """Send ``op`` and wait for its answer (and the fds that came with it)."""
        with self._cond:
            self._next += 1
            rid = self._next
        try:
            self.sock.send(json.dumps({**(payload or {}), "op": op, "id": rid}).encode())
        except OSError as e:
            raise SandboxError("sandbox", f"control socket: {e.strerror}") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise SandboxError("sandbox", f"no answer to {op!r} (sandbox gone)")
                self._cond.wait(left)
            return self._replies.pop(rid)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class NativeSandbox:
    """One run of an entrypoint in a native sandbox (see module doc)."""

    backend = "native"

    def __init__(self, rootfs: str, run: RunSpec, scratch: str, *, network: str = "none",
                 tracer: list[str] | None = None, log_path: str | None = None, bundle: str | None = None,
                 overlay: bool = True, fanotify_mask: int = 0, cpus: list[int] | None = None,
                 limits: Limits | None = None, seccomp: bool = True, userns: bool = False):
        self.rootfs = os.path.abspath(rootfs)
        self.run = run
        self.scratch = scratch
        self.network = network
        self.tracer = tracer
        self.log_path = log_path
        self.bundle = bundle
        self.overlay = overlay
        self.fanotify_mask = fanotify_mask
        self.cpus = cpus
        self.output_path = os.path.join(scratch, "output.log")
        self.proc: subprocess.Popen | None = None
        self.agent: AgentClient | None = None
        self.launched = 0.0  # time.time() when the sandbox was started
        self.started = 0.0  # time.time() just before the entrypoint (or tracer) was exec'd
        self.exit: dict | None = None
        self.fanotify_fd = -1
        self.notes: list[str] = []
        self.limits = limits if limits is not None else Limits()
        self.seccomp = seccomp
        self.userns_root = userns and os.geteuid() == 0  # as root: the app in a user namespace (userns.py)
        self.cgroup: RunCgroup | None = None
        self.limit_hit = ""  # the one line saying which limit stopped the app ('' when none did)
        self.caps = sandbox_caps(tracer is not None)
        self.protections: dict[str, Any] = {}  # what was in effect (AccessProfile.sandbox)

    # ------------------------------------------------------------ start

    def _etc_files(self) -> dict[str, str]:
        d = os.path.join(self.scratch, "etc")
        os.makedirs(d, exist_ok=True)
        name = self.run.hostname
        if self.network == "host":
            hosts = _read_host("/etc/hosts")
            resolv = _read_host("/etc/resolv.conf")
        else:
            hosts = f"127.0.0.1\tlocalhost {name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            resolv = "# imgopt trace: no network\n"
        files = {"etc/hosts": hosts, "etc/hostname": name + "\n", "etc/resolv.conf": resolv}
        out = {}
        for rel, text in files.items():
            p = os.path.join(d, os.path.basename(rel))
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o644)
            out[rel] = p
        return out

    def _spec(self, ctl_fd: int) -> dict:
        merged = os.path.join(self.scratch, "merged")
        os.makedirs(merged, exist_ok=True)
        spec: dict[str, Any] = {
            "control_fd": ctl_fd, "rootfs": self.rootfs, "merged": merged, "userns": os.geteuid() != 0,
            "network": self.network, "hostname": self.run.hostname, "argv": self.run.argv, "env": self.run.env,
            "workdir": self.run.workdir,
            "cred": {"uid": self.run.uid, "gid": self.run.gid, "groups": self.run.groups},
            "etc_files": self._etc_files(), "tracer": self.tracer, "log": self.log_path, "cpus": self.cpus,
            "caps": self.caps,
        }
        if self.userns_root:
            from imgopt.trace.userns import HOST_BASE, id_map

            spec["userns_map"] = id_map()
            for p in [*spec["etc_files"].values()]:
                os.chown(p, HOST_BASE, HOST_BASE)
        if self.seccomp:
            from imgopt.trace.seccomp import compile_bpf

            spec["seccomp"] = os.path.join(self.scratch, "seccomp.bpf")
            with open(spec["seccomp"], "wb") as f:
                f.write(compile_bpf())
        if self.overlay:
            up, work = os.path.join(self.scratch, "upper"), os.path.join(self.scratch, "work")
            os.makedirs(up, exist_ok=True)
            os.makedirs(work, exist_ok=True)
            if self.userns_root:  # the overlay's root directory is the upper's: owned by the sandbox's root
                from imgopt.trace.userns import HOST_BASE

                os.chown(up, HOST_BASE, HOST_BASE)
            spec["overlay"] = {"lower": self.rootfs, "upper": up, "work": work}
        if self.bundle:
            spec["bundle"] = self.bundle
            spec["out"] = os.path.join(self.scratch, "out")
            os.makedirs(spec["out"], exist_ok=True)
            os.chmod(spec["out"], 0o777)
        if self.fanotify_mask:
            spec["fanotify"] = self.fanotify_mask
        return spec

    def command(self, spec_path: str) -> list[str]:
        cmd = ["unshare", "--mount", "--pid", "--fork", "--ipc", "--uts", "--propagation", "private",
               "--kill-child=SIGKILL"]
        if self.network != "host":
            cmd.append("--net")
        if os.geteuid() != 0:
            cmd += ["--user", "--map-root-user"]
        return cmd + ["--", sys.executable, "-I", "-S", INIT, spec_path]

    def _protections(self) -> dict[str, Any]:
        from imgopt.trace import sandbox_init as si
        from imgopt.trace.seccomp import VERSION, digest
        from imgopt.trace.userns import HOST_BASE

        return {
            "engine": "unshare", "user_namespace": os.geteuid() != 0 or self.userns_root,
            "uid_map": f"0 {HOST_BASE} 65536" if self.userns_root else f"0 {os.geteuid()} 1" if os.geteuid() else None,
            "capabilities": [_CAP_NAMES.get(c, str(c)) for c in self.caps], "no_new_privs": True,
            "seccomp": f"{VERSION} ({digest()})" if self.seccomp else None,
            "masked_paths": ["/" + p for p in si.MASKED_PATHS] + ["/proc/1/mem"],
            "readonly_paths": ["/" + p for p in si.READONLY_PATHS] + ["/sys"],
            "cgroup": self.cgroup.describe() if self.cgroup else None,
            "limits": self.limits.describe() if self.cgroup else {"pids": None, "memory": None, "cpu": None},
            "network": self.network,
        }

    def start(self, timeout: float = 60.0) -> None:
        """Set the sandbox up and exec the entrypoint; returns once it is running."""
        if any(v is not None for v in self.limits.describe().values()):
            self.cgroup, why = RunCgroup.create(self.limits)
            if why:
                self.notes.append(f"sandbox: {why}")
        if os.geteuid() == 0 and not self.userns_root:
            self.notes.append("sandbox: no user namespace (a rootfs imgopt did not unpack, or --userns off: "
                              "root inside is root outside, held by the capability set, seccomp and "
                              "no_new_privs)")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            spec_path = os.path.join(self.scratch, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(self._spec(child.fileno()), f)
            out = open(self.output_path, "wb")
            if self.userns_root:  # /dev/stdout reopens it (/proc/self/fd/1): the sandbox's root must own it
                from imgopt.trace.userns import HOST_BASE

                os.fchown(out.fileno(), HOST_BASE, HOST_BASE)
            self.launched = time.time()
            try:
                self.proc = subprocess.Popen(self.command(spec_path), stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, pass_fds=[child.fileno()],
                                             preexec_fn=_preexec(self.cgroup), start_new_session=True)
            except FileNotFoundError:
                raise SandboxError("unshare", "not installed (util-linux)") from None
            finally:
                out.close()
        finally:
            child.close()
        self.agent = AgentClient(parent)
        self.protections = self._protections()
        ev = self._next_event(timeout)
        if ev.get("event") != "started":
            self.stop()
            detail = ev.get("error") or self.output().strip().splitlines()[-1:] or ["sandbox init died"]
            raise SandboxError("sandbox", detail if isinstance(detail, str) else detail[0])
        self.started = float(ev["time"])
        if self.overlay and not ev.get("overlay"):
            self.notes.append("overlayfs unavailable: the app's writes went into the rootfs directory")
        if ev.get("fds"):
            self.fanotify_fd = ev["fds"][0]

    def _next_event(self, timeout: float) -> dict:
        assert self.agent is not None
        try:
            return self.agent.events.get(timeout=timeout)
        except queue.Empty:
            return {"event": "error", "error": f"sandbox did not start within {timeout:.0f} s"}

    # ------------------------------------------------------------ probes

    def connect(self, port: int, timeout: float = 5.0, family: str = "inet") -> socket.socket:
        """A TCP connection to 127.0.0.1:``port`` (``::1`` for family inet6) inside the sandbox
        (raises OSError)."""
        assert self.agent is not None
        _msg, fds = self.agent.request("socket", {"family": family})
        if not fds:
            raise ConnectionError("sandbox returned no socket")
        return connect_loopback(socket.socket(fileno=fds[0]), port, timeout)

    def exec(self, argv: list[str], timeout: float, trace_log: str | None = None) -> ExecResult:
        assert self.agent is not None
        payload = {"argv": argv, "timeout": timeout, "log": trace_log,
                   "trace": trace_log is not None and self.tracer is not None}
        msg, _ = self.agent.request("exec", payload, timeout=timeout + 10)
        return ExecResult(int(msg.get("exit_code", 127)), msg.get("output", ""), bool(msg.get("timed_out")))

    def poll_exit(self) -> dict | None:
        """The entrypoint's exit ({exit_code, signal, time}) if it has exited."""
        assert self.agent is not None
        while self.exit is None:
            try:
                ev = self.agent.events.get_nowait()
            except queue.Empty:
                break
            self._event(ev)
        return self.exit

    def wait_exit(self, timeout: float) -> dict | None:
        assert self.agent is not None
        deadline = time.monotonic() + timeout
        while self.exit is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self._event(self.agent.events.get(timeout=min(left, 0.5)))
            except queue.Empty:
                continue
        return self.exit

    def _event(self, ev: dict) -> None:
        if ev.get("event") == "exited":
            self.exit = ev
        elif ev.get("event") == "closed" and self.exit is None:
            self.exit = {"exit_code": None, "signal": None, "time": time.time(), "lost": True}

    def sandbox_pid(self) -> int | None:
        """Host pid of the sandbox's init: its network and PID namespaces are the app's."""
        from imgopt.trace.procmaps import children

        if self.proc is None:
            return None
        init = children(self.proc.pid)
        return init[0] if init else None

    def mapped_files(self) -> set[str]:
        """In-image paths the sandbox's processes have mapped right now (not the init's own)."""
        from imgopt.trace.procmaps import children, mapped_paths, pidns_members

        if self.proc is None:
            return set()
        init = children(self.proc.pid)
        if not init:
            return set()
        return mapped_paths([p for p in pidns_members(init[0]) if p != init[0]])

    def output(self) -> str:
        try:
            with open(self.output_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------ stop

    def stop(self, grace: float = 0.0) -> None:
        """Kill everything in the sandbox and wait for it to go away."""
        if self.agent is not None and grace > 0 and self.poll_exit() is None:
            try:
                self.agent.request("signal", {"signal": int(signal.SIGTERM)}, timeout=5)
            except SandboxError:
                pass
            self.wait_exit(grace)
        if self.agent is not None:
            try:
                self.agent.request("stop", timeout=5)
            except SandboxError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.agent is not None:
            self.agent.close()
        if self.fanotify_fd >= 0:
            os.close(self.fanotify_fd)
            self.fanotify_fd = -1
        if self.cgroup is not None:
            self.limit_hit = self.cgroup.hit()
            if self.limit_hit:
                self.notes.append(f"limit: {self.limit_hit}")
            self.cgroup.remove()
            self.cgroup = None


_CAP_NAMES = {0: "CHOWN", 1: "DAC_OVERRIDE", 3: "FOWNER", 4: "FSETID", 5: "KILL", 6: "SETGID", 7: "SETUID",
              8: "SETPCAP", 10: "NET_BIND_SERVICE", 13: "NET_RAW", 18: "SYS_CHROOT", 19: "SYS_PTRACE", 27: "MKNOD",
              29: "AUDIT_WRITE", 31: "SETFCAP"}


def _read_host(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
