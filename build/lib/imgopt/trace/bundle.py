"""A self-contained copy of the host's strace, to run inside any image.

The bundle holds the strace binary, every shared library it needs and the
host's dynamic loader; it is run as ``/.imgopt-trace/ld.so --library-path
/.imgopt-trace/lib /.imgopt-trace/strace ...``, so it works in images with
another libc or no libc at all, and nothing of the image is used by the
tracer.  Both backends bind-mount it read-only at ``/.imgopt-trace`` with a
writable ``out/`` below it for the logs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from imgopt.errors import ImgoptError

MOUNT = "/.imgopt-trace"


class TracerMissing(ImgoptError):
    """strace (or what it needs) is not available on this host."""


def strace_path() -> str:
    path = shutil.which("strace")
    if not path:
        raise TracerMissing("strace", "not installed on this host (apt-get install strace)")
    return os.path.realpath(path)


def _libraries(binary: str) -> tuple[str, list[str]]:
    """(dynamic loader, shared libraries) of ``binary``, from ldd."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise TracerMissing(binary, f"cannot list its libraries with ldd: {e}") from None
    loader, libs = "", []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+) \(", line)
        if m:
            libs.append(m.group(2))
            continue
        m = re.match(r"\s*(/\S+) \(", line)
        if m:
            loader = m.group(1)
    if not loader:
        raise TracerMissing(binary, "no dynamic loader found by ldd (a static strace is not supported)")
    return loader, libs


def make_bundle(dest: str) -> dict[str, str]:
    """Copy strace, its libraries and the loader into ``dest``; returns in-sandbox paths."""
    strace = strace_path()
    loader, libs = _libraries(strace)
    os.makedirs(os.path.join(dest, "lib"), exist_ok=True)
    os.makedirs(os.path.join(dest, "out"), exist_ok=True)
    shutil.copy(strace, os.path.join(dest, "strace"))
    shutil.copy(os.path.realpath(loader), os.path.join(dest, "ld.so"))
    for lib in libs:
        shutil.copy(os.path.realpath(lib), os.path.join(dest, "lib", os.path.basename(lib)))
    for root, dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o755)
    return {"loader": f"{MOUNT}/ld.so", "libdir": f"{MOUNT}/lib", "strace": f"{MOUNT}/strace",
            "out": f"{MOUNT}/out"}


def tracer_argv(paths: dict[str, str], options: list[str]) -> list[str]:
    """The command prefix that runs the bundled strace (before ``-o LOG -- CMD``)."""
    return [paths["loader"], "--library-path", paths["libdir"], paths["strace"], *options]
