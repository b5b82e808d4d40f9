"""Perl: ``use`` / ``require`` / ``use parent|base`` with literal module names or files.

Perl's grammar is famously undecidable statically (only perl can parse
Perl), so this is a statement scan, not a parse: POD and everything after
``__END__`` / ``__DATA__`` are skipped, comments stripped, and
``use Module``, ``no Module``, ``require Module``, ``require "file.pl"``,
``use parent``/``use base`` with ``qw()`` or quoted lists, and ``use lib``
directories are read; a name that resolves to no file is ignored (it also
matched text that is not code).  ``@INC`` comes from the image:
``PERL5LIB``/``PERLLIB``, ``use lib`` directories, and every directory that
holds ``strict.pm`` or is named like Perl's library directories
(``perl5``, ``perl/5.36``, ``site_perl``, ``vendor_perl``, ``perl-base``,
``/usr/share/perl5``, ``/etc/perl``).  A module compiled from XS also keeps
its ``auto/Module/Name/`` directory (the ``.so`` XSLoader loads, AutoLoader
``.al``/``.ix`` files), and a loaded module's own namespace is kept whole
(``Foo/Bar.pm``, ``Foo/Bar/``, ``auto/Foo/Bar/``) under the closure's size bound.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from imgopt.minify.closure.base import SYSTEM_DIRS, Context, Found, Language, Unresolved, app_dir, strong, whole

_INC_DIR = re.compile(r"(^/etc/perl$|/perl5$|/perl5/[\d.]+$|/perl/[\d.]+$|/perl-base$|/site_perl$|/site_perl/[\d.]+$|"
                      r"/vendor_perl$|/vendor_perl/[\d.]+$|^/usr/share/perl5$|/perl5/[\d.]+/[\w-]+linux[\w-]*$|"
                      r"/lib/perl5/[\w.-]+$)")
_STMT = re.compile(r"(?:^|[;{}]|\bif\b|\bunless\b|\beval\b|\bdo\b)\s*(use|no|require)\s+([^;]*)", re.M)
_MODULE = re.compile(r"^([A-Za-z_]\w*(?:::\w+)*)")
_QUOTED = re.compile(r"""^(['"])([^'"$@]+)\1""")
_QW = re.compile(r"qw\s*([(\[{/<|!])(.*?)[)\]}/>|!]", re.S)
_STRINGS = re.compile(r"""(['"])([A-Za-z_][\w:]*)\1""")
_SYSTEM = re.compile(r"""\b(?:system|exec)\s*\(?\s*(['"])([^'"$@]+)\1""")
_BACKTICK = re.compile(r"`([^`$@]+)`|\bqx\s*([({\[/|!])([^$@]*?)[)}\]/|!]")


class Perl(Language):
    name = "perl"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith((".pm", ".pl", ".cgi", ".t")):
            return not path.endswith(".t")
        if "." in posixpath.basename(path):
            return False
        interp = ctx.interpreter(path)
        return bool(interp) and interp.startswith("perl")

    def inc(self, ctx: Context) -> list[str]:
        got = ctx.state.get("perl.inc")
        if got is None:
            roots = [p for v in ("PERL5LIB", "PERLLIB") for p in ctx.env.get(v, "").split(":") if p.startswith("/")]
            for p in ctx.all_paths():
                if p.endswith("/strict.pm") and ctx.files.is_file(p):
                    roots.append(posixpath.dirname(p))
                elif _INC_DIR.search(p) and ctx.files.is_dir(p):
                    roots.append(p)
            got = list(dict.fromkeys(roots))
            ctx.state["perl.inc"] = got
        return got  # type: ignore[return-value]

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        text = ctx.files.text(path)
        if text is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        refs, libs = uses_of(text)
        inc = [d if d.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(path), d))
               for d in libs] + self.inc(ctx)
        if not any(path.startswith(r + "/") for r in inc):
            inc += _app_libs(path)  # an application script: the lib/ directories above it
        if strong(ctx, path):
            yield from self._library(path, inc, ctx, path)
        for cmd, ln in commands_of(text):
            exe = ctx.which(cmd)
            if exe:
                yield Found(exe, f"runs {cmd!r}", path)
            else:
                yield Unresolved(self.name, path, ln, cmd, "command not found")
        for kind, name, ln in refs:
            if kind == "dynamic":
                yield Unresolved(self.name, path, ln, name, "dynamic")
                continue
            rel = name if kind == "file" else name.replace("::", "/") + ".pm"
            cands = [rel] if rel.startswith("/") else [f"{d}/{rel}" for d in inc]
            if kind == "file" and not rel.startswith("/"):
                cands.append(posixpath.join(posixpath.dirname(path), rel))
            hit = next((c for c in cands if ctx.files.is_file(c)), None)
            if hit is None:
                continue
            yield Found(hit, f"{'require' if kind == 'file' else 'use'} {name}", path)
            if strong(ctx, path):
                yield from self._library(hit, inc, ctx, path)
            if kind == "module":  # XS: XSLoader / DynaLoader load auto/Foo/Bar/Bar.so; AutoLoader .al files
                sub = "auto/" + name.replace("::", "/")
                for r in inc:
                    d = f"{r}/{sub}"
                    for fname in ctx.files.listdir(d):
                        if ctx.files.is_file(f"{d}/{fname}"):
                            yield Found(f"{d}/{fname}", f"XS / AutoLoader file of {name}", path, parse=False)


    def _library(self, path: str, inc: list[str], ctx: Context, by: str) -> Iterator[Found | Unresolved]:
        """Keep a loaded module's own namespace whole: ``Foo/Bar.pm``, ``Foo/Bar/`` and ``auto/Foo/Bar/`` in
        every ``@INC`` directory (Encode loads ``Encode::JP`` by table, DBI-style plugins by name), if small.
        An application script (outside ``@INC``) keeps its directory whole."""
        root = max((r for r in inc if path.startswith(r + "/")), key=len, default=None)
        if root is None:
            if path in ctx.loaded:
                d = app_dir(ctx, path, inc)
                if d:
                    yield from whole(ctx, self.name, [d], by, "the application directory " + d)
            return
        rel = path[len(root) + 1:]
        if not rel.endswith(".pm") or rel.startswith(("auto/", "unicore/")):
            return
        mod = rel[:-3]
        tops = [f"{r}/{t}" for r in dict.fromkeys(inc) for t in (mod, mod + ".pm", "auto/" + mod)]
        yield from whole(ctx, self.name, tops, by, f"whole namespace {mod.replace('/', '::')}::")


def _app_libs(path: str) -> list[str]:
    parts = path.split("/")
    return [d for i in range(len(parts) - 1, 0, -1) if parts[i] == "lib"
            and (d := "/".join(parts[:i + 1])) not in SYSTEM_DIRS]


def strip_pod(text: str) -> str:
    out = []
    in_pod = False
    for ln in text.splitlines():
        if ln.startswith("=cut"):
            in_pod = False
            out.append("")
            continue
        if ln.startswith("=") and ln[1:2].isalpha():
            in_pod = True
        if in_pod:
            out.append("")
            continue
        if ln.strip() in ("__END__", "__DATA__"):
            break
        out.append(_strip_comment(ln))
    return "\n".join(out)


def _strip_comment(ln: str) -> str:
    s = ln.lstrip()
    return "" if s.startswith("#") else ln


def uses_of(text: str) -> tuple[list[tuple[str, str, int]], list[str]]:
    """([(module | file | dynamic, name, line)], ``use lib`` directories)."""
    code = strip_pod(text)
    refs: list[tuple[str, str, int]] = []
    libs: list[str] = []
    for m in _STMT.finditer(code):
        verb, rest = m.group(1), m.group(2).strip()
        ln = code.count("\n", 0, m.start(2)) + 1
        if verb == "require" and (q := _QUOTED.match(rest)):
            refs.append(("file", q.group(2), ln))
            continue
        mod = _MODULE.match(rest)
        if not mod:
            if verb == "require" and rest and rest[0] in "$(":
                refs.append(("dynamic", f"require {rest[:60]}", ln))
            continue
        name = mod.group(1)
        if verb == "require" and rest[len(name):].lstrip().startswith(("::", "->")):
            continue
        if name in ("lib",) and verb == "use":
            libs += _list_args(rest[len(name):])
            continue
        refs.append(("module", name, ln))
        if name in ("parent", "base", "if") and verb == "use":
            args = [a for a in _list_args(rest[len(name):]) if a != "-norequire"]
            if name == "if":
                args = args[:1]  # the condition is code; the module is its first quoted name
            refs += [("module", a, ln) for a in args if _MODULE.fullmatch(a)]
    return refs, libs


def commands_of(text: str) -> list[tuple[str, int]]:
    """Programs of ``system``/``exec`` with a literal first argument, backticks and ``qx``."""
    from imgopt.minify.closure.shell import commands_of_string

    code = strip_pod(text)
    out: list[tuple[str, int]] = []
    for m in _SYSTEM.finditer(code):
        ln = code.count("\n", 0, m.start()) + 1
        out += [(c, ln) for c in commands_of_string(m.group(2))]
    for m in _BACKTICK.finditer(code):
        ln = code.count("\n", 0, m.start()) + 1
        out += [(c, ln) for c in commands_of_string(m.group(1) or m.group(3) or "")]
    return out


def _list_args(rest: str) -> list[str]:
    out = []
    for q in _QW.finditer(rest):
        out += q.group(2).split()
    out += [s.group(2) for s in _STRINGS.finditer(_QW.sub("", rest))]
    quoted_dirs = re.findall(r"""(['"])(/[^'"$@]*|[^'"$@]*/[^'"$@]*)\1""", _QW.sub("", rest))
    out += [d for _, d in quoted_dirs]
    return out


__all__ = ["Perl", "uses_of", "strip_pod"]
