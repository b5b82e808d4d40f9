"""The entrypoint of the escape-test image: tries every way out of a trace sandbox it knows.

    python3 /escape.py all       # every attempt below, then a fork bomb; prints one report line
    python3 /escape.py memory    # allocate (and touch) memory until something stops it
    python3 /escape.py sleep     # sleep far past any timeout

The report is one line ``ESCAPE-REPORT {json}``: for each attempt,
``{"escaped": bool, "detail": str}``.  "Escaped" means the attempt did what it
tried (a write was accepted, a syscall was not refused...); the test also
checks from outside that the host did not change.  Environment (set by the
test): ESCAPE_CANARY (a host file whose content is ESCAPE_CANARY_TEXT),
ESCAPE_DISK (the host's root block device, MAJOR:MINOR), ESCAPE_PORT (a TCP
port listening on the host's loopback), ESCAPE_CORE_PATTERN (what to write into
core_pattern).  Harmless on a host where it did
escape: the sysctls get values the test restores, sysrq gets 'h' (help).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
BLOCKED = (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EROFS)
NR = {"keyctl": 250, "add_key": 248, "init_module": 175, "finit_module": 313, "bpf": 321, "perf_event_open": 298,
      "userfaultfd": 323, "open_by_handle_at": 304, "kexec_load": 246, "reboot": 169, "unshare": 272,
      "setns": 308, "ptrace": 101, "mount": 165, "swapon": 167, "syslog": 103, "iopl": 172}

report: dict[str, dict] = {}


def record(name: str, escaped: bool, detail: str) -> None:
    report[name] = {"escaped": bool(escaped), "detail": detail[:300]}


def syscall(name: str, *args) -> tuple[int, int]:
    ctypes.set_errno(0)
    ret = libc.syscall(NR[name], *args)
    return ret, ctypes.get_errno()


def denied(name: str, *args) -> None:
    """A syscall that must be refused (EPERM/EACCES/ENOSYS): anything else means it got through."""
    ret, err = syscall(name, *args)
    record(f"syscall:{name}", ret >= 0 or err not in BLOCKED,
           f"ret={ret} errno={errno.errorcode.get(err, err)}")


def write_file(name: str, path: str, data: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(data)
        record(name, True, f"wrote {data!r} to {path}")
    except OSError as e:
        record(name, False, f"{path}: {e.strerror}")


def attempts() -> None:
    # global sysctls and sysrq (read-only /proc/sys, /proc/sysrq-trigger)
    # the test passes a distinctive pattern (and restores the host's); the engine benchmark passes the host's
    # own value, so a write that gets through changes nothing
    write_file("sysctl:core_pattern", "/proc/sys/kernel/core_pattern",
               os.environ.get("ESCAPE_CORE_PATTERN", "|/escape-payload %p"))
    write_file("sysctl:drop_caches", "/proc/sys/vm/drop_caches", "1")
    write_file("sysctl:hostname", "/proc/sys/kernel/hostname", "escaped-host")
    write_file("sysrq-trigger", "/proc/sysrq-trigger", "h")
    write_file("sysfs-write", "/sys/kernel/uevent_helper", "/escape-payload")
    # masked kernel files
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"):
        try:
            with open(path, "rb") as f:
                data = f.read(4096)
            record(f"read:{path}", len(data) > 0, f"read {len(data)} bytes")
        except OSError as e:
            record(f"read:{path}", False, f"{path}: {e.strerror}")
    # the host's files through /proc/PID/root of every process we can see
    canary, text = os.environ.get("ESCAPE_CANARY", ""), os.environ.get("ESCAPE_CANARY_TEXT", "")
    seen = []
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        for path in (f"/proc/{pid}/root{canary}", f"/proc/{pid}/cwd{canary}"):
            try:
                with open(path) as f:
                    if text and text in f.read():
                        seen.append(path)
            except OSError:
                pass
    try:
        with open(canary) as f:
            if text and text in f.read():
                seen.append(canary)
    except OSError:
        pass
    record("host-file:/proc/PID/root", bool(seen), f"read the host canary through {seen}" if seen else
           f"no process root leads to the host ({len(os.listdir('/proc'))} /proc entries)")
    # mounts (and with them: cgroup release_agent, a new /proc without masks, remounting /proc/sys rw)
    os.makedirs("/tmp/escape-mnt", exist_ok=True)
    for fstype, src, target, flags in (("tmpfs", "none", "/tmp/escape-mnt", 0), ("proc", "proc", "/tmp/escape-mnt", 0),
                                       ("cgroup", "cgroup", "/tmp/escape-mnt", 0),
                                       (None, None, "/proc/sys", 32 | 4096)):  # MS_REMOUNT|MS_BIND, rw
        ctypes.set_errno(0)
        ret = libc.mount(src and src.encode(), target.encode(), fstype and fstype.encode(), flags,
                         b"memory" if fstype == "cgroup" else None)
        err = ctypes.get_errno()
        record(f"mount:{fstype or 'remount-rw'}", ret == 0, f"ret={ret} errno={errno.errorcode.get(err, err)}")
        if ret == 0:
            libc.umount2(target.encode(), 2)
    # a device node for the host's disk, and reading it
    disk = os.environ.get("ESCAPE_DISK", "")
    if disk:
        major, minor = map(int, disk.split(":"))
        try:
            os.mknod("/tmp/escape-disk", 0o600 | 0o060000, os.makedev(major, minor))
            made = "made"
        except OSError as e:
            made = f"mknod: {e.strerror}"
        try:
            with open("/tmp/escape-disk", "rb") as f:
                data = f.read(512)
            record("mknod-host-disk", len(data) > 0, f"{made}; read {len(data)} bytes of {disk}")
        except OSError as e:
            record("mknod-host-disk", False, f"{made}; open: {e.strerror}")
    # raw sockets
    for name, fam, typ, proto in (("raw-socket:icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                                  ("raw-socket:packet", socket.AF_PACKET, socket.SOCK_RAW, 0x0300)):
        try:
            socket.socket(fam, typ, proto).close()
            record(name, True, "created")
        except OSError as e:
            record(name, False, e.strerror or str(e))
    # the host's loopback services
    port = int(os.environ.get("ESCAPE_PORT", "5000"))
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.close()
        record("host-loopback", True, f"connected to 127.0.0.1:{port}")
    except OSError as e:
        record("host-loopback", False, f"127.0.0.1:{port}: {e.strerror or e}")
    for path in ("/var/run/docker.sock", "/run/docker.sock"):
        record(f"unix:{path}", os.path.exists(path), "present" if os.path.exists(path) else "absent")
    # kernel keyring, modules, bpf, perf, userfaultfd, handles, kexec, reboot, swap, syslog, io ports
    denied("keyctl", 0, -3, 1, 0, 0)  # KEYCTL_GET_KEYRING_ID, session keyring, create
    denied("add_key", b"user", b"escape", b"payload", 7, -3)
    denied("init_module", 0, 0, b"")
    denied("finit_module", 0, b"", 0)
    denied("bpf", 0, 0, 0)
    denied("perf_event_open", 0, 0, -1, -1, 0)
    denied("userfaultfd", 0)
    denied("open_by_handle_at", 0, 0, 0)
    denied("kexec_load", 0, 0, 0, 0)
    denied("reboot", 0xfee1dead, 0x28121969, 0x4321fedc, 0)  # LINUX_REBOOT_CMD_CAD_OFF: harmless if allowed
    denied("swapon", b"/tmp/escape-swap", 0)
    denied("syslog", 3, 0, 0)  # SYSLOG_ACTION_READ_ALL
    denied("iopl", 3)
    # namespaces from inside
    for flag, name in ((0x10000000, "user"), (0x20000, "mount"), (0x40000000, "net"), (0x20000000, "pid")):
        ret, err = syscall("unshare", flag)
        record(f"unshare:{name}", ret == 0, f"ret={ret} errno={errno.errorcode.get(err, err)}")
    try:
        fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
        ret, err = syscall("setns", fd, 0)
        os.close(fd)
        record("setns:/proc/1/ns/mnt", ret == 0, f"ret={ret} errno={errno.errorcode.get(err, err)}")
    except OSError as e:
        record("setns:/proc/1/ns/mnt", False, f"open: {e.strerror}")
    # PID 1: attach, and its memory
    ret, err = syscall("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH
    record("ptrace:attach-pid1", ret == 0, f"ret={ret} errno={errno.errorcode.get(err, err)}")
    if ret == 0:
        syscall("ptrace", 17, 1, 0, 0)  # detach
    ret, err = syscall("ptrace", 0x4206, 1, 0, 0)  # PTRACE_SEIZE
    record("ptrace:seize-pid1", ret == 0, f"ret={ret} errno={errno.errorcode.get(err, err)}")
    try:  # masked with /dev/null it opens, but reads nothing; PID 1's real memory would read
        with open("/proc/1/maps") as f:
            start = int(f.readline().split("-")[0], 16)
        fd = os.open("/proc/1/mem", os.O_RDWR)
        try:
            data = os.pread(fd, 16, start)
        finally:
            os.close(fd)
        record("proc1-mem", len(data) > 0, f"opened /proc/1/mem read-write, read {len(data)} bytes at {start:#x}")
    except (OSError, ValueError) as e:
        record("proc1-mem", False, f"/proc/1/mem: {getattr(e, 'strerror', None) or e}")
    try:
        with open("/proc/1/cmdline", "rb") as f:
            report["pid1"] = {"escaped": False, "detail": f.read().replace(b"\0", b" ").decode(errors="replace")[:200]}
    except OSError as e:
        report["pid1"] = {"escaped": False, "detail": f"/proc/1/cmdline: {e.strerror}"}
    # what the process holds
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    record("no_new_privs-off", status.get("NoNewPrivs", "0").strip() != "1", f"NoNewPrivs {status.get('NoNewPrivs')}")
    record("seccomp-off", status.get("Seccomp", "0").strip() != "2", f"Seccomp {status.get('Seccomp')}")
    cap_eff = int(status.get("CapEff", "0"), 16)
    record("cap_sys_admin", bool(cap_eff & (1 << 21)), f"CapEff {status.get('CapEff', '').strip()}")


def fork_bomb(limit: int = 100000) -> None:
    """Fork sleeping children until the kernel refuses; the count is what the pids limit allowed."""
    kids = []
    err = ""
    deadline = time.monotonic() + 60
    while len(kids) < limit and time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError as e:
            err = e.strerror or str(e)
            break
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    for pid in kids:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    report["fork-bomb"] = {"escaped": len(kids) >= limit, "detail": f"{len(kids)} forks, then: {err or 'stopped'}",
                           "forks": len(kids)}


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    if mode == "memory":
        hog = []
        while True:
            hog.append(b"x" * (8 << 20))  # written, so the pages are really used
            print(f"ESCAPE-MEMORY {len(hog) * 8} MiB", flush=True)
    if mode == "sleep":
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
        return
    attempts()
    fork_bomb()
    print("ESCAPE-REPORT " + json.dumps(report, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
