"""The escape-test image: the pyweb fixture (Debian bookworm + python3) with escape.py as its entrypoint.

Used by tests/test_sandbox_escape.py and benchmarks/sandbox_engines.py; imported by path (stdlib only).
Tagged ``imgopt-test/sandbox-escape:<sha of escape.py>`` in the engine and saved as a docker archive in the
fixture cache, next to the apps (rebuilt when escape.py changes).
"""

from __future__ import annotations

import hashlib
import os
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "escape.py"
DOCKERFILE = ('FROM imgopt-fixture/pyweb:latest\nCOPY escape.py /escape.py\n'
              'ENTRYPOINT ["/usr/bin/python3", "/escape.py"]\nCMD ["all"]\n')


def _build_apps():
    spec = importlib.util.spec_from_file_location("build_apps", HERE.parent.parent / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_apps", mod)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def tag() -> str:
    return f"imgopt-test/sandbox-escape:{hashlib.sha256((DOCKERFILE + SCRIPT.read_text()).encode()).hexdigest()[:12]}"


def _run(*cmd: str) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()[-500:]}")


def ensure() -> tuple[str, Path]:
    """(tag in the engine, docker archive) of the escape image; built on first use."""
    ba = _build_apps()
    pyweb = ba.ensure_app("pyweb")
    t = tag()
    archive = pyweb.parent / f"sandbox-escape-{t.rsplit(':', 1)[1]}.tar"
    have = subprocess.run(["docker", "image", "inspect", t], capture_output=True).returncode == 0
    if have and archive.exists():
        return t, archive
    if subprocess.run(["docker", "image", "inspect", "imgopt-fixture/pyweb:latest"], capture_output=True).returncode:
        _run("docker", "load", "-i", str(pyweb))
    ctx = Path(tempfile.mkdtemp(prefix="imgopt-escape-ctx-"))
    try:
        shutil.copy(SCRIPT, ctx / "escape.py")
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        _run("docker", "build", "-q", "-t", t, str(ctx))
        tmp = archive.with_name(f".{archive.name}.{os.getpid()}.part")
        _run("docker", "save", "-o", str(tmp), t)
        tmp.replace(archive)
        for old in archive.parent.glob("sandbox-escape-*.tar"):  # the archives of older escape.py versions
            if old != archive:
                old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return t, archive
