"""The docker backend: trace the image in the real Docker engine.

For users who need their real runtime options (``-e``, ``-v``, ``--user``,
extra args).  The container runs the same bundled strace as the native
backend: the bundle is bind-mounted read-only at ``/.imgopt-trace`` (logs go
to a writable ``out/`` below it) and becomes the entrypoint, with
``--cap-add SYS_PTRACE``; the image's own ENTRYPOINT/CMD (with the overrides)
follow ``--``.  Networking is ``none`` (probes reach the container's loopback
through a thread that joins its network namespace, root only) or ``host``.

The image is used from the engine when it is already there (looked up by its
image ID, the config digest); otherwise it is loaded as
``imgopt-trace/<name>:<id>`` and that tag is removed afterwards.  Containers
are named ``imgopt-trace-<random>`` and always removed.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import os
import queue
import re
import socket
import threading
import time
import uuid

from imgopt.errors import BadInput, DaemonError
from imgopt.image.model import Image
from imgopt.trace.backends import Target
from imgopt.trace.bundle import MOUNT
from imgopt.trace.native import ExecResult, connect_loopback
from imgopt.trace.options import TraceOptions, cpu_set
from imgopt.trace.owner import owner_alive, owner_tag
from imgopt.trace.autoprobe import run_all
from imgopt.trace.probes import Probe
from imgopt.trace.profile_build import build_profile, launch_ready
from imgopt.trace.recorder import Recorded
from imgopt.trace.result import TraceResult
from imgopt.trace.rootfs import RootFS
from imgopt.trace.session import Session, read_logs, settle

CLONE_NEWNET = 0x40000000


class DockerBackend:
    name = "docker"
    volumes = True

    def auto_ok(self, opts: TraceOptions) -> bool:
        """The engine answers, and the probes can reach the container (root, or --network host)."""
        from imgopt.image.docker_engine import engine_answers

        return opts.tracer != "fanotify" and (os.geteuid() == 0 or opts.network == "host") and engine_answers()

    def trace(self, target: Target, opts: TraceOptions) -> TraceResult:
        """Run the image in the engine under strace; the unpacked rootfs answers the lookups."""
        from imgopt.image.docker_engine import docker_client

        if target.image is None:
            raise BadInput("--backend docker", "an unpacked rootfs runs natively; trace the image for docker")
        if opts.network == "none" and os.geteuid() != 0:
            raise BadInput("--network none", "the docker backend reaches the container's loopback only as root; "
                                             "use --network host")
        client = docker_client(target.image_name or "docker")
        ref, loaded = _ensure_loaded(client, target.image, target.scratch)
        try:
            sess = _DockerSession(client, ref, target.run, target.probes, opts, target.scratch)
            rec, results, exit_info, t_end = sess.run(target.fs)
        finally:
            if loaded:
                try:
                    client.images.remove(ref, noprune=False)
                except Exception:  # noqa: BLE001 - best effort
                    pass
        profile = build_profile(rec, results, target.run, exit_info, t_end, t_start=sess.t_start, backend=self.name,
                                tracer=opts.tracer, image=target.image_name, image_digest=target.image_digest,
                                config_digest=target.config_digest, notes=sess.notes,
                                sandbox=docker_protections(opts, opts.tracer == "strace"), session=sess)
        return TraceResult(profile, sess.output[-8000:], None, launch_ready(profile, rec, sess.t_start, sess.t_start),
                           limit=sess.limit)


def _ensure_loaded(client, image: Image, scratch: str | None = None) -> tuple[str, bool]:
    """A reference the engine knows for ``image``; True when we loaded it (and must remove it).

    The tag is written into the scratch directory first (imgopt.trace.owner.LOADED_TAG): if this run is
    killed, the next one removes the tag with the dead run's scratch."""
    from docker.errors import ImageNotFound

    try:
        client.images.get(image.config_digest)
        return image.config_digest, False
    except ImageNotFound:
        pass
    from imgopt.image.transports import SinkOptions, write_image

    base = re.sub(r"[^a-z0-9._-]+", "-", os.path.basename(image.name or "image").lower()).strip("-._") or "image"
    tag = f"imgopt-trace/{base[:60]}:{image.config_digest.split(':')[-1][:12]}"
    if scratch:
        from imgopt.trace.owner import LOADED_TAG

        with open(os.path.join(scratch, LOADED_TAG), "w") as f:
            f.write(tag + "\n")
    write_image(image, f"docker-daemon:{tag}", SinkOptions(compress="keep"))
    return tag, True


class _Netns:
    """Creates sockets inside another network namespace (a thread that joined it)."""

    def __init__(self, pid: int):
        self._req: queue.Queue = queue.Queue()
        self._ready: queue.Queue = queue.Queue()
        self._t = threading.Thread(target=self._run, args=(pid,), name="netns", daemon=True)
        self._t.start()
        err = self._ready.get(timeout=10)
        if err:
            raise DaemonError("docker", f"cannot join the container's network namespace: {err}")

    def _run(self, pid: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            self._ready.put(e.strerror)
            return
        if libc.setns(fd, CLONE_NEWNET) != 0:
            self._ready.put(os.strerror(ctypes.get_errno()))
            os.close(fd)
            return
        os.close(fd)
        self._ready.put(None)
        while True:
            item = self._req.get()
            if item is None:
                return
            reply, family = item
            try:
                reply.put(socket.socket(family, socket.SOCK_STREAM))
            except OSError as e:
                reply.put(e)

    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        reply: queue.Queue = queue.Queue()
        self._req.put((reply, family))
        s = reply.get(timeout=10)
        if isinstance(s, Exception):
            raise s
        return s

    def close(self) -> None:
        self._req.put(None)


class _DockerTarget:
    """A running container, as the probes see it."""

    def __init__(self, client, container, network: str, tracer: list[str] | None):
        self.client = client
        self.c = container
        self.tracer = tracer
        self.exit: dict | None = None
        self.network = network
        self.netns: _Netns | None = None

    def _socket(self, family: int = socket.AF_INET) -> socket.socket:
        if self.network == "host":
            return socket.socket(family, socket.SOCK_STREAM)
        if self.netns is None:  # joined on first use: a job may be gone before any HTTP probe
            self.c.reload()
            pid = int(self.c.attrs["State"].get("Pid") or 0)
            if not pid:
                raise ConnectionRefusedError("the container is not running")
            try:
                self.netns = _Netns(pid)
            except DaemonError as e:
                raise ConnectionRefusedError(str(e)) from None
        return self.netns.socket(family)

    def connect(self, port: int, timeout: float = 5.0, family: str = "inet") -> socket.socket:
        return connect_loopback(self._socket(socket.AF_INET6 if family == "inet6" else socket.AF_INET), port,
                                timeout)

    def sandbox_pid(self) -> int | None:
        """Host pid of the container's first process (its network and PID namespaces are the app's)."""
        try:
            self.c.reload()
            return int(self.c.attrs["State"].get("Pid") or 0) or None
        except Exception:  # noqa: BLE001 - gone
            return None

    def exec(self, argv: list[str], timeout: float, trace_log: str | None = None) -> ExecResult:
        cmd = (self.tracer + ["-o", trace_log, "--"] + argv) if trace_log and self.tracer else argv
        box: dict = {}

        def work() -> None:
            try:
                ex = self.client.api.exec_create(self.c.id, cmd, stdout=True, stderr=True)
                out = self.client.api.exec_start(ex["Id"])
                box["out"] = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
                box["code"] = self.client.api.exec_inspect(ex["Id"]).get("ExitCode")
            except Exception as e:  # noqa: BLE001
                box["out"], box["code"] = f"docker exec failed: {e}", 126

        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            return ExecResult(124, box.get("out", ""), True)
        code = box.get("code")
        return ExecResult(int(code) if code is not None else 126, box.get("out", ""))

    pids_refused = 0  # forks the pids limit refused, as last seen while the container ran

    def poll_exit(self) -> dict | None:
        if self.exit is None:
            self.c.reload()
            st = self.c.attrs["State"]
            if st.get("Running"):
                self.pids_refused = max(self.pids_refused, _pids_refused(self.c.id))
            if not st.get("Running") and st.get("FinishedAt", "").startswith(("19", "20")) and \
                    not st["FinishedAt"].startswith("0001"):
                self.exit = {"exit_code": st.get("ExitCode"), "signal": None, "time": _ts(st["FinishedAt"])}
        return self.exit

    def wait_exit(self, timeout: float) -> dict | None:
        deadline = time.time() + timeout
        while self.poll_exit() is None and time.time() < deadline:
            time.sleep(0.05)
        return self.exit

    def mapped_files(self) -> set[str]:
        """In-container paths mapped by the container's processes (root only; else empty)."""
        from imgopt.trace.procmaps import mapped_paths, pidns_members

        try:
            self.c.reload()
            pid = int(self.c.attrs["State"].get("Pid") or 0)
        except Exception:  # noqa: BLE001
            return set()
        return mapped_paths(pidns_members(pid)) if pid else set()

    def output(self) -> str:
        try:
            text = self.c.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001
            text = ""
        return text + self.start_error

    start_error = ""


class _DockerSession(Session):
    def __init__(self, client, ref: str, run, probes: list[Probe], opts: TraceOptions, scratch: str):
        super().__init__(run, probes, opts, scratch)
        self.client, self.ref = client, ref

    def _create(self, tracer: list[str] | None, bundle: str | None):
        ov = self.opts.overrides
        argv = self.run_spec.argv
        volumes: dict = {}
        if bundle:
            out = os.path.join(self.scratch, "out")
            os.makedirs(out, exist_ok=True)
            os.chmod(out, 0o777)
            volumes[bundle] = {"bind": MOUNT, "mode": "ro"}
            volumes[out] = {"bind": f"{MOUNT}/out", "mode": "rw"}
        for v in self.opts.volumes:
            src, _, rest = v.partition(":")
            dst, _, mode = rest.partition(":")
            if not src or not dst.startswith("/"):
                raise BadInput(f"-v {v}", "expected SRC:DST[:ro] with an absolute DST")
            volumes[os.path.abspath(src) if os.path.exists(src) else src] = {"bind": dst, "mode": mode or "rw"}
        kw: dict = dict(name=f"imgopt-trace-{uuid.uuid4().hex[:12]}", network_mode=self.opts.network,
                        volumes=volumes, environment=list(ov.env) or None,
                        labels={"imgopt.trace": "1", OWNER_LABEL: owner_tag()},
                        hostname=self.run_spec.hostname, detach=True)
        kw.update(_hardening(self.opts, traced=bool(tracer)))
        cpus = cpu_set(self.opts)
        if cpus:
            kw["cpuset_cpus"] = ",".join(map(str, cpus))
        if ov.user is not None:
            kw["user"] = ov.user
        if ov.workdir is not None:
            kw["working_dir"] = ov.workdir
        if tracer:
            kw["entrypoint"] = tracer[:1]
            kw["command"] = tracer[1:] + ["-o", f"{MOUNT}/out/trace.log", "--"] + argv
        else:
            kw["entrypoint"] = argv[:1]
            kw["command"] = argv[1:]
        try:
            return self.client.containers.create(self.ref, **kw)
        except Exception as e:  # noqa: BLE001
            raise DaemonError(self.ref, f"docker create failed: {str(e).splitlines()[0][:300]}") from None

    def run(self, fs: RootFS) -> tuple[Recorded, list, dict | None, float]:
        _remove_stale_containers(self.client)
        tracer, bundle = self._strace()
        c = self._create(tracer, bundle)
        target = None
        try:
            launched = time.time()
            self.t_start = launched
            target = _DockerTarget(self.client, c, self.opts.network, tracer)
            try:
                c.start()
            except Exception as e:  # noqa: BLE001 - e.g. the entrypoint does not exist: the app failed
                msg = str(e).splitlines()[0][:300]
                self.notes.append(f"docker start failed: {msg}")
                target.start_error = msg
                target.exit = {"exit_code": 127, "signal": None, "time": time.time()}
            results = run_all(self.probes, target, launched + self.opts.timeout, self._exec_log, launched=launched,
                              trace_log=os.path.join(self.scratch, "out", "trace.log") if tracer else None,
                              private_netns=self.opts.network != "host")
            if all(r.passed for r in results if r.required):
                settle(self.opts, launched + self.opts.timeout, os.path.join(self.scratch, "out", "trace.log"),
                       target.poll_exit)
            exit_info = target.poll_exit()
            self.mapped = target.mapped_files() if tracer else set()
            if self.opts.grace > 0 and exit_info is None:
                c.stop(timeout=int(max(1, self.opts.grace)))
        finally:
            if target is not None and target.netns is not None:
                target.netns.close()
            self.limit = _limit_hit(c, self.opts, target.pids_refused if target is not None else 0)
            try:
                c.kill()
            except Exception:  # noqa: BLE001 - already exited
                pass
            self.output = target.output() if target is not None else ""
            if self.limit:
                self.notes.append(f"limit: {self.limit}")
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001
                pass
        t_end = time.time()
        from imgopt.trace.served import DirCollector

        self.dirs = DirCollector(results)
        return self._record(fs), results, exit_info, t_end

    def _record(self, fs: RootFS) -> Recorded:
        rec = Recorded()
        if self.opts.tracer != "strace":
            rec.t0 = self.t_start
            self.notes.append("untraced run (tracer none): no files recorded")
            return rec
        read_logs(rec, fs, self.run_spec.workdir, os.path.join(self.scratch, "out"), self._exec_logs, self.mapped,
                  self.notes, self.opts.trace_reads, observer=self.dirs.observe if self.dirs else None)
        return rec


OWNER_LABEL = "imgopt.trace.owner"


def _hardening(opts: TraceOptions, traced: bool) -> dict:
    """``docker create`` arguments: the native sandbox's capabilities, seccomp policy and limits.

    Every capability is dropped and the native sandbox's set is added back
    (Docker's default less NET_RAW and MKNOD; SYS_PTRACE for strace when
    traced); ``no-new-privileges``; the same seccomp policy as the native
    backend (imgopt.trace.seccomp: Docker's default, ptrace attach denied);
    pids, memory (no swap on top) and CPU limits.  Docker masks and
    read-only-mounts the /proc and /sys paths itself.
    """
    from imgopt.trace.native import _CAP_NAMES, sandbox_caps
    from imgopt.trace.seccomp import docker_profile

    kw: dict = {"cap_drop": ["ALL"], "cap_add": [_CAP_NAMES[c] for c in sandbox_caps(traced)],
                "security_opt": ["no-new-privileges", "seccomp=" + docker_profile()],
                "pids_limit": opts.pids or -1}
    if opts.memory:
        kw["mem_limit"] = opts.memory
        kw["memswap_limit"] = opts.memory
    if opts.cpu_limit:
        kw["nano_cpus"] = int(opts.cpu_limit * 1e9)
    return kw


def docker_protections(opts: TraceOptions, traced: bool) -> dict:
    """What the docker backend's container had (AccessProfile.sandbox)."""
    from imgopt.trace.seccomp import VERSION

    kw = _hardening(opts, traced)
    return {"engine": "docker", "user_namespace": False, "capabilities": kw["cap_add"], "no_new_privs": True,
            "seccomp": VERSION, "masked_paths": "docker default", "readonly_paths": "docker default",
            "cgroup": "docker", "limits": {"pids": opts.pids, "memory": opts.memory, "cpu": opts.cpu_limit},
            "network": opts.network}


def _pids_refused(cid: str) -> int:
    """How often the container's pids limit refused a fork (its cgroup's pids.events; 0 if unknown).

    Read while it runs: the engine removes the cgroup when the container stops."""
    for d in (f"/sys/fs/cgroup/pids/docker/{cid}", f"/sys/fs/cgroup/pids/system.slice/docker-{cid}.scope",
              f"/sys/fs/cgroup/system.slice/docker-{cid}.scope", f"/sys/fs/cgroup/docker/{cid}"):
        try:
            with open(os.path.join(d, "pids.events")) as f:
                m = re.search(r"^max (\d+)", f.read(), re.M)
        except OSError:
            continue
        return int(m.group(1)) if m else 0
    return 0


def _limit_hit(container, opts: TraceOptions, pids_refused: int = 0) -> str:
    """Which limit stopped the container's app ('' when none did): OOMKilled, or its pids.events."""
    from imgopt.trace.cgroup import human_bytes

    try:
        container.reload()
        st = container.attrs["State"]
    except Exception:  # noqa: BLE001
        return ""
    if st.get("OOMKilled") and opts.memory:
        return f"the app was killed by the memory limit ({human_bytes(opts.memory)}); raise --memory"
    if opts.pids and (pids_refused or (st.get("Running") and _pids_refused(container.id))):
        return f"the app hit the pids limit ({opts.pids} processes and threads); raise --pids"
    return ""


def _remove_stale_containers(client) -> None:
    """Containers a killed imgopt left behind (its owner label names a dead process)."""
    try:
        for c in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            if not owner_alive(c.labels.get(OWNER_LABEL, "")):
                c.remove(force=True)
    except Exception:  # noqa: BLE001 - best effort; the engine answers errors for containers being removed
        pass


def _ts(text: str) -> float:
    """Docker's RFC 3339 timestamp (nanoseconds) as time.time()."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        return time.time()
    base = _dt.datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0." + (m.group(2) or "0"))
