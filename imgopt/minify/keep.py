"""The keep set: every path a slim image must still contain, and why.

keep = traced paths ∪ served and listed directories (whole, bounded) ∪
static closure (ELF interpreters and needed libraries of every kept ELF,
shebang interpreters, every link of every symlink chain, parent directories)
∪ language closure (what the loaded Python, Node, Ruby, Perl, PHP, Java and
shell code can load later: :mod:`imgopt.minify.closure`) ∪ keep rules
(imgopt/data/keep) ∪ ``--include`` ∪ runtime directories; minus
``--exclude``.  Every kept path carries the first reason it was kept
(:func:`reason_category` groups them for the summary).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from imgopt.analyze.entrypoint import Resolver, Walker, analyze_entrypoint
from imgopt.analyze.junk import configured_locales
from imgopt.analyze.scan import Scan
from imgopt.errors import BadInput
from imgopt.data import data_dir, yaml_rules
from imgopt.image.globs import compile_globs
from imgopt.image.tarstream import Kind
from imgopt.trace.profile import AccessProfile

RULES_DIR = data_dir("keep")
RUNTIME_DIRS = ("tmp", "var/tmp", "run", "dev", "proc", "sys")
# a served or listed directory is kept whole up to this size; a bigger one keeps only what was traced
DIR_MAX_BYTES = 64 << 20
DIR_MAX_FILES = 10_000
_PY_MODULE = (".py", ".pyc")
_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


@dataclass
class KeepRule:
    id: str
    title: str
    why: str
    paths: list[str]
    when_env: list[str] = field(default_factory=list)
    when_exists: list[str] = field(default_factory=list)
    expand: str | None = None


def load_keep_rules(directory: Path | str | None = None) -> list[KeepRule]:
    d = Path(directory) if directory else RULES_DIR
    rules = []
    for f, doc in yaml_rules(d, {"id", "title", "why"}, "keep rule"):
        if doc.get("expand") not in (None, "python", "node"):
            raise BadInput(str(f), f"unknown expander {doc['expand']!r}")
        rules.append(KeepRule(str(doc["id"]), str(doc["title"]), " ".join(str(doc["why"]).split()),
                              list(doc.get("paths") or []), list(doc.get("when_env") or []),
                              list(doc.get("when_exists") or []), doc.get("expand")))
    return rules


@dataclass
class KeptDir:
    """A directory the app served or listed, and whether it was kept whole."""

    path: str  # absolute, as resolved in the image
    reason: str  # document root | listed while answering | listed
    kept: bool
    files: int  # regular files below it
    bytes: int
    why: str  # the requests it was seen in, or why it was not kept whole


@dataclass
class KeepPlan:
    keep: dict[str, str]  # path (relative) -> first reason it was kept
    startup: list[str]  # regular files the trace saw, in path (tree walk) order (relative, resolved)
    rules_applied: dict[str, int] = field(default_factory=dict)  # rule id -> paths it added
    missing_includes: list[str] = field(default_factory=list)
    unresolved: list = field(default_factory=list)  # imgopt.minify.closure.Unresolved: loads not resolved
    dirs: list[KeptDir] = field(default_factory=list)  # served and listed directories

    def __contains__(self, path: str) -> bool:
        return path in self.keep


class Planner:
    def __init__(self, scan: Scan):
        self.scan = scan
        self.tree = scan.tree
        self.r = Resolver(scan)
        self.keep: dict[str, str] = {}
        self.env = scan.image.config.env_dict

    # ---------------------------------------------------------------- adding

    def add(self, path: str, reason: str) -> bool:
        """Keep ``path`` (as written: symlinks in it are kept link by link)."""
        rel = path.strip("/")
        if not rel:
            return True
        links: list[str] = []
        final, node = self.r.lookup("/" + rel, links)
        for link in links:
            self._put(link.strip("/"), "symlink")
        if node is None:
            return False
        self._put(final.strip("/"), reason)
        if node.kind is Kind.HARDLINK and node.src:
            pass  # bytes come from node.src when written
        return True

    def _put(self, rel: str, reason: str) -> None:
        if rel in self.keep or not rel:
            return
        self.keep[rel] = reason
        parent = posixpath.dirname(rel)
        while parent and parent not in self.keep:
            self.keep[parent] = "parent"
            parent = posixpath.dirname(parent)

    def add_literal(self, rel: str, reason: str) -> None:
        """Keep exactly this path (no symlink resolution of its last component)."""
        node = self.tree.get(rel)
        if node is None:
            return
        parent = posixpath.dirname(rel)
        if parent:
            self.add(parent, "parent")
        self._put(rel, reason)
        if node.kind is Kind.SYMLINK:  # and what it points to
            target = node.linkname if node.linkname.startswith("/") else posixpath.join("/" + parent, node.linkname)
            self.add(target, f"{reason} (symlink target)")

    # ----------------------------------------------------------- sources

    def add_profile(self, profile: AccessProfile) -> list[str]:
        startup: list[str] = []
        seen: set[str] = set()
        for f in profile.files:
            if not f.exists:
                continue
            rel = f.path.strip("/")
            node = self.tree.get(rel)
            if node is not None and node.kind is Kind.SYMLINK:
                self.add_literal(rel, "traced")
            elif not self.add(f.path, "traced"):
                continue
            final, node = self.r.lookup(f.path)
            # every traced file, not only those before ready: which side of "ready" a file fell on
            # is timing, and the layers must not depend on timing (docs/minify.md, Determinism)
            if node is not None and node.kind in (Kind.FILE, Kind.HARDLINK):
                r = final.strip("/")
                if r not in seen:
                    seen.add(r)
                    startup.append(r)
        for d in profile.written_dirs:
            self.add(d, "written at runtime")
        return startup

    def add_dirs(self, profile: AccessProfile) -> list[KeptDir]:
        """Served directories (document roots, listed while answering) and listed ones, kept whole.

        Bounded: a directory over :data:`DIR_MAX_BYTES` or :data:`DIR_MAX_FILES`
        keeps only what the trace saw, and is reported.  A listed Python
        module directory is not kept whole (its listing is the import
        system's cache; what it can import later is the language closure's).
        """
        out: list[KeptDir] = []
        seen: set[str] = set()
        for u, served in [(u, True) for u in profile.served_dirs] + [(u, False) for u in profile.listed_dirs]:
            final, node = self.r.lookup(u.path)
            rel = final.strip("/")
            if node is None or node.children is None or rel in seen:
                continue
            seen.add(rel)
            files = [(p, n) for p, n in self.tree.walk(node, rel) if n.children is None]
            size = sum(n.size for _, n in files if n.kind is Kind.FILE)
            why = ", ".join(u.probes[:3]) + (f" and {len(u.probes) - 3} more" if len(u.probes) > 3 else "")
            kept = False
            if u.reason != "document root" and _python_module_dir(node):
                why = "a Python module directory: what it can import later is the language closure's"
            elif size > DIR_MAX_BYTES or len(files) > DIR_MAX_FILES:
                why = f"over the cap ({len(files)} files, {size} bytes; at most {DIR_MAX_FILES} files and " \
                      f"{DIR_MAX_BYTES} bytes): only what was traced is kept (--include {final} keeps it all)"
            else:
                kept = True
                reason = "served directory" if served else "listed directory"
                if rel:
                    self.add(final, reason)
                for p, _n in self.tree.walk(node, rel):
                    self.add_literal(p, reason)
            out.append(KeptDir("/" + rel, u.reason, kept, len(files), size, why or "at startup"))
        return out

    def add_static_closure(self) -> None:
        """Entrypoint closure, then ELF/shebang closure of everything kept, to a fixpoint."""
        ep = analyze_entrypoint(self.scan)
        for f in ep.files:
            self.add(f.path, f"static:{f.reason}")
        w = Walker(self.scan, self.env)
        done: set[str] = set()
        while True:
            todo = [p for p in list(self.keep) if p not in done]
            if not todo:
                break
            for rel in todo:
                done.add(rel)
                node = self.tree.get(rel)
                if node is None or node.kind not in (Kind.FILE, Kind.HARDLINK) or not (node.mode & 0o111 or
                                                                                     ".so" in rel):
                    continue
                before = set(w.report_files)
                if self.keep.get(rel, "").startswith("rule:"):
                    # kept by a rule, not run by the app: only what the loader needs
                    # for a library (a rule-kept script's interpreter is not needed)
                    if self.r.head(node, "/" + rel, 4) == b"\x7fELF":
                        w.follow_elf("/" + rel, node, [], 0)
                else:
                    w.follow_exec("/" + rel, None)
                for p in set(w.report_files) - before:
                    self.add(p, f"static:{w.report_files[p].reason}")

    def add_language_closure(self, profile: AccessProfile | None) -> list:
        """What the interpreted files the app loaded can load later (imgopt.minify.closure)."""
        from imgopt.analyze.entrypoint import entry_argv
        from imgopt.minify.closure import language_closure

        seeds = [p for p, why in self.keep.items() if why in ("static:script", "static:exec")]
        argvs = [entry_argv(self.scan.image.config.entrypoint, self.scan.image.config.cmd)]
        if profile is not None:
            seeds += [f.path for f in profile.files if f.exists and f.type == "file"
                      and {"open", "read", "mmap", "exec"} & set(f.kinds)]
            argvs += [p.argv for p in profile.processes if p.argv]
        res = language_closure(self.scan, ["/" + p.lstrip("/") for p in seeds], argvs=argvs)
        for path, a in res.added.items():
            self.add(path, f"closure:{a.language}: {a.how} in {a.by}")
        return res.unresolved

    def add_rules(self, rules: list[KeepRule], applied: dict[str, int]) -> None:
        paths = [p for p, _ in self.tree.walk()]
        for rule in rules:
            if rule.when_env and not any(self._env_set(v) for v in rule.when_env):
                continue
            if rule.when_exists and not any(self.tree.get(p.strip("/")) is not None for p in rule.when_exists):
                continue
            globs = [g for g in (self._expand(p) for p in rule.paths) if g]
            before = len(self.keep)
            if globs:
                rx = compile_globs(globs)
                for p in paths:
                    if rx.match(p):
                        self.add_literal(p, f"rule:{rule.id}")
            if rule.expand == "python":
                self._expand_python(rule.id)
            elif rule.expand == "node":
                self._expand_node(rule.id)
            applied[rule.id] = len(self.keep) - before

    def _env_set(self, var: str) -> bool:
        v = self.env.get(var, "")
        if var in ("LANG", "LC_ALL"):
            return bool(configured_locales({var: v}))
        return bool(v)

    def _expand(self, glob: str) -> str | None:
        extra = {}
        loc = self.env.get("LC_ALL") or self.env.get("LANG") or ""
        if loc:
            extra["LOCALE"] = loc
            base, _, cs = loc.partition(".")
            extra["LOCALE_NORM"] = f"{base}.{cs.lower().replace('-', '')}" if cs else base
        values = {**self.env, **extra}
        missing = False

        def sub(m: re.Match) -> str:
            nonlocal missing
            v = values.get(m.group(1))
            if not v or "/.." in v or v.startswith(".."):
                missing = True
                return ""
            return v.strip("/")

        out = _VAR.sub(sub, glob)
        return None if missing else out

    def _expand_python(self, rule_id: str) -> None:
        for rel in list(self.keep):
            if rel.endswith(".py") and self.keep[rel].startswith("closure:"):
                continue  # loaded later, if ever: compiled from source then (the closure keeps no bytecode)
            if rel.endswith(".py"):
                d, name = posixpath.split(rel)
                cache = self.tree.get(posixpath.join(d, "__pycache__"))
                if cache is not None and cache.children:
                    stem = name[:-3] + "."
                    for child in cache.children:
                        if child.startswith(stem) and child.endswith(".pyc"):
                            self.add_literal(posixpath.join(d, "__pycache__", child), f"rule:{rule_id}")
            elif rel.endswith(".pyc") and "/__pycache__/" in f"/{rel}":
                d = posixpath.dirname(posixpath.dirname(rel))
                src = posixpath.join(d, posixpath.basename(rel).split(".", 1)[0] + ".py")
                if self.tree.get(src) is not None:
                    self.add_literal(src, f"rule:{rule_id}")

    def _expand_node(self, rule_id: str) -> None:
        for rel in list(self.keep):
            if not rel.endswith((".js", ".mjs", ".cjs", ".node", ".json")):
                continue
            d = posixpath.dirname(rel)
            while True:
                pj = posixpath.join(d, "package.json") if d else "package.json"
                if self.tree.get(pj) is not None:
                    self.add_literal(pj, f"rule:{rule_id}")
                if not d:
                    break
                d = posixpath.dirname(d)

    def add_runtime_dirs(self) -> None:
        cfg = self.scan.image.config
        for d in (*RUNTIME_DIRS, cfg.workdir.strip("/")):
            if d:
                self.add(d, "runtime directory")

    def include(self, patterns: Iterable[str], reason: str = "--include") -> list[str]:
        missing = []
        paths = None
        for pat in patterns:
            if any(c in pat for c in "*?["):
                if paths is None:
                    paths = [p for p, _ in self.tree.walk()]
                rx = compile_globs([pat.strip("/")])
                hits = [p for p in paths if rx.match(p)]
                for p in hits:
                    self.add_literal(p, reason)
                if not hits:
                    missing.append(pat)
            else:
                node = self.tree.get(pat.strip("/"))
                if node is None:
                    missing.append(pat)
                    continue
                self.add(pat, reason)
                if node.children is not None:  # a directory: everything below it
                    for p, _ in self.tree.walk(node, pat.strip("/")):
                        self.add_literal(p, reason)
        return missing

    def exclude(self, patterns: Iterable[str]) -> None:
        pats = list(patterns)
        if not pats:
            return
        rx = compile_globs(p.strip("/") for p in pats)
        for p in [p for p in self.keep if rx.match(p)]:
            del self.keep[p]


def plan_keep(scan: Scan, profile: AccessProfile | None, *, keep_all: bool = False,
              includes: Iterable[str] = (), excludes: Iterable[str] = (),
              rules: list[KeepRule] | None = None, repairs: Iterable[str] = ()) -> KeepPlan:
    """``repairs``: paths verification found missing (kept like includes, with their own reason)."""
    pl = Planner(scan)
    startup: list[str] = []
    applied: dict[str, int] = {}
    missing: list[str] = []
    unresolved: list = []
    dirs: list[KeptDir] = []
    if profile is not None:
        startup = pl.add_profile(profile)
    if keep_all:
        for p, _ in scan.tree.walk():
            pl._put(p, "keep-all")
    else:
        if profile is not None:
            dirs = pl.add_dirs(profile)
        pl.add_static_closure()
        unresolved = pl.add_language_closure(profile)
        pl.add_rules(rules if rules is not None else load_keep_rules(), applied)
        missing = pl.include(includes)
        pl.include(repairs, "verification repair")
        pl.add_runtime_dirs()
        pl.add_static_closure()  # what the rules and includes added may need libraries too
        pl.exclude(excludes)
    return KeepPlan(pl.keep, [p for p in startup if p in pl.keep], applied, missing, unresolved, dirs)


def reason_category(reason: str) -> str:
    """The summary's group for a keep reason (``closure:python: import x in /app/a.py`` -> language closure (python))."""
    reason = reason.removesuffix(" (symlink target)")  # a kept symlink's target: kept for the link's reason
    if reason == "traced":
        return "trace"
    if reason.startswith("static:"):
        return "ELF/shebang closure"
    if reason.startswith("closure:"):
        return f"language closure ({reason.split(':', 2)[1]})"
    if reason.startswith("rule:"):
        return "keep rule"
    if reason in ("runtime directory", "written at runtime"):
        return "runtime directories"
    if reason in ("parent", "symlink", "symlink target"):
        return "parents and symlinks"
    return reason


def kept_entries(scan: Scan, plan: KeepPlan) -> list[dict]:
    """Every kept path with its size and reason (the kept audit), sorted by path."""
    out = []
    for p in sorted(plan.keep):
        node = scan.tree.get(p)
        if node is None:
            continue
        size = node.size if node.kind in (Kind.FILE, Kind.HARDLINK) else 0
        out.append({"path": "/" + p, "size": size, "reason": plan.keep[p], "category": reason_category(plan.keep[p])})
    return out


def kept_by_reason(scan: Scan, plan: KeepPlan) -> dict[str, dict[str, int]]:
    """category -> {bytes, files} of the kept regular files (largest first)."""
    acc: dict[str, list[int]] = {}
    for e in kept_entries(scan, plan):
        node = scan.tree.get(e["path"].lstrip("/"))
        if node is None or node.kind not in (Kind.FILE, Kind.HARDLINK):
            continue
        a = acc.setdefault(e["category"], [0, 0])
        a[0] += e["size"]
        a[1] += 1
    return {k: {"bytes": v[0], "files": v[1]} for k, v in sorted(acc.items(), key=lambda x: -x[1][0])}


def _python_module_dir(node) -> bool:
    """A directory of Python modules (what the import system lists to cache its contents)."""
    kids = node.children or {}
    if "__pycache__" in kids or "__init__.py" in kids or node.name in ("site-packages", "dist-packages"):
        return True
    files = [name for name, c in kids.items() if c.children is None]
    return bool(files) and sum(_py_module_file(name) for name in files) * 2 >= len(files)


def _py_module_file(name: str) -> bool:
    """Source, bytecode, or an extension module named as CPython names them (``x.cpython-311-…so``,
    ``x.abi3.so``; a bare ``.so`` may be any plugin, so it does not count)."""
    return name.endswith(_PY_MODULE) or (name.endswith(".so") and (".cpython-" in name or name.endswith(".abi3.so")))

