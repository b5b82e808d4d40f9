"""What the entrypoint needs, statically: a dependency graph over the image.

From ENTRYPOINT + CMD, WORKDIR, USER and ENV, resolve the executable the
runtime would start (PATH lookup, symlink chains link by link), then follow
what the kernel and the dynamic loader would load: shebang interpreters,
ELF ``PT_INTERP`` and ``DT_NEEDED`` libraries (searched like ld.so does:
RPATH, LD_LIBRARY_PATH, RUNPATH, ld.so.conf directories, the default
directories), and the script an interpreter is asked to run.  The graph
(networkx) has a node per path and an edge per reason.

This is a static lower bound: what a program opens at runtime (Python
imports, dlopen, data files) is what ``imgopt trace`` records.  A missing
dependency is a finding (the image is broken), never a crash.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from imgopt.analyze.scan import Scan
from imgopt.image.executable import ElfInfo, shebang
from imgopt.image.filetree import Node
from imgopt.image.globs import compile_globs
from imgopt.image.tarstream import Kind

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_LINKS = 40
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"}
INTERPRETERS = re.compile(r"^(python[\d.]*|pypy[\d.]*|node|nodejs|perl[\d.]*|ruby[\d.]*|php[\d.]*|bash|sh|dash|ash)$")
DEFAULT_LIB_DIRS = {
    64: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
         "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib"],
    32: ["/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib32", "/usr/lib32", "/lib", "/usr/lib"],
}


@dataclass
class Needed:
    path: str
    size: int
    reason: str  # exec | symlink | interp | needed | shebang | script | config
    by: str | None  # the path that needed it


@dataclass
class Missing:
    name: str
    reason: str
    by: str | None


@dataclass
class EntrypointReport:
    argv: list[str]
    shell_form: bool
    executable: str | None
    user: str
    workdir: str
    files: list[Needed] = field(default_factory=list)  # in discovery order
    missing: list[Missing] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, reason)
    bytes: int = 0

    def graph(self):
        """The dependency graph as a networkx DiGraph (node attribute ``size``, edge ``reason``)."""
        import networkx as nx

        g = nx.DiGraph()
        for f in self.files:
            g.add_node(f.path, size=f.size, reason=f.reason)
        for a, b, why in self.edges:
            g.add_edge(a, b, reason=why)
        return g

    @property
    def broken(self) -> bool:
        return bool(self.missing)


MAX_ELF_DEPTH = 64  # NEEDED chains of real programs are < 20 deep


class Resolver:
    """Path resolution inside the image's merged tree (never the host's)."""

    def __init__(self, scan: Scan):
        self.scan = scan
        self.tree = scan.tree

    def lookup(self, path: str, links: list[str] | None = None, depth: int = 0) -> tuple[str, Node | None]:
        """Follow symlinks in every component; returns (final path, node or None).

        Every symlink traversed is appended to ``links`` (absolute paths).
        """
        parts = [p for p in path.split("/") if p not in ("", ".")]
        cur: list[str] = []
        i = 0
        hops = 0
        while i < len(parts):
            part = parts[i]
            if part == "..":
                if cur:
                    cur.pop()
                i += 1
                continue
            cand = "/".join(cur + [part])
            node = self.tree.get(cand)
            if node is None:
                return "/" + "/".join(cur + parts[i:]), None
            if node.kind is Kind.SYMLINK:
                hops += 1
                if hops > MAX_LINKS:
                    return "/" + cand, None
                if links is not None:
                    links.append("/" + cand)
                target = node.linkname
                rest = parts[i + 1:]
                if target.startswith("/"):
                    cur = []
                    parts = [p for p in target.split("/") if p not in ("", ".")] + rest
                else:
                    parts = [p for p in target.split("/") if p not in ("", ".")] + rest
                i = 0
                continue
            cur.append(part)
            i += 1
        final = "/" + "/".join(cur)
        return final, self.tree.get("/".join(cur))

    def content_node(self, node: Node, path: str) -> tuple[int, str]:
        """(layer, path) where a file's bytes live (a hardlink's target)."""
        if node.kind is Kind.HARDLINK and node.src is not None:
            return node.src
        return node.layer, path.lstrip("/")

    def head(self, node: Node, path: str, n: int = 256) -> bytes:
        layer, rel = self.content_node(node, path)
        return self.scan.content.read(layer, rel, n) or b""

    def elf(self, node: Node, path: str) -> ElfInfo | None:
        layer, rel = self.content_node(node, path)
        return self.scan.content.elf_info(layer, rel)


def parse_ld_so_conf(r: Resolver, path: str = "/etc/ld.so.conf", depth: int = 0) -> list[str]:
    """Library directories from ld.so.conf and its includes, in order."""
    final, node = r.lookup(path)
    if node is None or node.kind not in (Kind.FILE, Kind.HARDLINK) or depth > 4:
        return []
    text = r.head(node, final, 64 << 10).decode("utf-8", "replace")
    dirs: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            if not pattern.startswith("/"):
                pattern = posixpath.join(posixpath.dirname(final), pattern)
            for inc in sorted(_glob_tree(r, pattern)):
                dirs += parse_ld_so_conf(r, inc, depth + 1)
        else:
            dirs.append(line)
    return dirs


def _glob_tree(r: Resolver, pattern: str) -> list[str]:
    d, base = posixpath.split(pattern)
    _, node = r.lookup(d)
    if node is None or node.children is None:
        return []
    rx = compile_globs([base])
    return [posixpath.join(d, name) for name in node.children if rx and rx.match(name)]


def _expand_origin(p: str, origin: str, elf_class: int) -> str:
    lib = "lib64" if elf_class == 64 else "lib"
    return (p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            .replace("${LIB}", lib).replace("$LIB", lib).replace("${PLATFORM}", "x86_64").replace("$PLATFORM", "x86_64"))


class Walker:
    def __init__(self, scan: Scan, env: dict[str, str]):
        self.r = Resolver(scan)
        self.env = env
        self.edges: dict[tuple[str, str], str] = {}  # (from, to) -> reason, in discovery order
        self.report_files: dict[str, Needed] = {}
        self.missing: list[Missing] = []
        self._ld_conf: list[str] | None = None
        self._done: set[str] = set()

    # graph bookkeeping
    def _add(self, path: str, node: Node | None, reason: str, by: str | None) -> None:
        if by is not None:
            self.edges.setdefault((by, path), reason)
        if path not in self.report_files:
            size = node.size if node is not None and node.kind in (Kind.FILE, Kind.HARDLINK) else 0
            self.report_files[path] = Needed(path, size, reason, by)

    def resolve_file(self, path: str, reason: str, by: str | None) -> tuple[str, Node | None]:
        links: list[str] = []
        final, node = self.r.lookup(path, links)
        prev = by
        for link in links:
            self._add(link, self.r.tree.get(link.lstrip("/")), "symlink", prev)
            prev = link
        if node is None:
            self.missing.append(Missing(path, reason, by))
            return final, None
        self._add(final, node, reason if not links else reason, prev)
        return final, node

    def which(self, name: str, cwd: str) -> str | None:
        if "/" in name:
            return name if name.startswith("/") else posixpath.normpath(posixpath.join(cwd, name))
        for d in (self.env.get("PATH") or DEFAULT_PATH).split(":"):
            cand = posixpath.join(d or cwd, name)
            _, node = self.r.lookup(cand)
            if node is not None and node.kind in (Kind.FILE, Kind.HARDLINK) and node.mode & 0o111:
                return cand
        return None

    def ld_dirs(self) -> list[str]:
        if self._ld_conf is None:
            self._ld_conf = parse_ld_so_conf(self.r)
        return self._ld_conf

    # following executables
    def follow_exec(self, path: str, by: str | None, reason: str = "exec", depth: int = 0) -> str | None:
        final, node = self.resolve_file(path, reason, by)
        if node is None or final in self._done or depth > 8:
            return final if node is not None else None
        self._done.add(final)
        head = self.r.head(node, final)
        words = shebang(head)
        if head.startswith(b"\x7fELF"):
            self.follow_elf(final, node, [], depth)
        elif words is not None:
            if words:
                interp = words[0]
                ip = self.follow_exec(interp, final, "shebang", depth + 1)
                if ip and posixpath.basename(interp) == "env" and len(words) > 1:
                    args = [w for w in words[1:] if not w.startswith("-")]
                    if args:
                        prog = self.which(args[0], "/")
                        if prog:
                            self.follow_exec(prog, final, "shebang", depth + 1)
                        else:
                            self.missing.append(Missing(args[0], "shebang", final))
        return final

    def follow_elf(self, path: str, node: Node, inherited_rpath: list[str], depth: int) -> None:
        if depth > MAX_ELF_DEPTH:  # a hostile chain of libraries each needing the next
            self.missing.append(Missing(path, f"library chain deeper than {MAX_ELF_DEPTH}: not followed", None))
            return
        info = self.r.elf(node, path)
        if info is None:
            return
        if info.interp:
            self.follow_exec(info.interp, path, "interp", depth + 1)
        origin = posixpath.dirname(path)
        rpath = [] if info.runpath else [_expand_origin(p, origin, info.elf_class) for p in info.rpath]
        search_rpath = rpath + inherited_rpath
        runpath = [_expand_origin(p, origin, info.elf_class) for p in info.runpath]
        llp = [p for p in self.env.get("LD_LIBRARY_PATH", "").split(":") if p]
        for lib in info.needed:
            if "/" in lib:
                cands = [lib]
            else:
                dirs = search_rpath + llp + runpath + self.ld_dirs() + DEFAULT_LIB_DIRS.get(info.elf_class, [])
                cands = [posixpath.join(d, lib) for d in dict.fromkeys(dirs)]
            found = None
            for c in cands:
                final, n = self.r.lookup(c)
                if n is None or n.kind not in (Kind.FILE, Kind.HARDLINK):
                    continue
                li = self.r.elf(n, final)
                if li is None or li.elf_class != info.elf_class or li.machine != info.machine:
                    continue  # wrong architecture: the loader skips it too
                found = c
                break
            if found is None:
                self.missing.append(Missing(lib, "needed", path))
                continue
            final, n = self.resolve_file(found, "needed", path)
            if n is not None and final not in self._done:
                self._done.add(final)
                self.follow_elf(final, n, search_rpath, depth + 1)


def entry_argv(entrypoint: list[str], cmd: list[str]) -> list[str]:
    return list(entrypoint) + list(cmd) if entrypoint else list(cmd)


def analyze_entrypoint(scan: Scan) -> EntrypointReport:
    cfg = scan.image.config
    env = cfg.env_dict
    argv = entry_argv(cfg.entrypoint, cfg.cmd)
    workdir = cfg.workdir or "/"
    shell_form = len(argv) >= 3 and posixpath.basename(argv[0]) in SHELLS and argv[1] == "-c"
    rep = EntrypointReport(argv, shell_form, None, cfg.user or "root", workdir)
    w = Walker(scan, env)
    if not argv:
        rep.missing.append(Missing("(no ENTRYPOINT or CMD)", "exec", None))
        return rep
    exe = w.which(argv[0], workdir)
    if exe is None:
        w.missing.append(Missing(argv[0], "exec", None))
    else:
        rep.executable = w.follow_exec(exe, None)
        base = posixpath.basename(rep.executable or exe)
        if shell_form:
            _follow_shell_command(w, argv[2], workdir, rep.executable)
        elif INTERPRETERS.match(base) or base.startswith("python") or base.startswith("java"):
            _follow_script_arg(w, argv[1:], workdir, rep.executable, base)
    _user_files(w, cfg.user)
    rep.files = list(w.report_files.values())
    rep.missing = w.missing
    rep.edges = [(a, b, why) for (a, b), why in w.edges.items()]
    rep.bytes = sum(f.size for f in rep.files)
    return rep


def _follow_shell_command(w: Walker, command: str, cwd: str, shell: str | None) -> None:
    """``sh -c "A=1 exec prog args"``: follow the first program of the command."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("exec", "nohup", "env")):
        words = words[1:]
    if not words or words[0] in ("cd", "set", "export", "echo", "true", ":", "["):
        return
    prog = w.which(words[0], cwd)
    if prog is None:
        w.missing.append(Missing(words[0], "exec", shell))
        return
    final = w.follow_exec(prog, shell)
    base = posixpath.basename(final or prog)
    if INTERPRETERS.match(base):
        _follow_script_arg(w, words[1:], cwd, final, base)


def _follow_script_arg(w: Walker, args: list[str], cwd: str, interp: str | None, base: str) -> None:
    """The script an interpreter runs: ``python app.py``, ``node server.js``, ``java -jar x.jar``."""
    it = iter(args)
    for a in it:
        if base.startswith("java"):
            if a == "-jar":
                jar = next(it, None)
                if jar:
                    w.resolve_file(_abs(jar, cwd), "script", interp)
                return
            if a in ("-cp", "-classpath", "--class-path"):
                next(it, None)
            continue
        if a in ("-m", "-c", "-e", "--eval", "-p", "--print"):
            return  # module / inline code: only a trace can tell
        if a.startswith("-"):
            continue
        w.resolve_file(_abs(a, cwd), "script", interp)
        return


def _abs(p: str, cwd: str) -> str:
    return p if p.startswith("/") else posixpath.normpath(posixpath.join(cwd, p))


def _user_files(w: Walker, user: str) -> None:
    """A named USER is looked up in /etc/passwd (and /etc/group) by the runtime."""
    name = (user or "").split(":")[0]
    if name and not name.isdigit() and name != "root":
        for f in ("/etc/passwd", "/etc/group"):
            w.resolve_file(f, "config", None)
