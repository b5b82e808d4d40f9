"""Turn traced syscalls into the files and processes of an AccessProfile.

Every path-taking call is made absolute (dirfd- and cwd-relative paths joined
to strace's ``-y`` decorations, or to the working directory tracked per
process), then resolved against the image's rootfs with :class:`RootFS`:
each symlink on the way is recorded (kind ``readlink``, as the kernel reads
it), and the final path with the kind of access, whether it existed in the
image, and when it was first touched.  ``execve`` also records what the kernel
opens without a syscall: a script's ``#!`` interpreter and an ELF's
``PT_INTERP`` loader, recursively.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Callable, Iterable

from imgopt.image.executable import interpreter_of
from imgopt.trace.profile import FileAccess, ProcessInfo
from imgopt.trace.rootfs import RootFS
from imgopt.trace.strace_log import Call, Exit, fd_arg, split_args, string_arg, string_array

# in-image paths the runtime provides (never image content) and the tracer's own mount
EXCLUDED = ("/proc", "/sys", "/dev", "/.imgopt-trace")

# syscall -> [(dirfd arg index or None, path arg index, role)]
_PATH_CALLS: dict[str, list[tuple[int | None, int, str]]] = {
    "open": [(None, 0, "open")], "openat": [(0, 1, "open")], "openat2": [(0, 1, "open2")],
    "creat": [(None, 0, "creat")],
    "stat": [(None, 0, "stat")], "stat64": [(None, 0, "stat")], "lstat": [(None, 0, "lstat")],
    "lstat64": [(None, 0, "lstat")], "newfstatat": [(0, 1, "statat")], "fstatat64": [(0, 1, "statat")],
    "statx": [(0, 1, "statx")], "statfs": [(None, 0, "stat")], "statfs64": [(None, 0, "stat")],
    "access": [(None, 0, "access")], "faccessat": [(0, 1, "access")], "faccessat2": [(0, 1, "access2")],
    "readlink": [(None, 0, "readlink")], "readlinkat": [(0, 1, "readlink")],
    "execve": [(None, 0, "exec")], "execveat": [(0, 1, "execat")],
    "chdir": [(None, 0, "chdir")],
    "mkdir": [(None, 0, "mkdir")], "mkdirat": [(0, 1, "mkdir")],
    "mknod": [(None, 0, "mkdir")], "mknodat": [(0, 1, "mkdir")],
    "unlink": [(None, 0, "unlink")], "unlinkat": [(0, 1, "unlink")], "rmdir": [(None, 0, "unlink")],
    "rename": [(None, 0, "unlink"), (None, 1, "mkdir")],
    "renameat": [(0, 1, "unlink"), (2, 3, "mkdir")], "renameat2": [(0, 1, "unlink"), (2, 3, "mkdir")],
    "link": [(None, 0, "lstat"), (None, 1, "mkdir")], "linkat": [(0, 1, "lstat"), (2, 3, "mkdir")],
    "symlink": [(None, 1, "mkdir")], "symlinkat": [(1, 2, "mkdir")],
    "chmod": [(None, 0, "write")], "chown": [(None, 0, "write")], "lchown": [(None, 0, "lwrite")],
    "truncate": [(None, 0, "write")], "utime": [(None, 0, "write")], "utimes": [(None, 0, "write")],
    "fchmodat": [(0, 1, "write")], "fchownat": [(0, 1, "write")], "utimensat": [(0, 1, "write")],
    "futimesat": [(0, 1, "write")],
    "getxattr": [(None, 0, "stat")], "listxattr": [(None, 0, "stat")],
    "lgetxattr": [(None, 0, "lstat")], "llistxattr": [(None, 0, "lstat")],
    "setxattr": [(None, 0, "write")], "lsetxattr": [(None, 0, "lwrite")],
    "removexattr": [(None, 0, "write")], "lremovexattr": [(None, 0, "lwrite")],
    "inotify_add_watch": [(None, 1, "stat")], "name_to_handle_at": [(0, 1, "stat")],
}
_READS = {"read": 0, "pread64": 0, "readv": 0, "preadv": 0, "preadv2": 0, "sendfile": 1, "copy_file_range": 0}
_CLONES = ("clone", "clone3", "fork", "vfork")


def excluded(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in EXCLUDED)


@dataclass
class _File:
    path: str
    first: float
    kinds: set[str]
    exists: bool
    type: str | None
    size: int | None
    link_target: str | None
    bytes_read: int = 0
    by_probe: bool = False


@dataclass
class Recorded:
    """What a trace saw (times are absolute, seconds since the epoch)."""

    files: dict[str, _File] = field(default_factory=dict)
    processes: dict[int, ProcessInfo] = field(default_factory=dict)
    written_dirs: set[str] = field(default_factory=set)
    t0: float | None = None  # first traced call (the entrypoint's execve)
    exit_code: int | None = None
    exit_signal: str | None = None
    exit_time: float | None = None
    calls: int = 0

    def file_accesses(self, t0: float, ready: float | None) -> list[FileAccess]:
        """FileAccess entries ordered by first access (``ready``: seconds after t0, or None)."""
        out = []
        for f in sorted(self.files.values(), key=lambda f: (f.first, f.path)):
            rel = round(max(0.0, f.first - t0), 6)
            read = min(f.bytes_read, f.size) if f.bytes_read and f.size is not None else (f.bytes_read or None)
            out.append(FileAccess(path=f.path, first_access=rel, kinds=sorted(f.kinds), exists=f.exists,
                                  type=f.type, size=f.size, bytes_read=read, link_target=f.link_target,
                                  before_ready=ready is None or rel <= ready, by_probe=f.by_probe))
        return out


class Recorder:
    """Feed it calls (strace) or opens (fanotify); read :attr:`rec`."""

    def __init__(self, rootfs: RootFS, prefix: str = "", by_probe: bool = False, rec: Recorded | None = None,
                 cwd: str = "/", observer: "Callable[[str, str, float, bool, str | None, bool], None] | None" = None):
        self.fs = rootfs
        self.observer = observer  # sees every access: (path, kind, time, exists, type, by_probe)
        self.default_cwd = cwd or "/"
        self.prefix = prefix.rstrip("/")
        self.by_probe = by_probe
        self.rec = rec or Recorded()
        self.cwd: dict[int, str] = {}  # by process (threads share it)
        self.tgid: dict[int, int] = {}  # thread -> its process
        self.parent_of: dict[int, int] = {}
        self.clone_time: dict[int, float] = {}
        self.seen: set[int] = set()
        self.kexe: dict[int, str] = {}  # process -> the binary the kernel runs (a script's interpreter)
        self.root_pid: int | None = None
        # (process, fd) -> path it was opened as, for calls strace could not decorate (no -y path: a
        # process that changed its uid is not dumpable, and the tracer may not read its /proc/PID/fd)
        self.fds: dict[tuple[int, int], str] = {}

    # ------------------------------------------------------------ files

    def _strip(self, path: str | None) -> str | None:
        """A decoration (host-side path) as an in-image path; None if outside the sandbox root."""
        if path is None or not path.startswith("/"):
            return None
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        if self.prefix:
            if path == self.prefix:
                return "/"
            if not path.startswith(self.prefix + "/"):
                return None
            path = path[len(self.prefix):]
        return path

    def add(self, path: str, kind: str, t: float, follow: bool = True, nbytes: int = 0) -> str | None:
        """Record an access of ``path`` (absolute, in-image) and the symlinks on its way."""
        if excluded(path):
            return None
        lk = self.fs.lookup(path, follow)
        for link, target in lk.links:
            if not excluded(link):
                self._put(link, "readlink", t, True, "symlink", None, target)
        if excluded(lk.path):
            return lk.path
        if not lk.exists and lk.parent and not excluded(lk.parent):
            # the kernel searched this directory for the missing name: it must stay a directory
            self._put(lk.parent, "stat", t, True, "dir", None, None)
        self._put(lk.path, kind, t, lk.exists, lk.type, lk.size, lk.link_target, nbytes)
        if self.observer is not None:
            self.observer(lk.path, kind, t, lk.exists, lk.type, self.by_probe)
        return lk.path

    def _put(self, path: str, kind: str, t: float, exists: bool, typ: str | None, size: int | None,
             target: str | None, nbytes: int = 0) -> None:
        f = self.rec.files.get(path)
        if f is None:
            f = _File(path, t, {kind}, exists, typ, size, target, by_probe=self.by_probe)
            self.rec.files[path] = f
        else:
            f.kinds.add(kind)
            if t < f.first:
                f.first = t
        f.bytes_read += nbytes

    # ------------------------------------------------------------ strace

    def feed(self, items: Iterable[Call | Exit]) -> Recorded:
        calls = list(items)
        self._relations(calls)
        for c in calls:
            if isinstance(c, Exit):
                self._exit(c)
                continue
            self.rec.calls += 1
            if c.pid not in self.seen:
                self._first_sight(c)
            try:
                self._call(c)
            except (IndexError, ValueError):
                continue  # a line strace cut short: nothing reliable to record
        return self.rec

    def _relations(self, calls: list[Call | Exit]) -> None:
        """Who cloned whom, and which pids are threads (a child may log before its clone returns)."""
        for c in calls:
            if isinstance(c, Call) and c.name in _CLONES and c.ret is not None and c.ret > 0:
                self.parent_of[c.ret] = c.pid
                self.clone_time[c.ret] = c.time
                if "CLONE_THREAD" in c.args:
                    self.tgid[c.ret] = self.tgid.get(c.pid, c.pid)

    def _first_sight(self, c: Call) -> None:
        """A pid's first call: the entrypoint, a new thread or a new process (inherits the cwd)."""
        self.seen.add(c.pid)
        parent = self.parent_of.get(c.pid)
        if parent is None:
            if self.root_pid is None and not self.by_probe:
                self.rec.t0 = c.time if self.rec.t0 is None else self.rec.t0
                self.root_pid = c.pid
                self._process(c.pid, None, c.time)
                self.add(self.default_cwd, "stat", c.time)  # the runtime's chdir to the workdir
            return
        if c.pid in self.tgid:
            return  # a thread: shares its process's cwd and identity
        ppid = self.tgid.get(parent, parent)
        self.cwd[c.pid] = self.cwd.get(ppid, self.default_cwd)
        if ppid in self.kexe:
            self.kexe[c.pid] = self.kexe[ppid]
        p = self.rec.processes.get(ppid)
        start = min(c.time, self.clone_time.get(c.pid, c.time))
        self._process(c.pid, ppid, start, list(p.argv) if p else None, p.exe if p else None)

    def _process(self, pid: int, ppid: int | None, t: float, argv: list[str] | None = None,
                 exe: str | None = None) -> None:
        if not self.by_probe and pid not in self.rec.processes and pid not in self.tgid:
            self.rec.processes[pid] = ProcessInfo(pid=pid, ppid=ppid, argv=argv or [], exe=exe, start=t)

    def _exit(self, e: Exit) -> None:
        if e.pid == self.root_pid:
            self.rec.exit_code = e.code if e.code is not None else None
            self.rec.exit_signal = e.signal
            self.rec.exit_time = e.time

    def _base(self, pid: int, dirfd: str | None) -> str:
        if dirfd is not None:
            fd, deco = fd_arg(dirfd)
            p = self._strip(deco)
            if p is not None:
                if fd == "AT_FDCWD":
                    self.cwd[self.tgid.get(pid, pid)] = p
                return p
        return self.cwd.get(self.tgid.get(pid, pid), self.default_cwd)

    def _fd_path(self, pid: int, fd: str) -> str | None:
        """The path an undecorated fd was opened as, by this process or (inherited) its parent."""
        if not fd.isdigit():
            return None
        proc = self.tgid.get(pid, pid)
        for owner in (proc, self.parent_of.get(proc)):
            if owner is not None and (owner, int(fd)) in self.fds:
                return self.fds[(owner, int(fd))]
        return None

    def _call(self, c: Call) -> None:
        name = c.name
        if name in _READS:
            if c.ret and c.ret > 0:
                p = self._strip(fd_arg(split_args(c.args)[_READS[name]])[1])
                if p is not None:
                    self.add(p, "read", c.time, follow=False, nbytes=c.ret)
            return
        if name == "mmap":
            if c.err is None:
                args = split_args(c.args)
                p = self._strip(fd_arg(args[4])[1]) if len(args) > 4 else None
                if p is not None:
                    self.add(p, "mmap", c.time, follow=False)
            return
        if name in ("getdents64", "getdents"):
            fd, deco = fd_arg(split_args(c.args)[0])
            p = self._strip(deco) if deco is not None else self._fd_path(c.pid, fd) if c.err is None else None
            if p is not None:
                self.add(p, "listdir", c.time, follow=False)
            return
        if name == "fchdir":
            p = self._strip(fd_arg(split_args(c.args)[0])[1])
            if p is not None and c.ret == 0:
                self.cwd[self.tgid.get(c.pid, c.pid)] = p
            return
        if name in _CLONES:
            return  # handled by _relations / _first_sight
        specs = _PATH_CALLS.get(name)
        if specs:
            args = split_args(c.args)
            for dfd_i, path_i, role in specs:
                self._path_call(c, args, dfd_i, path_i, role)

    def _path_call(self, c: Call, args: list[str], dfd_i: int | None, path_i: int, role: str) -> None:
        if path_i >= len(args):
            return
        raw = string_arg(args[path_i])
        base = self._base(c.pid, args[dfd_i] if dfd_i is not None and dfd_i < len(args) else None)
        if raw is None:
            return
        if raw == "":  # AT_EMPTY_PATH: the fd itself
            if role == "execat":
                fdp = self._strip(fd_arg(args[dfd_i or 0])[1])
                if fdp is not None and c.ret == 0:
                    self._exec(c, fdp, args, 2)
            return
        # joined, not normalized: "link/.." is resolved by RootFS after following the link, as the kernel does
        path = raw if raw.startswith("/") else f"{base.rstrip('/')}/{raw}"
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        kind, follow = _role(role, args, c)
        ok = c.err is None and (c.ret is None or c.ret >= 0)
        if kind == "exec" and ok:
            self._exec(c, path, args, 1 if role == "exec" else 2)
            return
        if kind == "create":
            if ok:
                self._written(path, follow)
            else:
                kind = "stat"  # EEXIST and friends: only a lookup happened
        resolved = self.add(path, kind, c.time, follow)
        if role in ("open", "open2") and ok and c.ret is not None and c.ret >= 0 and c.ret_path is None and resolved:
            self.fds[(self.tgid.get(c.pid, c.pid), c.ret)] = resolved
        if role == "chdir" and ok and resolved:
            self.cwd[self.tgid.get(c.pid, c.pid)] = resolved

    def _written(self, path: str, follow: bool) -> None:
        parent = self.fs.lookup(posixpath.dirname(path) or "/")
        if parent.exists and parent.type == "dir" and not excluded(parent.path):
            self.rec.written_dirs.add(parent.path)

    def _exec(self, c: Call, path: str, args: list[str], argv_i: int) -> None:
        pid = self.tgid.get(c.pid, c.pid)
        proc = self.rec.processes.get(pid)
        if path in ("/proc/self/exe", f"/proc/{c.pid}/exe") and pid in self.kexe:
            path = self.kexe[pid]  # re-exec of itself (busybox applets)
        resolved = self.add(path, "exec", c.time)
        argv = string_array(args[argv_i]) if argv_i < len(args) else []
        if proc is None:
            self._process(pid, None, c.time, argv, resolved)
        else:
            proc.argv, proc.exe = argv, resolved
        if resolved:
            self.kexe[pid] = self._interpreters(resolved, c.time, 0)

    def _interpreters(self, path: str, t: float, depth: int) -> str:
        """Record the ``#!`` interpreter or ELF loader the kernel opened for ``path``; the binary it runs."""
        if depth > 4:
            return path
        head = self.fs.read(path, 4096)
        interp = interpreter_of(head) if head else None
        if not interp:
            return path
        resolved = self.add(interp[0], "exec", t)
        if resolved and head and head.startswith(b"#!"):
            return self._interpreters(resolved, t, depth + 1)
        return path


def _has(flags: str, name: str) -> bool:
    return name in flags.split("|")


def _role(role: str, args: list[str], c: Call) -> tuple[str, bool]:
    """(kind, follow the last symlink?) of a path argument."""
    if role in ("open", "open2", "creat"):
        flags = args[2] if len(args) > 2 and role != "creat" else "O_WRONLY|O_CREAT|O_TRUNC"
        if role == "open" and c.name == "open":
            flags = args[1] if len(args) > 1 else ""
        if role == "open2":
            flags = flags.split("flags=", 1)[-1].split(",", 1)[0]
        follow = not (_has(flags, "O_NOFOLLOW") or (_has(flags, "O_CREAT") and _has(flags, "O_EXCL")))
        if _has(flags, "O_CREAT") and c.err is None:
            return "create", follow
        if _has(flags, "O_WRONLY") or _has(flags, "O_RDWR") or _has(flags, "O_TRUNC"):
            return "write", follow
        return "open", follow
    if role == "statat":
        return "stat", not (len(args) > 3 and "AT_SYMLINK_NOFOLLOW" in args[3])
    if role == "statx":
        return "stat", not (len(args) > 2 and "AT_SYMLINK_NOFOLLOW" in args[2])
    if role == "access2":
        return "access", not (len(args) > 3 and "AT_SYMLINK_NOFOLLOW" in args[3])
    return {
        "stat": ("stat", True), "lstat": ("stat", False), "access": ("access", True),
        "readlink": ("readlink", False), "exec": ("exec", True), "execat": ("exec", True),
        "chdir": ("stat", True), "mkdir": ("create", False), "unlink": ("unlink", False),
        "write": ("write", True), "lwrite": ("write", False),
    }[role]
