"""Java: every class-path entry of the JVMs the app ran, and of the jars on it.

The JVM opens a class-path jar the first time a class lookup reaches it, so
a jar that only a later request needs is never opened while the probe runs.
Kept: the ``-jar`` jar and every ``-cp`` / ``-classpath`` / ``--class-path``
entry of each ``java`` process (from the trace, and the entrypoint), and
``CLASSPATH``; ``dir/*`` means every jar in ``dir``; a directory entry is
kept whole (its classes and resources); each jar's manifest ``Class-Path``
(relative to the jar's directory), recursively; ``-javaagent:`` jars.
The JRE's own files are kept by the ``java`` keep rule.
"""

from __future__ import annotations

import posixpath
import zipfile
from typing import Iterator

from imgopt.minify.closure.base import Context, Found, Language, Unresolved

MANIFEST_MAX = 1 << 20


class Java(Language):
    name = "java"

    def claims(self, path: str, ctx: Context) -> bool:
        return path.endswith((".jar", ".war"))

    def start(self, ctx: Context) -> Iterator[Found | Unresolved]:
        for argv in ctx.argvs:
            if not argv or not posixpath.basename(argv[0]).startswith("java"):
                continue
            by = " ".join(argv[:4]) + (" ..." if len(argv) > 4 else "")
            entries: list[str] = []
            it = iter(argv[1:])
            for a in it:
                if a in ("-cp", "-classpath", "--class-path"):
                    entries += (next(it, "") or "").split(":")
                elif a.startswith("--class-path="):
                    entries += a.split("=", 1)[1].split(":")
                elif a == "-jar":
                    jar = next(it, None)
                    if jar:
                        entries.append(jar)
                    break  # what follows are the program's arguments
                elif a.startswith("-javaagent:"):
                    entries.append(a.split(":", 1)[1].split("=", 1)[0])
                elif not a.startswith("-"):
                    break  # the main class
            if "-cp" not in argv and "-classpath" not in argv and "-jar" not in argv:
                entries += ctx.env.get("CLASSPATH", "").split(":")
            for e in entries:
                yield from self._entry(e, ctx.workdir, ctx, f"class path of {by}", by)

    def scan(self, path: str, ctx: Context) -> Iterator[Found | Unresolved]:
        f = ctx.files.open(path)
        if f is None:
            return
        try:
            with zipfile.ZipFile(f) as z:
                try:
                    info = z.getinfo("META-INF/MANIFEST.MF")
                except KeyError:
                    return
                if info.file_size > MANIFEST_MAX:
                    yield Unresolved(self.name, path, 0, "META-INF/MANIFEST.MF", "too big: not read")
                    return
                raw = z.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
            yield Unresolved(self.name, path, 0, posixpath.basename(path), f"not a readable jar ({e})")
            return
        finally:
            f.close()
        for entry in manifest_class_path(raw.decode("utf-8", "replace")):
            if entry.startswith("file:"):
                entry = entry[5:]
            yield from self._entry(entry, posixpath.dirname(path), ctx, "Class-Path of " + posixpath.basename(path),
                                   path)

    def _entry(self, entry: str, cwd: str, ctx: Context, how: str, by: str) -> Iterator[Found]:
        if not entry:
            return
        p = entry if entry.startswith("/") else posixpath.normpath(posixpath.join(cwd, entry))
        if p.endswith("/*"):
            d = p[:-2]
            for name in ctx.files.listdir(d):
                if name.lower().endswith(".jar") and ctx.files.is_file(f"{d}/{name}"):
                    yield Found(f"{d}/{name}", how, by)
        elif ctx.files.is_file(p):
            yield Found(p, how, by)
        elif ctx.files.is_dir(p):
            for f, _ in ctx.files.walk_files(p):
                yield Found(f, how + " (directory)", by, parse=f.endswith(".jar"))


def manifest_class_path(text: str) -> list[str]:
    """The ``Class-Path`` entries of a jar manifest (72-byte lines continue with a leading space)."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    for ln in lines:
        key, _, value = ln.partition(":")
        if key.strip().lower() == "class-path":
            return value.split()
    return []


__all__ = ["Java", "manifest_class_path"]
