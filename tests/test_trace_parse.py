"""The pieces under the trace: strace's output parsed, and lookups inside a rootfs.

The strace lines come from running the real strace on real programs (the
host's Python), with awkward file names, dirfd-relative calls and threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from imgopt.trace.recorder import Recorder
from imgopt.image.executable import elf_interp, interpreter_of
from imgopt.trace.rootfs import RootFS
from imgopt.trace.strace_log import Call, Exit, parse, split_args, strace_options, unescape

WEIRD = ["a>b", "quo\"te", "new\nline", "tab\tand space", "é ü", "back\\slash", "comma, (paren)"]

PROGRAM = r'''
import os, sys, threading
root = sys.argv[1]
for name in NAMES:
    with open(os.path.join(root, name)) as f:
        f.read()
fd = os.open(os.path.join(root, "sub"), os.O_RDONLY | os.O_DIRECTORY)
os.close(os.open("inner.txt", os.O_RDONLY, dir_fd=fd))
try:
    os.stat("nope", dir_fd=fd)
except FileNotFoundError:
    pass
os.chdir(os.path.join(root, "sub"))
open("inner.txt").read()
os.readlink(os.path.join(root, "link"))
def work(i):
    for _ in range(50):
        open(os.path.join(root, f"t{i}.txt")).read()
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
'''


def _run_strace(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    for n in WEIRD:
        (root / n).write_text("x")
    (root / "sub" / "inner.txt").write_text("inner")
    (root / "link").symlink_to("sub/inner.txt")
    for i in range(4):
        (root / f"t{i}.txt").write_text("t")
    prog = tmp_path / "prog.py"
    prog.write_text(f"NAMES = {WEIRD!r}\n" + PROGRAM)
    log = tmp_path / "trace.log"
    subprocess.run(["strace", *strace_options(), "-o", str(log), "--", sys.executable, "-I", str(prog), str(root)],
                   check=True, capture_output=True, timeout=120)
    return log


def test_real_strace_output_parses(tmp_path):
    log = _run_strace(tmp_path)
    with open(log, errors="surrogateescape") as f:
        items = list(parse(f))
    calls = [c for c in items if isinstance(c, Call)]
    root = str(tmp_path / "root")
    opened = {c.ret_path for c in calls if c.name == "openat" and c.ret_path}
    for n in WEIRD:  # every awkward name decoded exactly, in the argument and in the -y decoration
        assert os.path.join(root, n) in opened, n
    assert any(isinstance(c, Exit) and c.code == 0 for c in items)
    assert len({c.pid for c in calls}) >= 5  # the threads
    # every "<unfinished ...>" was joined with its "resumed" line: no call lost its return value
    assert all(c.ret is not None for c in calls if c.name in ("openat", "read", "newfstatat"))


def test_recorder_resolves_dirfd_cwd_and_symlinks(tmp_path):
    log = _run_strace(tmp_path)
    root = str(tmp_path / "root")
    rec = Recorder(RootFS("/"), cwd=os.getcwd())
    with open(log, errors="surrogateescape") as f:
        r = rec.feed(parse(f))
    files = r.files
    assert f"{root}/sub/inner.txt" in files and "read" in files[f"{root}/sub/inner.txt"].kinds
    assert files[f"{root}/sub/nope"].exists is False  # dirfd-relative failed lookup
    assert files[f"{root}/link"].type == "symlink" and files[f"{root}/link"].link_target == "sub/inner.txt"
    assert "readlink" in files[f"{root}/link"].kinds
    assert all(files[f"{root}/t{i}.txt"].bytes_read == 50 for i in range(4))  # every read of every thread
    assert "/inner.txt" not in files and f"{os.getcwd()}/inner.txt" not in files
    assert len(r.processes) == 1  # threads are not processes


def test_split_and_unescape():
    assert split_args('AT_FDCWD</a,b>, "x, \\"y\\"", {st_mode=S_IFREG|0644, ...}, 0') == \
        ["AT_FDCWD</a,b>", '"x, \\"y\\""', "{st_mode=S_IFREG|0644, ...}", "0"]
    assert split_args('["sh", "-c", "a, b"], 0x7ff /* 3 vars */') == ['["sh", "-c", "a, b"]', "0x7ff /* 3 vars */"]
    assert unescape("\\303\\251\\n\\\"\\76\\\\") == 'é\n">\\'


def test_parse_joins_unfinished_calls():
    lines = [
        '7 100.000001 openat(AT_FDCWD</app>, "x", O_RDONLY <unfinished ...>\n',
        '8 100.000002 read(3</etc/passwd>, "root:x:0"..., 4096) = 900\n',
        '7 100.000003 <... openat resumed>) = -1 ENOENT (No such file or directory)\n',
        '8 100.000004 +++ killed by SIGKILL +++\n',
        '7 100.000005 exit_group(0) = ?\n',
        '7 100.000006 +++ exited with 0 +++\n',
    ]
    items = list(parse(lines))
    assert items[0] == Call(8, 100.000002, "read", '3</etc/passwd>, "root:x:0"..., 4096', 900, None, None)
    assert items[1].name == "openat" and items[1].time == 100.000001 and items[1].err == "ENOENT"
    assert items[2] == Exit(8, 100.000004, None, "SIGKILL")
    assert items[3].ret is None and items[4] == Exit(7, 100.000006, 0, None)


def test_rootfs_lookups_stay_inside(tmp_path):
    r = tmp_path / "r"
    (r / "usr/lib").mkdir(parents=True)
    (r / "usr/lib/libx.so").write_text("x")
    (r / "lib").symlink_to("usr/lib")
    (r / "abs").symlink_to("/usr/lib/libx.so")  # absolute: inside the rootfs, not the host
    (r / "up").symlink_to("../../../../../../etc/passwd")  # climbs: stops at the rootfs root
    (r / "loop1").symlink_to("loop2")
    (r / "loop2").symlink_to("loop1")
    (r / "file").write_text("f")
    fs = RootFS(str(r))
    lk = fs.lookup("/lib/libx.so")
    assert lk.exists and lk.path == "/usr/lib/libx.so" and lk.links == [("/lib", "usr/lib")]
    assert fs.lookup("/abs").path == "/usr/lib/libx.so"
    assert fs.lookup("/up").exists is False and fs.lookup("/up").path == "/etc/passwd"  # not the host file
    assert fs.lookup("/loop1").exists is False  # ELOOP
    assert fs.lookup("/file/x").exists is False  # ENOTDIR
    assert fs.lookup("/lib/../lib/libx.so").path == "/usr/lib/libx.so"  # '..' after a symlink: from its target
    assert fs.lookup("/lib/../usr").path == "/usr/usr" and not fs.lookup("/lib/../usr").exists  # not /usr
    nofollow = fs.lookup("/abs", follow=False)
    assert nofollow.type == "symlink" and nofollow.link_target == "/usr/lib/libx.so"
    assert fs.lookup("/nope/deeper").parent == "/"


def test_interpreters():
    assert interpreter_of(b"#!/bin/sh -e\necho") == ["/bin/sh"]
    assert interpreter_of(b"#! /usr/bin/env python3\n") == ["/usr/bin/env"]
    with open(sys.executable, "rb") as f:
        head = f.read(4096)
    assert elf_interp(head) in ("/lib64/ld-linux-x86-64.so.2", None)  # None for a static build
    assert interpreter_of(b"plain text") is None


LISTER = r'''
import ctypes, os, sys
os.setgid(65534)
os.setuid(65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE again, as nginx's workers do after setuid():
# the tracer reads the call's strings, but without CAP_SYS_PTRACE not /proc/PID/fd of another uid
print(sorted(os.listdir(sys.argv[1])))  # opendir: openat(...) = N, getdents64(N, ...)
'''


def test_listing_by_a_process_that_changed_uid_is_recorded(tmp_path):
    """nginx's workers run as www-data: strace (Docker's caps, no CAP_SYS_PTRACE) cannot decorate their fds,
    so getdents64(11, ...) names no directory; the recorder remembers what fd 11 was opened as."""
    # (the recorder's fd table is what passes this: without it the listing is lost)
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="imgopt-lister-"))
    try:
        os.chmod(root, 0o755)
        (root / "served").mkdir()
        (root / "served" / "a.txt").write_text("a")
        prog = root / "prog.py"
        prog.write_text(LISTER)
        log = tmp_path / "trace.log"
        p = subprocess.run(["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-all", "strace",
                            *strace_options(), "-o", str(log), "--", sys.executable, "-I", str(prog),
                            str(root / "served")], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and "a.txt" in p.stdout, p.stderr
        text = log.read_text(errors="surrogateescape")
        opened = [line for line in text.splitlines() if f'"{root}/served"' in line and "openat(" in line]
        assert opened and opened[-1].rstrip()[-1].isdigit()  # "= 3", not "= 3</...>": undecorated
        rec = Recorder(RootFS("/")).feed(parse(text.splitlines(keepends=True)))
        listed = rec.files.get(str(root / "served"))
        assert listed is not None and "listdir" in listed.kinds
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
