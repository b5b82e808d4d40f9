"""Junk classes: files a runtime image carries but does not need.

Classes are data (``imgopt/data/junk/*.yaml``, see imgopt/data/junk/README.md): globs,
excludes, a safe-to-remove flag and an optional code *detector* for the two
cases globs cannot decide (unused locales, unimportable bytecode).  Each file
of the final filesystem goes to the first class that claims it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from imgopt.errors import BadInput
from imgopt.data import data_dir, yaml_rules
from imgopt.image.filetree import FileTree
from imgopt.image.globs import GlobSet, compile_globs
from imgopt.image.tarstream import Kind

RULES_DIR = data_dir("junk")


@dataclass
class JunkRule:
    id: str
    title: str
    group: str
    why: str
    safe_to_remove: bool
    paths: list[str]
    exclude: list[str] = field(default_factory=list)
    detector: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self._re = compile_globs(self.paths)
        self._ex = compile_globs(self.exclude)

    def matches(self, path: str) -> bool:
        return bool(self._re and self._re.match(path)) and not (self._ex and self._ex.match(path))


def load_rules(directory: Path | str | None = None) -> list[JunkRule]:
    """The junk classes in ``directory`` (default: the built-in ones)."""
    d = Path(directory) if directory else RULES_DIR
    rules = []
    for f, doc in yaml_rules(d, {"id", "title", "why", "safe_to_remove", "paths"}, "junk class"):
        if doc.get("detector") not in (None, *DETECTORS):
            raise BadInput(str(f), f"unknown detector {doc['detector']!r}")
        rules.append(JunkRule(
            id=str(doc["id"]), title=str(doc["title"]), group=str(doc.get("group", "other")),
            why=" ".join(str(doc["why"]).split()), safe_to_remove=bool(doc["safe_to_remove"]),
            paths=list(doc["paths"]), exclude=list(doc.get("exclude") or []), detector=doc.get("detector"),
            source=f.name,
        ))
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise BadInput(str(d), "duplicate junk class ids")
    return rules


# ---------------------------------------------------------------- detectors


def configured_locales(env: dict[str, str]) -> set[str]:
    """Locale names the image can use: LANGUAGE, LC_ALL, LC_MESSAGES, LANG."""
    names: set[str] = set()
    values = [env.get("LC_ALL", ""), env.get("LC_MESSAGES", ""), env.get("LANG", "")]
    values += env.get("LANGUAGE", "").split(":")
    for v in values:
        v = v.strip()
        if not v or v in ("C", "POSIX") or v.startswith(("C.", "POSIX.")):
            continue
        base = v.split("@")[0]
        lang_country = base.split(".")[0]
        names |= {v, base, lang_country, lang_country.split("_")[0]}
        if "." in base:
            cs = base.split(".", 1)[1]
            names.add(f"{lang_country}.{cs.lower().replace('-', '')}")
    return names


_LOCALE_DIR = re.compile(r"^(?:usr/(?:local/)?share/locale|usr/share/X11/locale)/([^/]+)/")
_I18N = re.compile(r"^usr/share/i18n/locales/([^/]+)$")


def _locale_detector(ctx: "JunkContext") -> Callable[[str], bool]:
    keep = configured_locales(ctx.env)

    def junk(path: str) -> bool:
        m = _LOCALE_DIR.match(path)
        if m:
            return m.group(1) not in keep
        if _I18N.match(path):
            return True  # locale sources: only localedef reads them
        return False  # e.g. locale.alias

    return junk


_PYC = re.compile(r"^(?:(.*)/)?__pycache__/([^/]+?)\.([a-z]+-\d+)(?:\.opt-\d)?\.pyc$")
_PYBIN = re.compile(r"(?:^|/)bin/python(\d)\.(\d+)$")


def _pycache_detector(ctx: "JunkContext") -> Callable[[str], bool]:
    def junk(path: str) -> bool:
        m = _PYC.match(path)
        if not m:
            return False
        d, name, tag = m.group(1), m.group(2), m.group(3)
        src = f"{d}/{name}.py" if d else f"{name}.py"
        return not ctx.exists(src) or tag not in ctx.python_tags

    return junk


DETECTORS: dict[str, Callable[["JunkContext"], Callable[[str], bool]]] = {
    "locales": _locale_detector,
    "pycache": _pycache_detector,
}


# ------------------------------------------------------------------- result


@dataclass
class JunkFile:
    path: str
    size: int
    layer: int


@dataclass
class JunkClass:
    id: str
    title: str
    group: str
    why: str
    safe_to_remove: bool
    bytes: int = 0
    files: int = 0
    examples: list[JunkFile] = field(default_factory=list)  # largest first
    layers: dict[int, int] = field(default_factory=dict)  # layer index -> bytes


class JunkContext:
    """What detectors may consult: the image's environment and final tree."""

    def __init__(self, env: dict[str, str], tree: FileTree):
        self.env = env
        self.tree = tree
        self._python_tags: set[str] | None = None

    def exists(self, path: str) -> bool:
        return self.tree.get(path) is not None

    @property
    def python_tags(self) -> set[str]:
        """cache tags (cpython-311, ...) of the Python interpreters in the image."""
        if self._python_tags is None:
            tags = set()
            for d in self._bin_dirs():
                node = self.tree.get(d)
                for name in (node.children or {}) if node is not None else ():
                    m = _PYBIN.search(f"bin/{name}")
                    if m:
                        tags.add(f"cpython-{m.group(1)}{m.group(2)}")
            self._python_tags = tags
        return self._python_tags

    def _bin_dirs(self) -> list[str]:
        """Where interpreters live: the usual bin dirs and one level of /opt (venvs, conda)."""
        dirs = ["bin", "usr/bin", "usr/local/bin"]
        for base in ("opt", "usr/local", "root"):
            node = self.tree.get(base)
            for name, child in ((node.children or {}).items() if node is not None else ()):
                if child.children is not None:
                    dirs.append(f"{base}/{name}/bin")
        return dirs


@dataclass
class JunkReport:
    classes: list[JunkClass]
    assignment: dict[str, str]  # path -> class id, for minify's audit

    @property
    def removable_bytes(self) -> int:
        return removable_bytes(self.classes)

    @property
    def possibly_removable_bytes(self) -> int:
        return possibly_removable_bytes(self.classes)


def removable_bytes(classes: list[JunkClass]) -> int:
    """Bytes in the classes that are safe to remove."""
    return sum(c.bytes for c in classes if c.safe_to_remove)


def possibly_removable_bytes(classes: list[JunkClass]) -> int:
    """Bytes in the classes to review before removing."""
    return sum(c.bytes for c in classes if not c.safe_to_remove)


_BUILTIN: list[JunkRule] | None = None
_GLOBSETS: dict[tuple, GlobSet] = {}  # per rule set: its DFA's memoized transitions serve every image


def builtin_rules() -> list[JunkRule]:
    """The built-in classes, loaded once per process."""
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = load_rules()
    return _BUILTIN


def globset(rules: list[JunkRule]) -> GlobSet:
    """All classes' globs in one :class:`GlobSet`, one per rule set and process."""
    key = tuple((r.id, tuple(r.paths)) for r in rules)
    gs = _GLOBSETS.get(key)
    if gs is None:
        if len(_GLOBSETS) > 8:
            _GLOBSETS.clear()
        gs = _GLOBSETS[key] = GlobSet([(i, g) for i, r in enumerate(rules) for g in r.paths])
    return gs


def detectors_for(rules: list[JunkRule], ctx: JunkContext) -> dict[str, Callable[[str], bool]]:
    """The detector of each rule that has one, bound to this image's environment and tree."""
    return {r.id: DETECTORS[r.detector](ctx) for r in rules if r.detector}


def classify(path: str, first: int, rules: list[JunkRule], detectors: dict[str, Callable[[str], bool]]
             ) -> JunkRule | None:
    """The first class from ``rules[first:]`` that claims ``path`` (``first``: the lowest rule whose globs
    :class:`~imgopt.image.globs.GlobSet` matched), or None."""
    for r in rules[first:]:
        if not r.matches(path):
            continue
        det = detectors.get(r.id)
        if det is not None and not det(path):
            continue
        return r
    return None


def find_junk(tree: FileTree, env: dict[str, str], rules: list[JunkRule] | None = None,
              examples: int = 5) -> JunkReport:
    """Every junk file of ``tree`` with its class (``assignment``); :mod:`imgopt.analyze.treestats` gives the
    same classes without the per-path assignment, memoized for images that share their base layers."""
    rules = rules if rules is not None else builtin_rules()
    globs = globset(rules)
    detectors = detectors_for(rules, JunkContext(env, tree))
    classes = {r.id: JunkClass(r.id, r.title, r.group, r.why, r.safe_to_remove) for r in rules}
    picked: dict[str, list[JunkFile]] = {r.id: [] for r in rules}
    assignment: dict[str, str] = {}
    for path, node, first in globs.walk(tree):
        r = classify(path, first, rules, detectors)
        if r is None:
            continue
        size = node.size if node.kind is Kind.FILE else 0  # hardlinks share their target's bytes
        c = classes[r.id]
        c.bytes += size
        c.files += 1
        c.layers[node.layer] = c.layers.get(node.layer, 0) + size
        picked[r.id].append(JunkFile(path, size, node.layer))
        assignment[path] = r.id
    for rid, lst in picked.items():
        lst.sort(key=lambda f: (-f.size, f.path))
        classes[rid].examples = lst[:examples]
    return JunkReport([classes[r.id] for r in rules], assignment)
