"""Node.js: what a loaded module can ``require()`` or ``import`` later, and whole packages.

Parsed with tree-sitter-javascript.  Literal specifiers of ``require()``,
``require.resolve()``, ``import``/``export ... from``, and ``import()``;
the commands of ``child_process`` calls with a literal program.  Resolved by
Node's algorithm inside the image: core modules (``fs``, ``node:fs``) are
built in; relative and absolute paths try the file, then ``.js``,
``.json``, ``.node``, ``.mjs``, ``.cjs``, then the directory
(``package.json`` ``main``, ``index.*``); ``#name`` goes through the nearest
``package.json`` ``imports``; a bare name is searched in ``node_modules`` of
every ancestor directory, then ``NODE_PATH``, ``$HOME/.node_modules``,
``$HOME/.node_libraries``, ``PREFIX/lib/node`` and Debian's
``/usr/share/nodejs`` and ``/usr/lib/*/nodejs``; a package with
``exports`` is entered only through them (every condition a require or an
import can match: ``node``, ``require``, ``import``, ``default``...).

A package (a directory right below ``node_modules``, or the application's
own, outside ``node_modules``) from which anything is loaded is kept
**whole** -- minus tests, docs, type declarations, source maps and nested
``node_modules`` (separate packages) -- when that is at most
:data:`WHOLE_PACKAGE_MAX` bytes: code loaded through computed names
(``require('./locale/' + name)``) and data read with ``fs`` are then there
too.  A bigger package keeps only its import closure (the report says so).
"""

from __future__ import annotations

import json
import posixpath
from typing import Iterator

from imgopt.minify.closure.base import WHOLE_MAX, Context, Found, Language, Unresolved, strong, walk_up, whole
from imgopt.minify.closure.syntax import line, parse, text, walk

WHOLE_PACKAGE_MAX = WHOLE_MAX  # see imgopt.minify.closure.WHOLE_MAX
JS_SUFFIXES = (".js", ".mjs", ".cjs")
EXTENSIONS = ("", ".js", ".json", ".node", ".mjs", ".cjs")
INDEXES = ("index.js", "index.json", "index.node", "index.mjs", "index.cjs")
CONDITIONS = {"node", "require", "import", "default", "module-sync", "node-addons", "production"}
BUILTINS = {
    "assert", "assert/strict", "async_hooks", "buffer", "child_process", "cluster", "console", "constants",
    "crypto", "dgram", "diagnostics_channel", "dns", "dns/promises", "domain", "events", "fs", "fs/promises",
    "http", "http2", "https", "inspector", "inspector/promises", "module", "net", "os", "path", "path/posix",
    "path/win32", "perf_hooks", "process", "punycode", "querystring", "readline", "readline/promises", "repl",
    "stream", "stream/consumers", "stream/promises", "stream/web", "string_decoder", "sys", "timers",
    "timers/promises", "tls", "trace_events", "tty", "url", "util", "util/types", "v8", "vm", "wasi",
    "worker_threads", "zlib", "test", "sqlite", "sea",
}
_CHILD = {"exec", "execSync", "execFile", "execFileSync", "spawn", "spawnSync", "fork"}


class Node(Language):
    name = "node"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith(JS_SUFFIXES):
            return True
        if "." in posixpath.basename(path):
            return False
        interp = ctx.interpreter(path)
        return interp in ("node", "nodejs")

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        if strong(ctx, path):
            yield from self._package(path, ctx, path)
        data = ctx.files.read(path)
        if data is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        for kind, spec, ln in specifiers(data):
            if kind == "dynamic":
                yield Unresolved(self.name, path, ln, spec, "dynamic")
                continue
            if kind == "command":
                exe = ctx.which(spec)
                if exe:
                    yield Found(exe, f"runs {spec!r}", path)
                else:
                    yield Unresolved(self.name, path, ln, spec, "command not found")
                continue
            if is_builtin(spec):
                continue
            hits = self.resolve(spec, path, ctx)
            if hits is None:
                continue  # absent in the image too: an optional dependency
            for f, why in hits:
                yield Found(f, f"{kind}({spec!r})" + (f" ({why})" if why else ""), path)
                if f.endswith((".js", ".mjs", ".cjs", ".json", ".node")) and strong(ctx, path):
                    yield from self._package(f, ctx, path)

    # ------------------------------------------------------------ resolution

    def resolve(self, spec: str, importer: str, ctx: Context) -> list[tuple[str, str]] | None:
        """Files ``spec`` loads from ``importer`` (with the package.json files consulted), or None."""
        files = ctx.files
        base = posixpath.dirname(importer)
        if spec.startswith(("./", "../", "/")) or spec in (".", ".."):
            target = spec if spec.startswith("/") else posixpath.normpath(posixpath.join(base, spec))
            return self._file_or_dir(target, ctx)
        if spec.startswith("#"):
            pj = self._nearest_package_json(base, ctx)
            if pj is None:
                return None
            doc = self._pkg(pj, ctx)
            targets = _exports_targets(doc.get("imports"), spec)
            out: list[tuple[str, str]] = [(pj, "package.json imports")]
            for t in targets:
                if t.startswith("./"):
                    got = self._file_or_dir(posixpath.normpath(posixpath.join(posixpath.dirname(pj), t)), ctx)
                    out += got or []
                elif not t.startswith("#"):
                    out += self.resolve(t, pj, ctx) or []
            return out if len(out) > 1 else None
        name, sub = _split(spec)
        for d in self._module_dirs(base, ctx):
            pkg = f"{d}/{name}"
            if not files.is_dir(pkg):
                if not sub and files.is_file(pkg + ".js"):
                    return [(pkg + ".js", "")]
                continue
            pj = pkg + "/package.json"
            doc = self._pkg(pj, ctx) if files.is_file(pj) else {}
            out = [(pj, "")] if files.is_file(pj) else []
            if "exports" in doc and doc["exports"] is not None:
                targets = _exports_targets(doc["exports"], "." + ("/" + sub if sub else ""), exports=True)
                for t in targets:
                    if t.startswith("./"):
                        out += self._file_or_dir(posixpath.normpath(f"{pkg}/{t}"), ctx) or []
                if len(out) > 1 or not sub:
                    return out
            got = self._file_or_dir(f"{pkg}/{sub}" if sub else pkg, ctx)
            return out + (got or []) if got or out else None
        return None

    def _file_or_dir(self, target: str, ctx: Context) -> list[tuple[str, str]] | None:
        files = ctx.files
        for ext in EXTENSIONS:
            if files.is_file(target + ext):
                return [(target + ext, "")]
        if not files.is_dir(target):
            return None
        out: list[tuple[str, str]] = []
        pj = target + "/package.json"
        if files.is_file(pj):
            out.append((pj, ""))
            main = self._pkg(pj, ctx).get("main")
            if isinstance(main, str) and main:
                m = posixpath.normpath(posixpath.join(target, main))
                for ext in EXTENSIONS:
                    if files.is_file(m + ext):
                        return out + [(m + ext, "package.json main")]
                for idx in INDEXES:
                    if files.is_file(f"{m}/{idx}"):
                        return out + [(f"{m}/{idx}", "package.json main")]
        for idx in INDEXES:
            if files.is_file(f"{target}/{idx}"):
                return out + [(f"{target}/{idx}", "")]
        return out or None

    def _module_dirs(self, base: str, ctx: Context) -> list[str]:
        dirs = []
        for d in [base, *walk_up(base)]:
            if posixpath.basename(d) == "node_modules":
                continue
            nm = (d.rstrip("/") or "") + "/node_modules"
            if ctx.files.is_dir(nm):
                dirs.append(nm)
        return list(dict.fromkeys(dirs + self._global_dirs(ctx)))

    def _global_dirs(self, ctx: Context) -> list[str]:
        got = ctx.state.get("node.global")
        if got is None:
            home = ctx.env.get("HOME") or "/root"
            cands = [p for p in ctx.env.get("NODE_PATH", "").split(":") if p.startswith("/")]
            cands += [f"{home}/.node_modules", f"{home}/.node_libraries"]
            exe = ctx.which("node") or ctx.which("nodejs")
            if exe:
                final = ctx.files.lookup(exe)[0]
                cands.append(posixpath.dirname(posixpath.dirname(final)) + "/lib/node")
            cands += ["/usr/local/lib/node_modules", "/usr/lib/nodejs", "/usr/share/nodejs"]
            cands += [f"/usr/lib/{t}/nodejs" for t in ctx.files.listdir("/usr/lib") if "-linux-" in t]
            got = [c for c in dict.fromkeys(cands) if ctx.files.is_dir(c)]
            ctx.state["node.global"] = got
        return got  # type: ignore[return-value]

    def _nearest_package_json(self, d: str, ctx: Context) -> str | None:
        for a in [d, *walk_up(d)]:
            pj = (a.rstrip("/") or "") + "/package.json"
            if ctx.files.is_file(pj):
                return pj
        return None

    def _pkg(self, pj: str, ctx: Context) -> dict:
        cache = ctx.state.setdefault("node.pkg", {})
        if pj not in cache:  # type: ignore[operator]
            try:
                doc = json.loads(ctx.files.read(pj) or b"{}")
            except (ValueError, UnicodeDecodeError):
                doc = {}
            cache[pj] = doc if isinstance(doc, dict) else {}  # type: ignore[index]
        return cache[pj]  # type: ignore[index]

    # ------------------------------------------------------------ whole packages

    def _package(self, path: str, ctx: Context, by: str) -> Iterator[Found | Unresolved]:
        """``path`` is loaded (or loadable) from ``by``: keep its package whole, if small enough."""
        root = self.package_root(path, ctx)
        if root is None:
            return
        yield from whole(ctx, self.name, [root], by, f"whole package {posixpath.basename(root)}", WHOLE_PACKAGE_MAX)

    def package_root(self, path: str, ctx: Context) -> str | None:
        """The package directory ``path`` belongs to: right below ``node_modules``, or the app's own."""
        i = path.rfind("/node_modules/")
        if i >= 0:
            rest = path[i + len("/node_modules/"):].split("/")
            n = 2 if rest[0].startswith("@") else 1
            if len(rest) <= n:
                return None
            return path[:i] + "/node_modules/" + "/".join(rest[:n])
        for g in self._global_dirs(ctx):
            if path.startswith(g + "/"):
                rest = path[len(g) + 1:].split("/")
                n = 2 if rest[0].startswith("@") else 1
                return g + "/" + "/".join(rest[:n]) if len(rest) > n else None
        pj = self._nearest_package_json(posixpath.dirname(path), ctx)
        if pj is None or posixpath.dirname(pj) == "/":
            return None
        return posixpath.dirname(pj)


def is_builtin(spec: str) -> bool:
    return spec.startswith("node:") or spec in BUILTINS


def _split(spec: str) -> tuple[str, str]:
    parts = spec.split("/")
    n = 2 if spec.startswith("@") else 1
    return "/".join(parts[:n]), "/".join(parts[n:])


def _exports_targets(mapping, subpath: str, exports: bool = False) -> list[str]:
    """Targets of ``subpath`` in an ``exports`` / ``imports`` map, under every condition Node could match."""
    if exports and (isinstance(mapping, (str, list)) or (isinstance(mapping, dict) and mapping
                                                         and not any(k.startswith((".", "#")) for k in mapping))):
        mapping = {".": mapping}  # sugar: "exports": "./index.js" or a conditions object
    if not isinstance(mapping, dict):
        return []
    if subpath in mapping:
        return _conditions(mapping[subpath], "")
    best = None
    for key in mapping:  # patterns: "./lib/*": "./lib/*.js"; folder mappings "./lib/": "./lib/"
        if "*" in key:
            pre, _, post = key.partition("*")
            if subpath.startswith(pre) and subpath.endswith(post) and len(subpath) >= len(pre) + len(post):
                if best is None or len(pre) > len(best[0]):
                    best = (pre, key, subpath[len(pre):len(subpath) - len(post) if post else None])
        elif key.endswith("/") and subpath.startswith(key):
            if best is None or len(key) > len(best[0]):
                best = (key, key, subpath[len(key):])
    if best is None:
        return []
    _, key, star = best
    return _conditions(mapping[key], star or "", "*" in key)


def _conditions(target, star: str, pattern: bool = False) -> list[str]:
    if isinstance(target, str):
        if pattern:
            return [target.replace("*", star)]
        return [target + star if target.endswith("/") else target]
    if isinstance(target, list):
        return [t for x in target for t in _conditions(x, star, pattern)]
    if isinstance(target, dict):
        return [t for k, v in target.items() if k in CONDITIONS for t in _conditions(v, star, pattern)]
    return []


def specifiers(data: bytes) -> list[tuple[str, str, int]]:
    """(kind, specifier or expression, line): kind is require | import | command | dynamic."""
    root = parse("javascript", data)
    out: list[tuple[str, str, int]] = []
    for n in walk(root, {"call_expression", "import_statement", "export_statement"}):
        if n.type in ("import_statement", "export_statement"):
            src = n.child_by_field_name("source")
            if src is not None:
                lit = js_string(src)
                if lit is not None:
                    out.append(("import", lit, line(n)))
            continue
        fn = n.child_by_field_name("function")
        args = n.child_by_field_name("arguments")
        if fn is None or args is None:
            continue
        callee = text(fn)
        first = args.named_children[0] if args.named_children else None
        if callee in ("require", "require.resolve", "import") or fn.type == "import":
            kind = "import" if fn.type == "import" or callee == "import" else "require"
            lit = js_string(first) if first is not None else None
            if lit is not None:
                out.append((kind, lit, line(n)))
            elif first is not None and first.type != "number":  # require(4): a bundle's own module table
                out.append(("dynamic", f"{callee}({text(first)[:60]})", line(n)))
        elif callee.rsplit(".", 1)[-1] in _CHILD and first is not None:
            lit = js_string(first)
            short = callee.rsplit(".", 1)[-1]
            if lit is None:
                continue  # a computed program: child_process names are too generic to report every call
            if short == "fork":
                out.append(("require", lit if lit.startswith((".", "/")) else "./" + lit, line(n)))
            elif short in ("exec", "execSync"):
                from imgopt.minify.closure.shell import commands_of_string

                for c in commands_of_string(lit):
                    out.append(("command", c, line(n)))
            else:
                out.append(("command", lit, line(n)))
    return out


def js_string(node) -> str | None:
    if node is None:
        return None
    if node.type == "string":
        frag = [c for c in node.named_children if c.type in ("string_fragment", "escape_sequence")]
        return "".join(text(c) for c in frag)
    if node.type == "template_string":
        if any(c.type == "template_substitution" for c in node.named_children):
            return None
        return text(node)[1:-1]
    return None


__all__ = ["Node", "specifiers", "is_builtin", "WHOLE_PACKAGE_MAX"]
