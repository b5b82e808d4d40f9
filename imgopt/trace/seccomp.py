"""The trace sandbox's seccomp filter: Docker's default profile, a little tighter.

One policy, two outputs:

* :func:`compile_bpf` — the native backend's filter as a raw classic-BPF
  program (compiled by libseccomp through its official Python binding, Debian's
  ``python3-seccomp``); the sandbox's PID 1 loads it with ``prctl`` (standard
  library only) once its mounts are done, so it covers the init itself, the
  tracer, the app and every exec probe (a filter is inherited across fork and
  exec and cannot be removed);
* :func:`docker_profile` — the same policy in Docker's JSON profile format, for
  ``docker run --security-opt seccomp=...``.

The policy is moby's ``profiles/seccomp/default.json`` evaluated for the
capabilities the sandbox keeps (Docker's default set, plus ``CAP_SYS_PTRACE``
for the tracer): every syscall not listed fails with ``EPERM``; ``clone`` only
without namespace flags; ``clone3`` fails with ``ENOSYS`` (libc then falls back
to ``clone``, whose flags can be checked); ``socket`` anything but
``AF_VSOCK``; ``personality`` only the harmless values.  So ``mount``,
``umount2``, ``pivot_root``, ``unshare``, ``setns``, ``keyctl``/``add_key``/
``request_key``, ``bpf``, ``perf_event_open``, ``userfaultfd``,
``open_by_handle_at``, ``init_module``/``finit_module``/``delete_module``,
``kexec_load``, ``reboot``, ``swapon``, ``acct``, ``iopl``, ``syslog``,
``settimeofday``... are all denied.

Tighter than Docker, because the sandbox must grant ``CAP_SYS_PTRACE`` (strace
loses the paths of a tracee that changed its uid without it: nginx's workers):
``ptrace(PTRACE_ATTACH)`` and ``ptrace(PTRACE_SEIZE)`` are denied (strace then
uses ``PTRACE_TRACEME`` from its own child and follows forks through ptrace
options, which needs neither; nothing in the sandbox can attach to another
process, PID 1 included), and ``process_vm_writev``, ``kcmp``,
``pidfd_getfd`` and ``process_madvise`` (which Docker allows with that
capability) stay denied.

Run as a script (``python3 seccomp.py OUT.bpf``) it writes the native filter;
that is how a Python whose ABI does not match the binding's gets it (through
the system's ``/usr/bin/python3``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import subprocess
import sys

# The syscalls allowed unconditionally (moby's default profile, first group, plus
# the groups it allows on amd64 / kernels >= 4.8: arch_prctl, modify_ldt, ptrace
# (filtered below), process_vm_readv).
ALLOW = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
writev arch_prctl modify_ldt process_vm_readv
""".split()

CLONE_NS_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (and NEWTIME's bit)
AF_VSOCK = 40
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, query
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
# every ptrace request but PTRACE_ATTACH and PTRACE_SEIZE (as a list: a rule compares an argument once)
PTRACE_REQUESTS = tuple(r for r in (*range(0, 34), *range(0x4200, 0x4213)) if r not in (PTRACE_ATTACH, PTRACE_SEIZE))
VERSION = "docker-default-2024+ptrace-attach-denied"  # recorded in the profile: which policy was loaded


class SeccompUnavailable(RuntimeError):
    """libseccomp's Python binding is not installed (apt-get install python3-seccomp)."""


def _binding():
    """libseccomp's official Python binding, from Debian's python3-seccomp when not on sys.path."""
    try:
        import seccomp  # type: ignore[import-not-found]
        return seccomp
    except ImportError:
        pass
    import importlib.machinery
    import importlib.util

    for d in ("/usr/lib/python3/dist-packages", f"/usr/lib/python3.{sys.version_info.minor}/dist-packages"):
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(d, "seccomp" + suffix)
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location("seccomp", path)
                if spec and spec.loader:
                    mod = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(mod)  # type: ignore[union-attr]
                    return mod
    raise SeccompUnavailable("libseccomp's Python binding (python3-seccomp) is not installed")


def _filter():
    sc = _binding()
    f = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    if platform.machine() == "x86_64":  # moby: amd64 also filters the x86 and x32 ABIs
        for arch in (sc.Arch.X86, sc.Arch.X32):
            try:
                f.add_arch(arch)
            except (RuntimeError, ValueError, OSError):
                pass

    def rule(action, name, *args) -> None:
        try:
            f.add_rule(action, name, *args)
        except (RuntimeError, ValueError, OSError):
            pass  # a syscall this architecture does not have

    for name in ALLOW:
        rule(sc.ALLOW, name)
    rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NS_FLAGS, 0))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")
    rule(sc.ALLOW, "socket", sc.Arg(0, sc.NE, AF_VSOCK))
    for p in PERSONALITIES:
        rule(sc.ALLOW, "personality", sc.Arg(0, sc.EQ, p))
    # ptrace: every request but attaching to a process (strace uses PTRACE_TRACEME + options)
    for req in PTRACE_REQUESTS:
        rule(sc.ALLOW, "ptrace", sc.Arg(0, sc.EQ, req))
    try:
        f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # a binary tree of syscall numbers, not a linear list
    except (AttributeError, RuntimeError, ValueError, OSError):
        pass
    return f


_cache: dict[str, bytes] = {}


def compile_bpf() -> bytes:
    """The native filter as a raw BPF program (struct sock_filter[]); cached per process."""
    if "bpf" in _cache:
        return _cache["bpf"]
    try:
        import tempfile

        f = _filter()
        with tempfile.TemporaryFile() as tmp:
            f.export_bpf(tmp)
            tmp.seek(0)
            data = tmp.read()
    except (SeccompUnavailable, ImportError, OSError) as first:
        data = _compile_with_system_python(first)
    if not data or len(data) % 8:
        raise SeccompUnavailable(f"libseccomp produced no filter ({len(data)} bytes)")
    _cache["bpf"] = data
    return data


def _compile_with_system_python(why: BaseException) -> bytes:
    """The binding is built for the system Python: let it compile the filter."""
    py = "/usr/bin/python3"
    if not os.path.exists(py) or os.path.realpath(py) == os.path.realpath(sys.executable):
        raise SeccompUnavailable(str(why))
    p = subprocess.run([py, "-I", "-S", os.path.abspath(__file__), "-"], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise SeccompUnavailable(f"{why}; {py}: {p.stderr.decode(errors='replace').strip()[-300:]}")
    return p.stdout


def digest() -> str:
    """sha256 of the compiled native filter (recorded in the profile)."""
    return "sha256:" + hashlib.sha256(compile_bpf()).hexdigest()


def docker_profile() -> str:
    """The same policy as a Docker seccomp profile (JSON text for ``--security-opt seccomp=``)."""
    def r(names, action="SCMP_ACT_ALLOW", args=None, errno_ret=None) -> dict:
        d: dict = {"names": names, "action": action}
        if args:
            d["args"] = args
        if errno_ret is not None:
            d["errnoRet"] = errno_ret
        return d

    syscalls = [
        r(ALLOW),
        r(["clone"], args=[{"index": 0, "value": CLONE_NS_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}]),
        r(["clone3"], "SCMP_ACT_ERRNO", errno_ret=errno.ENOSYS),
        r(["socket"], args=[{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]),
        *[r(["personality"], args=[{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]) for p in PERSONALITIES],
        *[r(["ptrace"], args=[{"index": 0, "value": q, "op": "SCMP_CMP_EQ"}]) for q in PTRACE_REQUESTS],
    ]
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EPERM,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": syscalls}
    return json.dumps(prof, separators=(",", ":"))


if __name__ == "__main__":  # python3 seccomp.py OUT|-  (see the module doc)
    f = _filter()
    if sys.argv[1] == "-":
        sys.stdout.flush()
        f.export_bpf(sys.stdout)
    else:
        with open(sys.argv[1], "wb") as out:
            f.export_bpf(out)
