"""Ruby: ``require``, ``require_relative``, ``load`` and ``autoload`` with literal paths.

Parsed with tree-sitter-ruby.  ``$LOAD_PATH`` is derived from the image:
``RUBYLIB``; for each installation (landmark ``.../lib/ruby/X.Y.Z/rubygems.rb``)
its ``site_ruby``, ``vendor_ruby`` and version directories with their
architecture subdirectories (``rbconfig.rb``), Debian's
``/usr/lib/<triplet>/ruby/...``; the ``lib`` directory of every installed
gem (``.../gems/NAME-VERSION/lib``, Debian's ``rubygems-integration``) and
its compiled extensions; the ``lib`` directories above the app's loaded
files.  ``require 'x'`` tries ``x.rb`` and ``x.so`` in that order of
directories; a file inside a gem also keeps the gem's ``.gemspec`` (RubyGems
reads it to activate the gem).  Commands in backticks, ``%x()``,
``system``/``exec``/``spawn``/``IO.popen``/``Open3`` with literal programs
are resolved through ``PATH``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from imgopt.minify.closure.base import SYSTEM_DIRS, Context, Found, Language, Unresolved, app_dir, strong, whole
from imgopt.minify.closure.syntax import line, parse, text, walk

_LANDMARK = re.compile(r"^(.*)/(\d+\.\d+\.\d+)/rubygems\.rb$")
_GEM_LIB = re.compile(r"^(.*/gems/[^/]+)/lib$")
_GEM_EXT = re.compile(r"^.*/extensions/[^/]+/[^/]+/[^/]+$")
_RUN = {"system", "exec", "spawn", "popen", "capture2", "capture2e", "capture3", "popen3", "popen2"}


class Ruby(Language):
    name = "ruby"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith((".rb", ".ru")):
            return True
        if "." in posixpath.basename(path):
            return False
        interp = ctx.interpreter(path)
        return bool(interp) and interp.startswith("ruby")

    def load_path(self, ctx: Context) -> list[str]:
        got = ctx.state.get("ruby.path")
        if got is None:
            got = discover_load_path(ctx)
            ctx.state["ruby.path"] = got
        return got  # type: ignore[return-value]

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        data = ctx.files.read(path)
        if data is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        roots = self.load_path(ctx) + _app_libs(path)
        if strong(ctx, path):
            yield from self._library(path, ctx, path)
        loaded = path in ctx.loaded
        for kind, arg, ln, lazy in requires_of(data):
            if lazy and not loaded:
                continue  # a method of a file the closure added: a second level of laziness
            if kind == "dynamic":
                yield Unresolved(self.name, path, ln, arg, "dynamic")
            elif kind == "command":
                exe = ctx.which(arg)
                if exe:
                    yield Found(exe, f"runs {arg!r}", path)
                else:
                    yield Unresolved(self.name, path, ln, arg, "command not found")
            elif kind == "require_relative":
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), arg))
                hit = _with_ext(target, ctx)
                if hit:
                    yield Found(hit, f"require_relative {arg!r}", path)
            else:
                if arg.startswith(("./", "../", "/")):
                    hit = _with_ext(arg if arg.startswith("/") else posixpath.join(ctx.workdir, arg), ctx)
                else:
                    hit = next((h for r in roots if (h := _with_ext(f"{r}/{arg}", ctx))), None)
                if hit:
                    yield Found(hit, f"{kind} {arg!r}", path)
                    yield from _gemspec(hit, ctx, path)

    def _library(self, path: str, ctx: Context, by: str) -> Iterator[Found | Unresolved]:
        """A file of a library is loaded: keep the library whole (its lazy requires and data), if small.

        A gem is its directory; in a load-path directory, a library is a
        top-level name (``digest.rb`` and ``digest/`` in every load-path
        directory: ``digest/sha2.so`` is in the architecture directory).
        An application file (outside the load path) keeps its directory whole.
        """
        lp = self.load_path(ctx)
        root = max((r for r in lp if path.startswith(r + "/")), key=len, default=None)
        if root is None:
            if path in ctx.loaded:
                d = app_dir(ctx, path, lp)
                if d:
                    yield from whole(ctx, self.name, [d], by, "the application directory " + d)
            return
        m = re.match(r"^(.*/gems/[^/]+)/", path)
        if m and root.startswith(m.group(1)):
            yield from whole(ctx, self.name, [m.group(1)], by, "whole gem " + posixpath.basename(m.group(1)))
            return
        top = path[len(root) + 1:].split("/")[0]
        top = top[:-3] if top.endswith((".rb", ".so")) else top
        tops = [f"{r}/{top}{ext}" for r in lp if not _GEM_LIB.match(r) for ext in ("", ".rb", ".so")]
        yield from whole(ctx, self.name, tops, by, f"whole library {top}")


def _with_ext(base: str, ctx: Context) -> str | None:
    for cand in ((base,) if base.endswith((".rb", ".so")) else (base + ".rb", base + ".so")):
        if ctx.files.is_file(cand):
            return cand
    return None


def _gemspec(hit: str, ctx: Context, by: str) -> Iterator[Found]:
    m = re.match(r"^(.*)/gems/([^/]+)/", hit)
    if m:
        spec = f"{m.group(1)}/specifications/{m.group(2)}.gemspec"
        if ctx.files.is_file(spec):
            yield Found(spec, "gem specification RubyGems reads to activate it", by, parse=False)


def _app_libs(path: str) -> list[str]:
    parts = path.split("/")
    return [d for i in range(len(parts) - 1, 0, -1) if parts[i] == "lib"
            and (d := "/".join(parts[:i + 1])) not in SYSTEM_DIRS]


def discover_load_path(ctx: Context) -> list[str]:
    files = ctx.files
    roots = [p for p in ctx.env.get("RUBYLIB", "").split(":") if p.startswith("/")]
    gems: list[str] = []
    exts: list[str] = []
    versions: set[str] = set()
    bases: list[tuple[str, str]] = []
    for p in ctx.all_paths():
        m = _LANDMARK.match(p)
        if m:
            bases.append((m.group(1), m.group(2)))
            versions.add(m.group(2))
            continue
        m = _GEM_LIB.match(p)
        if m and files.is_dir(p):
            gems.append(p)
        elif _GEM_EXT.match(p) and files.is_dir(p):
            exts.append(p)
    for base, v in bases:  # base = /usr/lib/ruby, v = 3.1.0
        for sub in (f"site_ruby/{v}", "site_ruby", f"vendor_ruby/{v}", "vendor_ruby", v):
            d = f"{base}/{sub}"
            if files.is_dir(d):
                roots.append(d)
                roots += [f"{d}/{a}" for a in files.listdir(d) if files.is_file(f"{d}/{a}/rbconfig.rb")]
    for t in files.listdir("/usr/lib"):
        for v in versions:
            for sub in (f"ruby/vendor_ruby/{v}", f"ruby/{v}", f"ruby/site_ruby/{v}"):
                d = f"/usr/lib/{t}/{sub}"
                if "-linux-" in t and files.is_dir(d):
                    roots.append(d)
    return list(dict.fromkeys(roots + sorted(gems) + sorted(exts)))


_LAZY = {"method", "singleton_method", "block", "do_block", "lambda"}


def _lazy(n) -> bool:
    p = n.parent
    while p is not None:
        if p.type in _LAZY:
            return True
        p = p.parent
    return False


def requires_of(data: bytes) -> list[tuple[str, str, int, bool]]:
    """(kind, argument, line, lazy): require | require_relative | load | autoload | command | dynamic;
    lazy: inside a method or a block (runs when called, not when the file is loaded)."""
    root = parse("ruby", data)
    out: list[tuple[str, str, int, bool]] = []
    for n in walk(root, {"call", "subshell"}):
        if n.type == "subshell":
            lit = _string(n, allow_subshell=True)
            if lit:
                from imgopt.minify.closure.shell import commands_of_string

                out += [("command", c, line(n), _lazy(n)) for c in commands_of_string(lit)]
            continue
        method = text(n.child_by_field_name("method"))
        args = n.child_by_field_name("arguments")
        if args is None or method not in ("require", "require_relative", "load", "autoload") and method not in _RUN:
            continue
        items = [c for c in args.named_children if c.type not in ("comment",)]
        if method == "autoload":
            items = items[1:]
        if not items:
            continue
        lit = _string(items[0])
        if method in _RUN:
            if lit is None:
                continue
            if len(items) == 1 and method in ("system", "exec", "spawn", "popen", "capture2", "capture2e",
                                              "capture3"):
                from imgopt.minify.closure.shell import commands_of_string

                out += [("command", c, line(n), _lazy(n)) for c in commands_of_string(lit)]
            else:
                out.append(("command", lit, line(n), _lazy(n)))
            continue
        lazy = method == "autoload" or _lazy(n)  # autoload requires on the constant's first use
        if lit is None:
            out.append(("dynamic", f"{method} {text(items[0])[:60]}", line(n), lazy))
        else:
            out.append((method, lit, line(n), lazy))
    return out


def _string(node, allow_subshell: bool = False) -> str | None:
    if node.type not in ("string", "subshell") or (node.type == "subshell" and not allow_subshell):
        return None
    if any(c.type not in ("string_content", "escape_sequence") for c in node.named_children):
        return None
    return "".join(text(c) for c in node.named_children)


__all__ = ["Ruby", "requires_of", "discover_load_path"]
