"""PID 1 of a native trace sandbox.  Standard library only; run by ``unshare``.

The host starts this script as ``unshare --mount --pid --fork --ipc --uts
[--net] [--user --map-root-user] -- python -I -S sandbox_init.py SPEC.json``.
Inside the fresh namespaces it sets the sandbox up as a container runtime
would, then stays PID 1 (init and reaper, like ``docker run --init``) and
serves the host over a control socket:

1. mount the root (overlay: image lowerdir + scratch upperdir, or a bind of the
   rootfs), ``/proc``, a minimal ``/dev`` (null, zero, full, random, urandom,
   tty, pts, shm, mqueue), ``/sys`` read-only, ``/etc/hosts``, ``/etc/hostname``,
   ``/etc/resolv.conf``, and the tracer bundle (read-only) with its output
   directory at ``/.imgopt-trace``; every mount point is opened component by
   component with ``O_NOFOLLOW`` and mounted through ``/proc/self/fd``, so a
   symlink in the (hostile) image cannot redirect a mount to the host;
2. ``pivot_root`` into it and detach the old root (no chroot escape);
3. bring ``lo`` up, set the hostname;
4. fork the app: drop capabilities to Docker's default set, switch to the
   image's user, chdir to its workdir, and exec the entrypoint under the
   tracer (strace from the bundle) or directly;
5. loop: answer ``socket`` (a TCP socket created in the sandbox's network
   namespace, passed back with SCM_RIGHTS, for HTTP probes), ``exec`` (run a
   probe command inside the sandbox), ``stop``; report the app's exit.

When this process exits, the kernel kills every process left in the PID
namespace and the mount namespace (with all its mounts) goes away.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT, SYS_CAPSET = 155, 126
PR_CAPBSET_DROP, PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 24, 1, 4
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CLONE_NEWUSER = 0x10000000
O_PATH = getattr(os, "O_PATH", 0o10000000)
DIR_FLAGS = O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
TRACE_DIR = ".imgopt-trace"  # where the bundle is mounted, relative to the root
# Docker's default capability set (moby oci/caps/defaults.go) less CAP_NET_RAW (13) and CAP_MKNOD (27):
# no raw sockets, no device nodes (Docker's device cgroup makes a made node useless; here nothing would)
DEFAULT_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29, 31)
# As runc/moby (oci/defaults.go): files and directories of /proc and /sys a container must not reach
MASKED_PATHS = ("proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list",
                "proc/timer_stats", "proc/sched_debug", "proc/scsi", "sys/firmware", "sys/devices/virtual/powercap")
READONLY_PATHS = ("proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger")
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
MAX_OUTPUT = 64 << 10
FILTER = {"bpf": b""}  # the seccomp program, read from the spec before pivot_root


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)), f"mount {fstype or src} on {target}")


def log(msg: str) -> None:
    sys.stderr.write(f"imgopt-sandbox: {msg}\n")
    sys.stderr.flush()


# ------------------------------------------------------------ safe paths


def open_dir(root_fd: int, rel: str, create: bool = True, replace_last: bool = True) -> int | None:
    """An O_PATH fd for directory ``rel`` below ``root_fd``, never following a symlink.

    Missing components are created (0755).  A last component of another type
    (file, symlink) is replaced when ``replace_last``; an intermediate one that
    is not a real directory makes the call return None.
    """
    fd = os.dup(root_fd)
    parts = [p for p in rel.split("/") if p]
    for i, name in enumerate(parts):
        last = i == len(parts) - 1
        try:
            nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                os.close(fd)
                return None
            os.mkdir(name, 0o755, dir_fd=fd)
            nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
        except (NotADirectoryError, OSError) as e:  # ELOOP: a symlink; ENOTDIR: a file
            if not (last and replace_last) or e.errno not in (errno.ELOOP, errno.ENOTDIR):
                os.close(fd)
                return None
            os.unlink(name, dir_fd=fd)
            os.mkdir(name, 0o755, dir_fd=fd)
            nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


def open_file(root_fd: int, rel: str, create: bool = True) -> int | None:
    """An O_PATH fd for regular file ``rel`` (created empty if missing); None if unsafe."""
    parent, _, name = rel.strip("/").rpartition("/")
    pfd = open_dir(root_fd, parent, create=False, replace_last=False)
    if pfd is None:
        return None
    try:
        try:
            fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        except FileNotFoundError:
            if not create:
                return None
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=pfd))
            fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd
    finally:
        os.close(pfd)


def fdpath(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


# ------------------------------------------------------------ the rootfs


def mount_root(spec: dict) -> tuple[str, bool]:
    """Mount the sandbox root; returns its path (a mount point) and whether it is an overlay.

    Without overlay support (e.g. a scratch directory on overlayfs) the rootfs
    itself is bind-mounted and takes the app's writes.
    """
    merged = spec["merged"]
    ov = spec.get("overlay")
    if ov:
        opts = f"lowerdir={ov['lower']},upperdir={ov['upper']},workdir={ov['work']}"
        for extra in ("", ",userxattr") if spec.get("userns") else ("",):
            try:
                mount("overlay", merged, "overlay", MS_NODEV, opts + extra)  # no device nodes from the image
                return merged, True
            except OSError as e:
                err = e
        log(f"overlay not available ({err.strerror}): the rootfs takes the writes")
    mount(spec["rootfs"], merged, None, MS_BIND | MS_REC)
    try:
        mount(None, merged, None, MS_REMOUNT | MS_BIND | MS_NODEV)
    except OSError as e:
        log(f"root not remounted nodev: {e.strerror}")
    return merged, False


def mount_dev(root_fd: int, userns: bool) -> None:
    fd = open_dir(root_fd, "dev")
    assert fd is not None
    mount("tmpfs", fdpath(fd), "tmpfs", MS_NOSUID, "mode=755,size=65536k")
    os.close(fd)
    dev = open_dir(root_fd, "dev", create=False)
    assert dev is not None
    try:
        for name, (major, minor) in DEVICES.items():
            try:
                if userns:
                    raise PermissionError
                os.mknod(name, 0o666 | 0o020000, os.makedev(major, minor), dir_fd=dev)
                os.chmod(name, 0o666, dir_fd=dev)
            except PermissionError:  # user namespace: bind the host's node
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o666, dir_fd=dev))
                nfd = os.open(name, O_PATH | os.O_NOFOLLOW, dir_fd=dev)
                mount(f"/dev/{name}", fdpath(nfd), None, MS_BIND)
                os.close(nfd)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
            os.symlink(target, name, dir_fd=dev)
        for name, fstype, flags, data in (
                ("pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
                ("shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"),
                ("mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)):
            os.mkdir(name, 0o755, dir_fd=dev)
            nfd = os.open(name, DIR_FLAGS, dir_fd=dev)
            try:
                mount(fstype, fdpath(nfd), fstype, flags, data)
            except OSError as e:
                if name == "pts":  # devpts options differ in user namespaces
                    try:
                        mount(fstype, fdpath(nfd), fstype, flags, "newinstance,ptmxmode=0666")
                    except OSError:
                        log(f"/dev/{name} not mounted: {e.strerror}")
                else:
                    log(f"/dev/{name} not mounted: {e.strerror}")
            os.close(nfd)
    finally:
        os.close(dev)


def mount_special(root_fd: int, spec: dict) -> None:
    """/proc, /dev, /sys, the /etc files a runtime provides, the tracer bundle."""
    fd = open_dir(root_fd, "proc")
    assert fd is not None
    mount("proc", fdpath(fd), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.close(fd)
    if spec.get("userns_map") and spec.get("network") != "host":
        # the app's root has no capability in this network namespace (it belongs to the host's user
        # namespace): let it bind the ports below 1024 as rootless Docker does (this namespace only)
        fd = open_dir(root_fd, "proc", create=False, replace_last=False)  # the new mount on top
        try:
            with open(f"{fdpath(fd)}/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
                f.write("0")
        except OSError as e:
            log(f"ip_unprivileged_port_start: {e.strerror}")
        finally:
            os.close(fd)
    mount_dev(root_fd, bool(spec.get("userns")))
    fd = open_dir(root_fd, "sys")
    assert fd is not None
    try:
        mount("sysfs", fdpath(fd), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        try:
            mount("/sys", fdpath(fd), None, MS_BIND | MS_REC)
            remount_ro(root_fd, "sys", MS_RDONLY)
        except OSError as e:
            log(f"/sys not mounted: {e.strerror}")
    os.close(fd)
    protect_kernel_paths(root_fd)
    for rel, src in (spec.get("etc_files") or {}).items():
        fd = open_file(root_fd, rel)
        if fd is None:
            log(f"/{rel} not provided: a parent is not a directory or it is not a regular file")
            continue
        mount(src, fdpath(fd), None, MS_BIND)
        os.close(fd)
    if spec.get("bundle"):
        fd = open_dir(root_fd, TRACE_DIR)
        assert fd is not None
        mount(spec["bundle"], fdpath(fd), None, MS_BIND | MS_REC)
        os.close(fd)
        remount_ro(root_fd, TRACE_DIR, MS_RDONLY | MS_NOSUID)
        fd = open_dir(root_fd, f"{TRACE_DIR}/out", create=False)
        assert fd is not None
        mount(spec["out"], fdpath(fd), None, MS_BIND)
        os.close(fd)


def protect_kernel_paths(root_fd: int) -> None:
    """Mask and make read-only what runc does in /proc and /sys; and PID 1's memory (ours).

    A masked file gets /dev/null bound over it, a masked directory an empty
    read-only tmpfs; a read-only path is bound onto itself and remounted
    read-only (so ``/proc/sys`` cannot change a host-wide sysctl, not even
    for root with CAP_SYS_ADMIN, which the app does not have anyway).  The
    app holds CAP_SYS_PTRACE for the tracer; ``/proc/1/mem`` is masked so it
    cannot write this process's memory (ptrace attach is denied by seccomp).
    Paths this kernel does not have are skipped.  A mask is only as good as its
    source: a /dev/null that is not the null device (a regular file some host
    process left after /dev/null went missing) would show the app what was last
    written to it, so the sandbox refuses to start on such a host.
    """
    null = os.stat("/dev/null")
    if not stat.S_ISCHR(null.st_mode) or null.st_rdev != os.makedev(1, 3):
        raise OSError(errno.ENODEV, "/dev/null on this host is not the null device (character device 1:3): "
                                    "the masked /proc paths could not be masked; recreate it "
                                    "(rm /dev/null && mknod -m 666 /dev/null c 1 3)")
    for _pfd, _name, fd in _existing(root_fd, (*MASKED_PATHS, "proc/1/mem", "proc/1/task/1/mem")):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            mount("tmpfs", fdpath(fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
        else:
            mount("/dev/null", fdpath(fd), None, MS_BIND)
    for pfd, name, fd in _existing(root_fd, READONLY_PATHS):
        mount(fdpath(fd), fdpath(fd), None, MS_BIND | MS_REC)
        top = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)  # the new mount on top
        try:
            mount(None, fdpath(top), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        finally:
            os.close(top)


def _existing(root_fd: int, rels):
    """``(parent fd, name, O_PATH fd)`` for each of ``rels`` that exists below ``root_fd`` (closed after use)."""
    for rel in rels:
        parent, _, name = rel.rpartition("/")
        pfd = open_dir(root_fd, parent, create=False, replace_last=False)
        if pfd is None:
            continue
        try:
            try:
                fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            except FileNotFoundError:
                continue
            try:
                yield pfd, name, fd
            finally:
                os.close(fd)
        finally:
            os.close(pfd)


def remount_ro(root_fd: int, rel: str, flags: int) -> None:
    """Make the bind mount now at ``rel`` read-only (reopened: the old fd is below it)."""
    fd = open_dir(root_fd, rel, create=False, replace_last=False)
    assert fd is not None
    try:
        mount(None, fdpath(fd), None, MS_REMOUNT | MS_BIND | flags)
    finally:
        os.close(fd)


def pivot(root: str) -> None:
    os.chdir(root)
    _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def lo_up() -> None:
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


# ---------------------------------------------------------- credentials


def drop_caps(caps: "tuple[int, ...] | list[int]" = DEFAULT_CAPS) -> None:
    """Keep only ``caps`` (bounding, permitted, effective); inheritable and ambient empty."""
    for cap in range(64):
        if cap in caps:
            continue
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    mask = sum(1 << c for c in caps)
    hdr = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = struct.pack("6I", mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0, mask >> 32, mask >> 32, 0)
    hbuf, dbuf = ctypes.create_string_buffer(hdr, len(hdr)), ctypes.create_string_buffer(data, len(data))
    libc.syscall(SYS_CAPSET, hbuf, dbuf)  # best effort (fails harmlessly without CAP_SETPCAP)


def become(cred: dict, caps: "list[int] | None" = None) -> None:
    """Switch to the image's user (groups, gid, uid); the sandbox's capabilities."""
    drop_caps(DEFAULT_CAPS if caps is None else caps)
    try:
        os.setgroups(cred.get("groups") or [])
    except PermissionError:
        pass
    os.setgid(cred["gid"])
    os.setuid(cred["uid"])


# ------------------------------------------------------------ processes


def spawn(spec: dict, child) -> int:
    """fork; the child calls ``child()`` (which never returns), in a user namespace of its own when the spec
    has ``userns_map`` (this process, in the parent namespace, writes its maps)."""
    m = spec.get("userns_map")
    if not m:
        pid = os.fork()
        if pid == 0:
            child()
        return pid
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r1)
        os.close(w2)
        ok = libc.unshare(CLONE_NEWUSER) == 0
        os.write(w1, b"1" if ok else b"0")
        os.close(w1)
        if not ok or os.read(r2, 1) != b"1":
            sys.stderr.write("imgopt-sandbox: cannot enter the sandbox's user namespace\n")
            os._exit(125)
        os.close(r2)
        child()
    os.close(w1)
    os.close(r2)
    ok = os.read(r1, 1) == b"1"
    os.close(r1)
    try:
        if ok:
            for name in ("uid", "gid"):
                with open(f"/proc/{pid}/{name}_map", "w") as f:
                    f.write(" ".join(map(str, m[name])) + "\n")
    except OSError as e:
        log(f"user namespace maps: {e.strerror}")
        ok = False
    os.write(w2, b"1" if ok else b"0")
    os.close(w2)
    return pid


def exec_app(spec: dict, argv: list[str], env: list[str], tracer: list[str] | None, log_path: str | None) -> None:
    """In the forked child: become the user, chdir, exec (never returns)."""
    try:
        os.setsid()
        if spec.get("cpus"):  # tracer and app on the same CPU(s): ptrace stops without cross-CPU wakeups
            os.sched_setaffinity(0, set(spec["cpus"]))
        become(spec["cred"], spec.get("caps"))
        try:
            os.chdir(spec["workdir"] or "/")
        except OSError as e:
            sys.stderr.write(f"imgopt-sandbox: chdir to the workdir {spec['workdir']!r}: {e.strerror}\n")
            os._exit(126)
        path = lookup(argv[0], env)
        if path is None:
            sys.stderr.write(f"imgopt-sandbox: exec: {argv[0]!r}: executable file not found in $PATH\n")
            os._exit(127)
        envd = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        if spec.get("userns_map"):  # PID 1 is not filtered (the namespace boundary holds it): filter here
            load_seccomp(FILTER["bpf"])
        if tracer:
            full = tracer + ["-o", log_path or "/dev/null", "--", path] + argv[1:]
            os.execve(full[0], full, envd)
        os.execve(path, argv, envd)
    except OSError as e:
        sys.stderr.write(f"imgopt-sandbox: exec {argv[0]!r}: {e.strerror}\n")
        os._exit(126 if e.errno in (errno.EACCES, errno.ENOEXEC) else 127)
    except BaseException as e:  # noqa: BLE001
        sys.stderr.write(f"imgopt-sandbox: exec {argv[0]!r}: {e}\n")
        os._exit(127)


def lookup(cmd: str, env: list[str]) -> str | None:
    """The executable for ``cmd``: as given if it has a slash, else the first on $PATH (like runc)."""
    if "/" in cmd:
        return cmd
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = os.path.join(d or ".", cmd)
        try:
            if os.path.isfile(cand) and os.access(cand, os.X_OK):
                return cand
        except OSError:
            continue
    return None


def decode_status(status: int) -> dict:
    if os.WIFEXITED(status):
        return {"exit_code": os.WEXITSTATUS(status), "signal": None}
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    return {"exit_code": 128 + sig, "signal": sig}


class Agent:
    """PID 1's loop: reap children, report the app's exit, serve the host."""

    def __init__(self, spec: dict, ctl: socket.socket, app_pid: int, wake_r: int):
        self.spec = spec
        self.ctl = ctl
        self.app_pid = app_pid
        self.wake_r = wake_r
        self.exited: dict[int, int] = {}

    def send(self, msg: dict, fds: list[int] | None = None) -> None:
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.ctl, [data], fds)
        else:
            self.ctl.send(data)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exited[pid] = status
            if pid == self.app_pid:
                self.send({"event": "exited", "time": time.time(), **decode_status(status)})

    def run(self) -> None:
        while True:
            r, _, _ = select.select([self.ctl, self.wake_r], [], [], 1.0)
            if self.wake_r in r:
                try:
                    os.read(self.wake_r, 4096)
                except BlockingIOError:
                    pass
            self.reap()
            if self.ctl in r:
                try:
                    data = self.ctl.recv(1 << 20)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return  # host went away: stop
                req = json.loads(data)
                if not self.handle(req):
                    return

    def handle(self, req: dict) -> bool:
        op, rid = req.get("op"), req.get("id")
        if op == "socket":
            family = socket.AF_INET6 if req.get("family") == "inet6" else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            self.send({"id": rid, "ok": True}, [s.fileno()])
            s.close()
        elif op == "exec":
            self.send({"id": rid, "ok": True, **self.run_exec(req)})
        elif op == "signal":
            try:
                os.kill(self.app_pid, int(req["signal"]))
            except ProcessLookupError:
                pass
            self.send({"id": rid, "ok": True})
        elif op == "stop":
            self.send({"id": rid, "ok": True})
            return False
        else:
            self.send({"id": rid, "ok": False, "error": f"unknown op {op!r}"})
        return True

    def run_exec(self, req: dict) -> dict:
        """Run a probe command inside the sandbox; its output and exit code."""
        r, w = os.pipe()

        def child() -> None:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            os.close(w)
            nul = os.open("/dev/null", os.O_RDONLY)
            os.dup2(nul, 0)
            signal.set_wakeup_fd(-1)
            for s in (signal.SIGCHLD,):
                signal.signal(s, signal.SIG_DFL)
            exec_app(self.spec, req["argv"], req.get("env") or self.spec["env"],
                     self.spec.get("tracer") if req.get("trace") else None, req.get("log"))

        pid = spawn(self.spec, child)
        os.close(w)
        out = bytearray()
        deadline = time.monotonic() + float(req.get("timeout", 30))
        timed_out = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            rr, _, _ = select.select([r], [], [], left)
            if not rr:
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                break
            if len(out) < MAX_OUTPUT:
                out += chunk[: MAX_OUTPUT - len(out)]
        if timed_out:  # the command and everything it started (it is a session leader)
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except ProcessLookupError:
                    pass
        os.close(r)
        status = self.exited.pop(pid, None)
        if status is None:
            _, status = os.waitpid(pid, 0)
        res = decode_status(status)
        return {"exit_code": res["exit_code"], "output": out.decode("utf-8", "replace"), "timed_out": timed_out}


def load_seccomp(bpf: bytes) -> None:
    """no_new_privs, then the seccomp filter (classic BPF from the host) for this process and its children."""
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if not bpf:
        return

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    bpf = b""
    if spec.get("seccomp"):
        with open(spec["seccomp"], "rb") as f:
            bpf = f.read()
    FILTER["bpf"] = bpf
    ctl = socket.socket(fileno=spec["control_fd"])
    os.set_inheritable(ctl.fileno(), False)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    fan_fd = -1
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        root, overlay = mount_root(spec)
        if spec.get("fanotify"):
            fan_fd = fanotify_watch(root, spec["fanotify"])
        root_fd = os.open(root, DIR_FLAGS)
        mount_special(root_fd, spec)
        os.close(root_fd)
        pivot(root)
        if spec.get("workdir"):  # created if missing, as runc does (inside the new root: symlinks stay in it)
            try:
                wd = os.path.realpath(spec["workdir"])
                if not os.path.isdir(wd):
                    os.makedirs(wd, 0o755, exist_ok=True)
                    if spec.get("userns_map"):  # owned by the sandbox's root, as runc makes it
                        base = spec["userns_map"]["uid"][1]
                        os.chown(wd, base, spec["userns_map"]["gid"][1])
                        del base
            except OSError as e:
                log(f"workdir {spec['workdir']}: {e.strerror}")
        if spec.get("network") != "host":
            lo_up()
        socket.sethostname(spec.get("hostname", "imgopt-trace"))
        # From here on nothing in the sandbox gains privileges or makes a denied syscall, this process
        # included (it forks the app and the exec probes; a ptrace of it is denied, its memory masked).
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        drop_caps(spec.get("caps") or DEFAULT_CAPS)
        if not spec.get("userns_map"):  # else each child loads it in its own user namespace (spawn)
            load_seccomp(bpf)
    except OSError as e:
        ctl.send(json.dumps({"event": "error", "error": f"sandbox setup failed: {e}"}).encode())
        sys.exit(125)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(0))
    t_exec = time.time()

    def child() -> None:
        ctl.close()
        if fan_fd >= 0:
            os.close(fan_fd)
        signal.set_wakeup_fd(-1)
        os.close(wake_r)
        os.close(wake_w)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        exec_app(spec, spec["argv"], spec["env"], spec.get("tracer"), spec.get("log"))

    pid = spawn(spec, child)
    agent = Agent(spec, ctl, pid, wake_r)
    agent.send({"event": "started", "pid": pid, "time": t_exec, "overlay": overlay},
               [fan_fd] if fan_fd >= 0 else None)
    if fan_fd >= 0:
        os.close(fan_fd)
    try:
        agent.run()
    finally:
        try:
            os.kill(-1, signal.SIGKILL)  # everything else in the PID namespace
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def fanotify_watch(root: str, mask: int) -> int:
    """A fanotify group watching every open/exec/read on the root mount (root only)."""
    FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_NOTIF = 0x1, 0x2, 0x0
    FAN_MARK_ADD, FAN_MARK_MOUNT = 0x1, 0x10
    libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
    fd = _check(libc.fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                                   os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC), "fanotify_init")
    _check(libc.fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, -100, root.encode()), "fanotify_mark")
    return fd


if __name__ == "__main__":
    main()
