"""PHP: ``include`` / ``require`` (``_once``) with literal paths, and whole library packages.

Parsed with tree-sitter-php.  A path expression is evaluated when it is
built from literals, ``__DIR__``, ``__FILE__``, ``dirname(X[, levels])`` and
``.`` concatenation (the forms real code uses); anything else is reported.
A relative path is looked up as PHP does: the ``include_path`` (``.`` and
Debian's ``/usr/share/php``, ``/usr/share/pear``), the including file's
directory, the working directory.  Commands of ``shell_exec``, ``exec``,
``system``, ``passthru``, ``popen``, ``proc_open`` and backticks with
literal strings are resolved through ``PATH``.

Classes are loaded on first use through autoloaders (Composer's
``vendor/autoload.php``, Debian's per-package ``autoload.php``), so the
include closure cannot see them: as for Node, a library package from which
anything was loaded (``vendor/VENDOR/NAME``, ``/usr/share/php/NAME``) is kept
whole minus tests and docs, up to :data:`imgopt.minify.closure.WHOLE_MAX`
bytes, and Composer's own ``vendor/composer`` maps with it; the directory of
a loaded script outside the library directories (the application: its
templates, its classes) is kept whole under the same bound.
"""

from __future__ import annotations

import posixpath
from typing import Iterator

from imgopt.minify.closure.base import Context, Found, Language, Unresolved, app_dir, strong, whole
from imgopt.minify.closure.syntax import line, parse, text, walk

INCLUDE_PATH = (".", "/usr/share/php", "/usr/share/pear")
_INCLUDES = {"include_expression", "include_once_expression", "require_expression", "require_once_expression"}
_RUN = {"shell_exec", "exec", "system", "passthru", "popen", "proc_open"}


class Php(Language):
    name = "php"

    def claims(self, path: str, ctx: Context) -> bool:
        if path.endswith((".php", ".inc", ".phtml")):
            return True
        if "." in posixpath.basename(path):
            return False
        interp = ctx.interpreter(path)
        return bool(interp) and interp.startswith("php")

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        if strong(ctx, path):
            yield from self._package(path, ctx)
        data = ctx.files.read(path)
        if data is None:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), "too big or unreadable: not read")
            return
        for kind, value, ln in includes_of(data, path):
            if kind == "dynamic":
                yield Unresolved(self.name, path, ln, value, "dynamic")
            elif kind == "command":
                exe = ctx.which(value)
                if exe:
                    yield Found(exe, f"runs {value!r}", path)
                else:
                    yield Unresolved(self.name, path, ln, value, "command not found")
            else:
                hit = self._resolve(value, path, ctx)
                if hit:
                    yield Found(hit, f"{kind} {value!r}", path)

    def _resolve(self, value: str, path: str, ctx: Context) -> str | None:
        if value.startswith("/"):
            return value if ctx.files.is_file(value) else None
        d = posixpath.dirname(path)
        if value.startswith(("./", "../")):
            cands = [posixpath.join(ctx.workdir, value), posixpath.join(d, value)]
        else:
            cands = [posixpath.join(ctx.workdir if p == "." else p, value) for p in INCLUDE_PATH]
            cands += [posixpath.join(d, value), posixpath.join(ctx.workdir, value)]
        return next((posixpath.normpath(c) for c in cands if ctx.files.is_file(posixpath.normpath(c))), None)

    def _package(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        root = package_root(path)
        if root is not None:
            tops = [root] + ([root.split("/vendor/")[0] + "/vendor/composer"] if "/vendor/" in root else [])
            yield from whole(ctx, self.name, tops, path, f"whole package {root}")
        elif path in ctx.loaded:
            d = app_dir(ctx, path, list(INCLUDE_PATH[1:]))
            if d:
                yield from whole(ctx, self.name, [d], path, "the application directory " + d)


def package_root(path: str) -> str | None:
    """``.../vendor/VENDOR/NAME`` (Composer) or ``/usr/share/php/NAME`` (Debian), if ``path`` is inside one."""
    i = path.rfind("/vendor/")
    if i >= 0:
        rest = path[i + len("/vendor/"):].split("/")
        if len(rest) > 2 and rest[0] != "composer":
            return path[:i] + "/vendor/" + "/".join(rest[:2])
        return None
    for base in ("/usr/share/php/", "/usr/share/pear/"):
        if path.startswith(base):
            rest = path[len(base):].split("/")
            return base + rest[0] if len(rest) > 1 else None
    return None


def includes_of(data: bytes, path: str) -> list[tuple[str, str, int]]:
    """(include | require | ... | command | dynamic, value, line)."""
    root = parse("php", data)
    out: list[tuple[str, str, int]] = []
    for n in walk(root, _INCLUDES | {"function_call_expression", "shell_command_expression"}):
        if n.type in _INCLUDES:
            arg = n.named_children[0] if n.named_children else None
            value = evaluate(arg, path)
            kind = n.type.removesuffix("_expression")
            if value is None:
                out.append(("dynamic", f"{kind} {text(arg)[:60]}", line(n)))
            else:
                out.append((kind, value, line(n)))
        elif n.type == "shell_command_expression":
            from imgopt.minify.closure.shell import commands_of_string

            lit = text(n)[1:-1]
            if "$" not in lit:
                out += [("command", c, line(n)) for c in commands_of_string(lit)]
        else:
            name = text(n.child_by_field_name("function"))
            if name.lower() not in _RUN:
                continue
            args = _args(n)
            value = evaluate(args[0], path) if args else None
            if value:
                from imgopt.minify.closure.shell import commands_of_string

                out += [("command", c, line(n)) for c in commands_of_string(value)]
    return out


def _args(call) -> list:
    a = call.child_by_field_name("arguments")
    if a is None:
        return []
    return [c.named_children[0] if c.type == "argument" and c.named_children else c for c in a.named_children]


def evaluate(node, path: str) -> str | None:
    """The string value of a constant path expression, or None."""
    if node is None:
        return None
    t = node.type
    if t == "parenthesized_expression":
        return evaluate(node.named_children[0], path) if node.named_children else None
    if t in ("string", "encapsed_string"):
        if any(c.type not in ("string_content", "string_value", "escape_sequence") for c in node.named_children):
            return None
        return "".join(text(c) for c in node.named_children)
    if t == "name":
        v = text(node)
        return {"__DIR__": posixpath.dirname(path), "__FILE__": path}.get(v)
    if t == "binary_expression":
        op = node.child_by_field_name("operator")
        if op is None or text(op) != ".":
            return None
        left = evaluate(node.child_by_field_name("left"), path)
        right = evaluate(node.child_by_field_name("right"), path)
        return None if left is None or right is None else left + right
    if t == "function_call_expression" and text(node.child_by_field_name("function")).lower() == "dirname":
        args = _args(node)
        v = evaluate(args[0], path) if args else None
        levels = int(text(args[1])) if len(args) > 1 and text(args[1]).isdigit() else 1
        if v is None:
            return None
        for _ in range(max(1, min(levels, 64))):
            v = posixpath.dirname(v)
        return v
    return None


__all__ = ["Php", "includes_of", "evaluate", "package_root"]
