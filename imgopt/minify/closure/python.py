"""Python: what a loaded module can import later, resolved against its interpreter's ``sys.path``.

``sys.path`` is derived from the image, never by running its Python: every
installation (the landmark ``PREFIX/lib/pythonX.Y/os.py``) gives the
standard library (``pythonXY.zip``, ``pythonX.Y``, ``lib-dynload``) and the
site directories ``site.py`` would add (``site-packages``, Debian's
``dist-packages``, ``/usr/local/lib/pythonX.Y/dist-packages``, the user
site under ``$HOME``); a venv (``pyvenv.cfg``: ``home``, ``version``,
``include-system-site-packages``) gives its base's standard library and its
own ``site-packages``; ``PYTHONPATH`` comes first; ``.pth`` files add
directories and run ``import`` lines.  A file outside every installation is
application code: its directory, its top package's parent and the working
directory are searched first.

From each module (Python's own :mod:`ast`; a file the host's Python cannot
parse falls back to a line scan): ``import``/``from`` anywhere, also inside
functions (not under ``if TYPE_CHECKING:``), relative imports,
``importlib.import_module`` / ``__import__`` with literal names (others are
reported), the package ``__init__`` chain of every import, the bytecode
``__pycache__/X.<tag>.pyc`` the interpreter would read, the commands of
``subprocess`` / ``os.system`` calls with literal arguments (resolved through
``PATH``), the data files a loaded package ships in its own directory
(templates, locales, data; not code, tests or docs; at most
:data:`DATA_MAX` bytes per package), the ``*.dist-info`` of every
distribution a module came from and the modules of its entry points (plugin
groups, not console scripts), and the files a standard-library module reads
(:data:`STDLIB_DATA`: ``zoneinfo`` reads the tz database).
"""

from __future__ import annotations

import ast
import fnmatch
import os
import posixpath
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from imgopt.minify.closure.base import NOT_WHOLE_FILES, Context, Found, Language, Unresolved

DATA_MAX = 64 << 20  # bytes of non-code files kept per package directory
_CODE = re.compile(r"\.(py|pyc|pyo|pyi|pyx|pxd|pxi|c|h|hh|hpp|cpp|cc|cxx|f|f90|pyd|dll|dylib|a|o|lib|exe)$"
                   r"|\.so(\.\d+)*$")
_NOT_DATA_DIRS = {"__pycache__", "tests", "test", "docs", "doc", "examples", "example", "benchmarks", "include",
                  "node_modules", ".git", "site-packages", "dist-packages"}
_SUBPROCESS = {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
               "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput", "os.system", "os.popen",
               "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.execl", "os.execle", "os.execlp",
               "os.execlpe", "os.spawnv", "os.spawnvp", "os.spawnl", "os.spawnlp", "os.posix_spawn",
               "os.posix_spawnp", "shutil.which", "asyncio.create_subprocess_exec",
               "asyncio.create_subprocess_shell"}
_SHELL_STRING = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                 "asyncio.create_subprocess_shell"}
# files a standard-library module reads when used (directories kept whole)
STDLIB_DATA = {
    "zoneinfo": ["/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo"],
}
# modules a standard-library module imports by a computed name (glob in the standard library's directories):
# the codec registry imports encodings.<name> on first use of a codec; sysconfig its build's configuration
STDLIB_BY_NAME = {
    "encodings": ["encodings/*.py"],
    "sysconfig": ["_sysconfigdata_*.py"],
}
# modules frozen into the interpreter (Tools/build/freeze_modules.py): loaded at every start, from the binary
FROZEN = ("importlib/_bootstrap.py", "importlib/_bootstrap_external.py", "zipimport.py")
FROZEN_311 = ("abc.py", "codecs.py", "io.py", "_collections_abc.py", "_sitebuiltins.py", "genericpath.py",
              "ntpath.py", "posixpath.py", "os.py", "site.py", "stat.py", "importlib/util.py",
              "importlib/machinery.py", "runpy.py")
_LANDMARK = re.compile(r"^(.*)/lib/python(\d+\.\d+)/os\.py$")
_PYVENV = re.compile(r"^(.*)/pyvenv\.cfg$")


@dataclass
class Env:
    """One interpreter's ``sys.path`` (a system installation or a venv)."""

    name: str
    version: str
    roots: list[str]
    site_dirs: list[str] = field(default_factory=list)
    stdlib: list[str] = field(default_factory=list)
    pth_imports: list[tuple[str, str]] = field(default_factory=list)  # (.pth file, import line)

    @property
    def tag(self) -> str:
        return "cpython-" + self.version.replace(".", "")


class Python(Language):
    name = "python"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith(".py") or (path.endswith(".pyc") and "/__pycache__/" in path):
            return True
        if path.endswith(".pth"):
            return True
        if "." in posixpath.basename(path):
            return False
        interp = ctx.interpreter(path)
        return bool(interp) and interp.startswith(("python", "pypy"))

    # ------------------------------------------------------------- state

    def envs(self, ctx: Context) -> list[Env]:
        got = ctx.state.get("python.envs")
        if got is None:
            got = discover_envs(ctx)
            ctx.state["python.envs"] = got
        return got  # type: ignore[return-value]

    def start(self, ctx: Context) -> Iterable[Found | Unresolved]:
        """The frozen modules of every interpreter the app used: always loaded, their sources never opened."""
        used = {id(e): e for p in ctx.loaded for e in self.envs(ctx) if any(p.startswith(r + "/") for r in e.roots)}
        if not used and ctx.state.get("python.seeds"):
            used = {id(e): e for e in self.envs(ctx)}  # application code only: whichever interpreter runs it
        for e in used.values():
            frozen = FROZEN + (FROZEN_311 if tuple(map(int, e.version.split("."))) >= (3, 11) else ())
            for std in [d for d in e.stdlib if d.endswith("/python" + e.version)]:  # PREFIX/lib/pythonX.Y
                for rel in frozen:
                    p = f"{std}/{rel}"
                    if ctx.files.is_file(p):
                        ctx.loaded.add(ctx.files.lookup(p)[0])
                        yield Found(p, f"frozen into {e.name}: always loaded, its source never opened", p)

    def prepare(self, paths: list[str], ctx: Context) -> None:
        """Parse the loaded modules in worker processes (parsing is most of the closure's time)."""
        sources = []
        for p in paths:
            if p.endswith(".pyc"):  # the interpreter loaded the bytecode: the module is its source
                src = ctx.files.lookup(source_of_pyc(p))[0]
                if ctx.files.is_file(src):
                    ctx.loaded.add(src)
                    sources.append(src)
            elif p.endswith(".py") or "." not in posixpath.basename(p):
                sources.append(p)
        ctx.state["python.seeds"] = bool(sources)
        jobs = [(p, t, self._may_run_as_main(p, self.envs_of(p, ctx), ctx)) for p in dict.fromkeys(sources)
                if (t := ctx.files.text(p)) is not None]
        if len(jobs) < PARALLEL_MIN:
            return
        from imgopt.analyze.scan import worker_pool

        pool = worker_pool(os.cpu_count() or 1)
        if pool is None:
            return
        try:
            got = pool.map(_parse_job, [(t, m) for _, t, m in jobs], chunksize=32)
            ctx.state["python.parsed"] = {(p, m): refs for (p, _, m), refs in zip(jobs, got)}
        finally:
            pool.shutdown()

    # ------------------------------------------------------------- scan

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        if path.endswith(".pth"):
            yield from self._pth(path, ctx)
            return
        if path.endswith(".pyc"):
            src = source_of_pyc(path)
            if ctx.files.is_file(src):
                if path in ctx.loaded:
                    ctx.loaded.add(ctx.files.lookup(src)[0])  # the module was loaded, from its bytecode
                yield Found(src, "source of the bytecode the interpreter loaded", path)
            else:
                yield Unresolved(self.name, path, 0, posixpath.basename(path), "bytecode without source: not read")
            return
        envs = self.envs_of(path, ctx)
        roots = self.roots_for(path, envs, ctx)
        loaded = path in ctx.loaded
        if loaded:
            yield from self._bytecode(path, envs, ctx)
        text = ctx.files.text(path)
        if text is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        main = self._may_run_as_main(path, envs, ctx)
        refs = (ctx.state.get("python.parsed") or {}).get((path, main))  # type: ignore[union-attr]
        if refs is None:
            refs = imports_of(text, main=main)
        for ref in refs:
            if ref.lazy and not loaded:
                continue  # a function of a module the closure added: a second level of laziness
            if ref.kind == "dynamic":
                yield Unresolved(self.name, path, ref.line, ref.name, "dynamic")
            elif ref.kind == "command":
                yield from self._command(ref, path, ctx)
            elif ref.kind == "unparsed":
                yield Unresolved(self.name, path, ref.line, ref.name, "unparsed: line scan used")
            else:
                yield from self._import(ref, path, roots, envs, ctx)
        yield from self._stdlib_extras(path, envs, ctx)
        yield from self._package_data(path, envs, ctx)
        yield from self._distribution(path, envs, ctx)

    def _may_run_as_main(self, path: str, envs: list[Env], ctx: Context) -> bool:
        """A library module runs as ``__main__`` only through ``python -m`` (seen in the processes' argv)."""
        root = next((r for e in envs for r in e.roots if path.startswith(r + "/")), None)
        if root is None:
            return True  # application code or a script: may be the program
        mods = ctx.state.get("python.-m")
        if mods is None:
            mods = {a[i + 1] for a in ctx.argvs for i in range(len(a) - 1) if a[i] == "-m"}
            ctx.state["python.-m"] = mods
        dotted = path[len(root) + 1:].removesuffix(".py").replace("/", ".")
        dotted = dotted.removesuffix(".__main__").removesuffix(".__init__")
        return dotted in mods  # type: ignore[operator]

    def envs_of(self, path: str, ctx: Context) -> list[Env]:
        envs = self.envs(ctx)
        mine = [e for e in envs if any(path.startswith(r + "/") for r in e.roots)]
        return mine or envs

    def roots_for(self, path: str, envs: list[Env], ctx: Context) -> list[str]:
        in_env = any(path.startswith(r + "/") for e in envs for r in e.roots)
        roots: list[str] = []
        if not in_env:  # application code: its directory, its top package's parent, the working directory
            d = posixpath.dirname(path)
            top = d
            while top != "/" and ctx.files.is_file(top + "/__init__.py"):
                top = posixpath.dirname(top)
            roots += [d, top, ctx.workdir.rstrip("/") or "/"]
        roots += [p for p in ctx.env.get("PYTHONPATH", "").split(":") if p.startswith("/")]
        for e in envs:
            roots += e.roots
        return list(dict.fromkeys(roots))

    def _import(self, ref: "Ref", path: str, roots: list[str], envs: list[Env], ctx: Context) -> Iterator[Found]:
        how = ref.how
        parts = ref.name.split(".") if ref.name else []
        if ref.level:  # relative: from the importing file's package
            base = posixpath.dirname(path)
            for _ in range(ref.level - 1):
                base = posixpath.dirname(base)
            dirs = [base]
        else:
            dirs = roots
        chain: list[str] = []
        for part in parts:
            hit = find_in(part, dirs, ctx)
            if hit is None:
                return  # not in the image: an optional dependency, or a built-in module
            chain += hit[0]
            dirs = hit[1] or []
        for f in chain:
            yield Found(f, how, path)
        for name in ref.names:  # "from pkg import sub": sub may be a submodule
            if name == "*" or not dirs:
                continue
            hit = find_in(name, dirs, ctx)
            if hit is not None:
                for f in hit[0]:
                    yield Found(f, how, path)

    def _stdlib_extras(self, path: str, envs: list[Env], ctx: Context) -> Iterator[Found]:
        """What a standard-library module reads or imports by a computed name (STDLIB_DATA, STDLIB_BY_NAME)."""
        std = next((s for e in envs for s in e.stdlib if path.startswith(s + "/")), None)
        if std is None:
            return
        top = path[len(std) + 1:].split("/")[0].removesuffix(".py")
        for d in STDLIB_DATA.get(top, []):
            for p, _ in ctx.files.walk_files(d):
                yield Found(p, f"data the standard library's {top} reads", path, parse=False)
        for pattern in STDLIB_BY_NAME.get(top, []):
            d, _, glob = posixpath.join(std, pattern).rpartition("/")
            rx = re.compile(fnmatch.translate(glob))
            for name in ctx.files.listdir(d):
                if rx.match(name):
                    yield Found(f"{d}/{name}", f"imported by name by the standard library's {top}", path)

    def _bytecode(self, path: str, envs: list[Env], ctx: Context) -> Iterator[Found]:
        d, name = posixpath.split(path)
        if not name.endswith(".py"):
            return
        cache = posixpath.join(d, "__pycache__")
        tags = {e.tag for e in envs}
        stem = name[:-3] + "."
        for child in ctx.files.listdir(cache):
            if child.startswith(stem) and child.endswith(".pyc") and child[len(stem):].split(".")[0] in tags:
                yield Found(posixpath.join(cache, child), "bytecode of " + name, path, parse=False)

    def _command(self, ref: "Ref", path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        from imgopt.minify.closure.shell import commands_of_string

        words = commands_of_string(ref.name) if ref.shell else [ref.name]
        for w in words:
            exe = ctx.which(w)
            if exe:
                yield Found(exe, f"runs {w!r}", path)
            elif not w.startswith("$"):
                yield Unresolved(self.name, path, ref.line, w, "command not found")

    def _pth(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        text = ctx.files.text(path) or ""
        envs = self.envs_of(path, ctx)
        roots = self.roots_for(path, envs, ctx)
        for i, line in enumerate(text.splitlines(), 1):
            if line.startswith(("import ", "import\t")):
                for ref in imports_of(line):
                    if ref.kind == "import":
                        yield from self._import(ref, path, roots, envs, ctx)

    def _package_data(self, path: str, envs: list[Env], ctx: Context) -> Iterator[Found | Unresolved]:
        d = posixpath.dirname(path)
        done = ctx.state.setdefault("python.data", set())
        if d in done:  # type: ignore[operator]
            return
        done.add(d)  # type: ignore[union-attr]
        env_roots = {r for e in self.envs(ctx) for r in e.roots}
        if d in env_roots or d == "/":
            return
        is_pkg = ctx.files.is_file(d + "/__init__.py")
        if not is_pkg:  # a script's directory: application data, unless it is a system or bin directory
            if posixpath.basename(d) in ("bin", "sbin") or any(r.startswith(d + "/") for r in env_roots):
                return
            if ctx.files.is_file(d + "/pyvenv.cfg"):
                return

        def prune(parent: str, name: str) -> bool:
            sub = posixpath.join(parent, name)
            return (name in _NOT_DATA_DIRS or name.startswith(".") or sub in env_roots
                    or ctx.files.is_file(sub + "/__init__.py") or ctx.files.is_file(sub + "/pyvenv.cfg")
                    or name.endswith((".dist-info", ".egg-info")))

        data = [(p, s) for p, s in ctx.files.walk_files(d, prune)
                if not _CODE.search(p) and not NOT_WHOLE_FILES.search(posixpath.basename(p))]
        total = sum(s for _, s in data)
        if total > DATA_MAX:
            yield Unresolved(self.name, path, 0, d, f"package data of {total / 1e6:.0f} MB over the "
                                                   f"{DATA_MAX >> 20} MiB bound: not kept")
            return
        what = "data of package " + d if is_pkg else "data beside the application's " + posixpath.basename(path)
        for p, _ in data:
            node = ctx.files.lookup(p)[1]
            script = node is not None and bool(node.mode & 0o111) and ctx.files.head(p, 2) == b"#!"
            yield Found(p, what, path, parse=script)  # an executable script is run: read its commands

    def _distribution(self, path: str, envs: list[Env], ctx: Context) -> Iterator[Found]:
        for e in envs:
            for site in e.site_dirs:
                if not path.startswith(site + "/"):
                    continue
                owners = record_map(site, ctx)
                rel = path[len(site) + 1:]
                dist = owners.get(rel) or owners.get("top:" + rel.split("/")[0].removesuffix(".py"))
                if not dist:
                    continue
                done = ctx.state.setdefault("python.dists", set())
                if dist in done:  # type: ignore[operator]
                    continue
                done.add(dist)  # type: ignore[union-attr]
                for p, _ in ctx.files.walk_files(dist):
                    yield Found(p, "metadata of the distribution " + posixpath.basename(path) + " came from", path,
                                parse=False)
                yield from self._entry_points(dist, site, e, ctx)

    def _entry_points(self, dist: str, site: str, env: Env, ctx: Context) -> Iterator[Found]:
        text = ctx.files.text(dist + "/entry_points.txt") or ""
        group = ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                group = line[1:-1].strip()
                continue
            if not line or line.startswith(("#", ";")) or "=" not in line:
                continue
            if group in ("console_scripts", "gui_scripts"):
                continue  # launchers run as their own process: their bin/ script is what loads them
            target = line.split("=", 1)[1].strip().split(":", 1)[0].split("[", 1)[0].strip()
            if not re.fullmatch(r"[\w.]+", target):
                continue
            chain = resolve_module(target, env.roots, ctx)
            for f in chain or []:
                yield Found(f, f"entry point [{group}] of {posixpath.basename(dist)}", dist + "/entry_points.txt")


# ---------------------------------------------------------------- environments


def discover_envs(ctx: Context) -> list[Env]:
    files = ctx.files
    installs: dict[str, str] = {}  # stdlib dir -> version
    venvs: list[str] = []
    for p in ctx.all_paths():
        m = _LANDMARK.match(p)
        if m:
            installs[m.group(1)] = m.group(2)
            continue
        m = _PYVENV.match(p)
        if m and files.is_file(p):
            venvs.append(m.group(1))
    home = ctx.env.get("HOME") or "/root"
    envs: list[Env] = []
    for prefix, v in sorted(installs.items()):
        std = _stdlib(prefix, v, files)
        sites = _sites(prefix, v, home, files)
        envs.append(_finish(Env(f"{prefix} (Python {v})", v, std + sites, sites, std), files))
    for d in sorted(venvs):
        cfg = _pyvenv(files.text(d + "/pyvenv.cfg") or "")
        base = posixpath.dirname(cfg.get("home", "").rstrip("/")) or "/usr"
        version = ".".join(re.findall(r"\d+", cfg.get("version", cfg.get("version_info", "")))[:2])
        if not version:
            vs = [n[6:] for n in files.listdir(d + "/lib") if re.fullmatch(r"python\d+\.\d+", n)]
            version = vs[0] if vs else ""
        if not version:
            continue
        std = _stdlib(base, version, files)
        if not std:  # home may be a symlinked bin: take any installation of that version
            std = next((_stdlib(p, v, files) for p, v in installs.items() if v == version), [])
        sites = [s for s in (f"{d}/lib/python{version}/site-packages", f"{d}/lib64/python{version}/site-packages")
                 if files.is_dir(s)]
        sites = list(dict.fromkeys(files.lookup(s)[0] for s in sites))
        if cfg.get("include-system-site-packages", "false").lower() == "true":
            sites += _sites(base, version, home, files)
        envs.append(_finish(Env(f"venv {d} (Python {version})", version, std + sites, sites, std), files))
    return envs


def _stdlib(prefix: str, v: str, files) -> list[str]:
    nodot = v.replace(".", "")
    return [p for p in (f"{prefix}/lib/python{nodot}.zip", f"{prefix}/lib/python{v}",
                        f"{prefix}/lib/python{v}/lib-dynload") if files.exists(p)]


def _sites(prefix: str, v: str, home: str, files) -> list[str]:
    cands = [f"{home}/.local/lib/python{v}/site-packages", f"{prefix}/local/lib/python{v}/dist-packages",
             f"/usr/local/lib/python{v}/dist-packages", f"{prefix}/lib/python{v}/site-packages",
             f"{prefix}/lib/python{v}/dist-packages", f"{prefix}/lib/python3/dist-packages",
             f"/usr/local/lib/python{v}/site-packages"]
    return list(dict.fromkeys(c for c in cands if files.is_dir(c)))


def _pyvenv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            out[k.strip().lower()] = v.strip()
    return out


def _finish(env: Env, files) -> Env:
    """Add ``PYTHONPATH``-independent ``.pth`` directories, as site.py does."""
    for site in list(env.site_dirs):
        for name in files.listdir(site):
            if not name.endswith(".pth"):
                continue
            for line in (files.text(f"{site}/{name}") or "").splitlines():
                line = line.rstrip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\t")):
                    env.pth_imports.append((f"{site}/{name}", line))
                    continue
                d = line if line.startswith("/") else posixpath.normpath(posixpath.join(site, line))
                if files.is_dir(d) and d not in env.roots:
                    env.roots.append(d)
    return env


def record_map(site: str, ctx: Context) -> dict[str, str]:
    """site-relative file -> its ``*.dist-info`` / ``*.egg-info`` dir (RECORD, else top_level.txt)."""
    cache = ctx.state.setdefault("python.records", {})
    if site in cache:  # type: ignore[operator]
        return cache[site]  # type: ignore[index]
    out: dict[str, str] = {}
    for name in ctx.files.listdir(site):
        if not name.endswith((".dist-info", ".egg-info")):
            continue
        d = f"{site}/{name}"
        for line in (ctx.files.text(d + "/RECORD") or "").splitlines():
            rel = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
            if rel and not rel.startswith(".."):
                out.setdefault(rel, d)
        for top in (ctx.files.text(d + "/top_level.txt") or "").split():
            out.setdefault("top:" + top, d)
    cache[site] = out  # type: ignore[index]
    return out


# ---------------------------------------------------------------- module lookup


def find_in(name: str, dirs: list[str], ctx: Context) -> tuple[list[str], list[str] | None] | None:
    """Find module ``name`` in the search ``dirs`` as the path finder does.

    Returns (files it loads, its ``__path__`` if a package) or None.  A
    regular package or module in any directory wins over namespace portions.
    """
    files = ctx.files
    portions: list[str] = []
    for d in dirs:
        base = f"{d}/{name}" if d != "/" else f"/{name}"
        if files.is_dir(base):
            for init in ("__init__.py", "__init__.pyc"):
                if files.is_file(f"{base}/{init}"):
                    return [f"{base}/{init}"], [base]
            ext = _extension(d, name, ctx)
            if ext:
                return [ext], None
            if files.is_file(base + ".py"):
                return [base + ".py"], None
            portions.append(base)
            continue
        if files.is_file(base + ".py"):
            return [base + ".py"], None
        ext = _extension(d, name, ctx)
        if ext:
            return [ext], None
        if files.is_file(base + ".pyc"):
            return [base + ".pyc"], None
    if portions:
        return [], portions
    return None


def _extension(d: str, name: str, ctx: Context) -> str | None:
    for child in ctx.files.listdir(d) if ctx.files.is_dir(d) else []:
        if child.startswith(name + ".") and re.fullmatch(re.escape(name) + r"(\.[\w-]+)?\.so", child):
            return f"{d}/{child}"
    return None


def resolve_module(dotted: str, roots: list[str], ctx: Context) -> list[str] | None:
    chain: list[str] = []
    dirs = roots
    for part in dotted.split("."):
        hit = find_in(part, dirs, ctx)
        if hit is None:
            return None
        chain += hit[0]
        if hit[1] is None:
            dirs = []
        else:
            dirs = hit[1]
    return chain


def source_of_pyc(path: str) -> str:
    """``d/__pycache__/m.cpython-311.pyc`` -> ``d/m.py``."""
    cache, name = posixpath.split(path)
    return posixpath.join(posixpath.dirname(cache), name.split(".", 1)[0] + ".py")


# ---------------------------------------------------------------- parsing


@dataclass
class Ref:
    kind: str  # import | dynamic | command | unparsed
    name: str  # dotted module (relative: without the dots) / command word / expression
    line: int
    level: int = 0
    names: tuple[str, ...] = ()  # from X import names
    shell: bool = False  # command given as one shell string
    lazy: bool = False  # inside a function body: runs when the function is called, not on import

    @property
    def how(self) -> str:
        dots = "." * self.level
        if self.names:
            return f"from {dots}{self.name} import {', '.join(self.names[:3])}" + (", ..." if len(self.names) > 3 else "")
        return f"import {dots}{self.name}"




PARALLEL_MIN = 200  # loaded modules: below this, parsing in this process is quicker than starting workers


def _parse_job(job: tuple[str, bool]) -> list["Ref"]:
    return imports_of(job[0], main=job[1])


def imports_of(text: str, main: bool = True) -> list[Ref]:
    """Every literal import and command of a module; the line scan when ``ast`` cannot parse it.

    ``main=False``: the module is imported, never run as ``__main__``: its ``if __name__ == "__main__":``
    block never runs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. in the image's code are not ours to print
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _scan_lines(text)
    try:
        return _Walker(text, main).run(tree)
    except RecursionError:
        return _scan_lines(text)


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_CALL_LINE = r"import_module|__import__|find_spec|subprocess\.|os\.(system|popen|exec|spawn|posix_spawn)|shutil\.which|" \
             r"create_subprocess"


class _Walker:
    """Statements, iteratively (function bodies are lazy; ``if TYPE_CHECKING:`` never runs).

    Imports are statements, so only statement lists are walked; expressions
    are searched for calls (``import_module``, ``subprocess.run``...) only on
    lines whose text names one -- most modules have none, and walking every
    expression node of a large library costs more than parsing it.
    """

    def __init__(self, text: str, main: bool = True) -> None:
        self.text = text
        self.main = main
        self.refs: list[Ref] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted origin ("run" -> "subprocess.run")
        self.lines: set[int] | None = None

    def run(self, tree: ast.Module) -> list[Ref]:
        stmts: list[tuple[ast.stmt, int, dict]] = []
        module_consts = _constants(tree.body)
        stack: list[tuple[list, int, dict]] = [(tree.body, 0, module_consts)]
        while stack:
            body, depth, consts = stack.pop()
            for n in body:
                stmts.append((n, depth, consts))
                if isinstance(n, ast.Import):
                    for a in n.names:
                        self.refs.append(Ref("import", a.name, n.lineno, lazy=depth > 0))
                        self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                elif isinstance(n, ast.ImportFrom):
                    self.refs.append(Ref("import", n.module or "", n.lineno, n.level or 0,
                                         tuple(a.name for a in n.names), lazy=depth > 0))
                    if n.module and not n.level:
                        for a in n.names:
                            self.aliases[a.asname or a.name] = f"{n.module}.{a.name}"
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    stack.append((n.body, depth + 1, consts))
                elif isinstance(n, ast.If) and (_type_checking(n.test) or (not self.main and _is_main(n.test))):
                    stack.append((n.orelse, depth, consts))
                else:
                    inner = consts
                    if isinstance(n, (ast.For, ast.AsyncFor)) and isinstance(n.target, ast.Name):
                        values = _strings(n.iter, consts)  # for name in ("urllib3", "idna"): __import__(name)
                        if values is not None:
                            inner = {**consts, n.target.id: values}
                    for f in _BODIES:
                        sub = getattr(n, f, None)
                        if isinstance(sub, list) and sub:
                            if f in ("handlers", "cases"):
                                stack += [(h.body, depth, consts) for h in sub]
                            else:
                                stack.append((sub, depth, inner if f == "body" else consts))
        names = [re.escape(k) for k, v in self.aliases.items() if v in _SUBPROCESS or v.endswith(".import_module")]
        rx = re.compile(_CALL_LINE + ("|\\b(" + "|".join(names) + ")\\s*\\(" if names else ""))
        hits = {i for i, ln in enumerate(self.text.splitlines(), 1) if rx.search(ln)}
        if hits:
            for n, depth, consts in stmts:
                end = getattr(n, "end_lineno", n.lineno) or n.lineno
                if not any(i in hits for i in range(n.lineno, end + 1)):
                    continue
                for node in self._expressions(n):
                    for c in ast.walk(node):
                        if isinstance(c, ast.Call):
                            self._call(c, depth > 0 or isinstance(node, ast.Lambda), consts)
        self.refs.sort(key=lambda r: r.line)
        return self.refs

    @staticmethod
    def _expressions(n: ast.stmt):
        """The statement's own expressions (not its nested statement bodies)."""
        for f, v in ast.iter_fields(n):
            if f in _BODIES:
                continue
            if isinstance(v, ast.AST):
                yield v
            elif isinstance(v, list):
                yield from (x for x in v if isinstance(x, ast.AST) and not isinstance(x, ast.stmt))

    def _dotted(self, f: ast.expr) -> str:
        parts = []
        while isinstance(f, ast.Attribute):
            parts.append(f.attr)
            f = f.value
        if not isinstance(f, ast.Name):
            return ""
        parts.append(self.aliases.get(f.id, f.id))
        return ".".join(reversed(parts))

    def _call(self, node: ast.Call, lazy: bool, consts: dict | None = None) -> None:
        name = self._dotted(node.func)
        if name in ("importlib.import_module", "__import__", "import_module", "importlib.util.find_spec",
                    "find_spec") or name.endswith(".__import__"):
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            values = _strings(arg, consts or {}, single=True) if arg is not None else None
            if values:
                for mod in values:
                    level = len(mod) - len(mod.lstrip("."))
                    self.refs.append(Ref("import", mod.lstrip("."), node.lineno, level, lazy=lazy))
            else:
                self.refs.append(Ref("dynamic", f"{name}({_src(arg)})", node.lineno, lazy=lazy))
        elif name in _SUBPROCESS:
            self._command(node, name, lazy)

    def _command(self, node: ast.Call, name: str, lazy: bool) -> None:
        arg = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg in ("args", "cmd", "command")), None)
        if name.startswith("os.spawn") and len(node.args) > 1:
            arg = node.args[1]  # os.spawnlp(mode, file, ...)
        shell = name in _SHELL_STRING or any(
            k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords)
        if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts:
            arg = arg.elts[0]
            shell = False
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.strip():
            self.refs.append(Ref("command", arg.value if shell else arg.value.strip(), node.lineno, shell=shell,
                                 lazy=lazy))
        elif arg is not None:
            self.refs.append(Ref("dynamic", f"{name}({_src(arg)})", node.lineno, lazy=lazy))


def _constants(body: list) -> dict[str, list[str]]:
    """Module-level names bound once to a string or a tuple/list of strings (``PLUGINS = ("a", "b")``)."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for n in body:
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            name = n.targets[0].id
            values = _strings(n.value, {}, single=True)
            if name in seen or values is None:
                out.pop(name, None)  # rebound, or not constant: unknown
            else:
                out[name] = values
            seen.add(name)
    return out


def _strings(node, consts: dict, single: bool = False) -> list[str] | None:
    """The string values ``node`` can take: a literal tuple/list of strings, a known name; one literal too
    when ``single``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return [node.value] if single else None
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value for e in node.elts):
        return [e.value for e in node.elts]
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    return None


def _is_main(t: ast.expr) -> bool:
    """``__name__ == "__main__"``"""
    return (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)
            and {type(x) for x in (t.left, t.comparators[0])} == {ast.Name, ast.Constant}
            and any(isinstance(x, ast.Name) and x.id == "__name__" for x in (t.left, t.comparators[0]))
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in (t.left, t.comparators[0])))


def _type_checking(t: ast.expr) -> bool:
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _src(node) -> str:
    if node is None:
        return ""
    try:
        s = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the report
        return "?"
    return s if len(s) <= 60 else s[:57] + "..."


_IMPORT_LINE = re.compile(r"^\s*import\s+([\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)")
_FROM_LINE = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\s+\(?\s*([\w\s,*]+)")
_DYN_LINE = re.compile(r"(?:import_module|__import__)\(\s*(['\"])([\w.]+)\1")


def _scan_lines(text: str) -> list[Ref]:
    """Imports from a file the host's ``ast`` cannot parse (other Python versions): line by line."""
    refs = [Ref("unparsed", "syntax this host's Python does not parse", 0)]
    for i, line in enumerate(text.splitlines(), 1):
        m = _IMPORT_LINE.match(line)
        if m:
            for part in m.group(1).split(","):
                refs.append(Ref("import", part.split()[0].strip(), i))
            continue
        m = _FROM_LINE.match(line)
        if m:
            names = tuple(n.strip() for n in m.group(3).split(",") if n.strip())
            refs.append(Ref("import", m.group(2), i, len(m.group(1)), names))
        for m in _DYN_LINE.finditer(line):
            refs.append(Ref("import", m.group(2), i))
    return refs


__all__ = ["Python", "Env", "discover_envs", "imports_of", "find_in", "resolve_module", "DATA_MAX", "STDLIB_DATA"]
