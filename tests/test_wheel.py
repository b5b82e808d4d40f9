"""The installed tool, not the checkout: build the wheel, install it outside, compare results.

A user installs imgopt from a wheel (pip, pipx), never runs it from this
checkout; data the code reads beside itself must be in the wheel.  The wheel
is built from the checkout (``pip wheel``, build isolation as for a real
release), installed non-editable into a fresh venv in a temporary directory,
and its ``imgopt`` is run from there on a copy of the sample fixture; every
command below must print exactly what the checkout's ``imgopt`` prints.

Fast: the fresh venv has no pip of its own and gets the dependencies from
this environment's site-packages through a ``.pth`` path entry (a plain path:
the .pth files in there -- the editable install's import hook among them --
are not processed), so nothing but the wheel is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import IMGOPT, ROOT, SAMPLE_TAR

# (name, arguments) run by both installs from the same directory, on the same files.
COMMANDS = [
    ("analyze", ["analyze", "--format", "json", "--dockerfile", "Dockerfile", "sample.tar"]),
    ("analyze-text", ["analyze", "sample.tar"]),
    ("simulate", ["simulate", "sample.tar", "--registry", "vpc,public", "--client", "docker,containerd",
                  "--host", "reference", "--format", "json"]),
    ("inspect", ["inspect", "--format", "json", "sample.tar"]),
    ("lint", ["lint", "--no-fail", "--format", "json", "Dockerfile"]),
    ("gate", ["gate", "--format", "json", "--dockerfile", "Dockerfile", "sample.tar"]),
    ("report", ["report", "-q", "--dockerfile", "Dockerfile", "--format", "html", "-o", "-", "sample.tar"]),
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("wheel")
    # build from a copy of what a source distribution holds: no build/ or egg-info left
    # over from earlier builds can slip files into the wheel, and the checkout stays clean
    src = base / "src"
    shutil.copytree(ROOT / "imgopt", src / "imgopt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    dist = base / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True, cwd=base, timeout=900)
    assert p.returncode == 0, f"pip wheel failed: {p.stderr[-3000:]}"
    (wheel,) = dist.glob("imgopt-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "imgopt-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, cwd=base, timeout=600)
    assert p.returncode == 0, f"pip install of the wheel failed: {p.stderr[-3000:]}"
    work = base / "work"
    work.mkdir()
    shutil.copy(SAMPLE_TAR, work / "sample.tar")
    shutil.copy(ROOT / "fixtures" / "sample" / "Dockerfile", work / "Dockerfile")
    home = base / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "IMGOPT_CACHE": str(base / "cache"), "IMGOPT_SIMULATE_PROFILES": ""}
    env.pop("PYTHONPATH", None)
    return {"venv": venv, "py": py, "work": work, "env": env, "wheel": wheel}


def _run(exe: str, args: list[str], inst: dict) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=inst["work"], env=inst["env"], timeout=900)


def test_the_wheel_ships_the_data_and_is_what_runs(installed):
    names = subprocess.run([installed["py"], "-m", "zipfile", "-l", str(installed["wheel"])], capture_output=True,
                           text=True, check=True).stdout
    for data in ("imgopt/data/junk/10-apt-lists.yaml", "imgopt/data/keep/10-system.yaml",
                 "imgopt/data/simulate/registry/vpc.yaml", "imgopt/trace/sandbox_init.py", "imgopt/py.typed",
                 "imgopt/formats/html/templates/report.html.j2", "imgopt/formats/html/templates/report.css",
                 "imgopt/formats/html/templates/scan.html.j2"):
        assert data in names, f"{data} is not in the wheel"
    where = subprocess.run([installed["py"], "-c", "import imgopt, imgopt.data; print(imgopt.__file__); "
                            "print(imgopt.data.data_dir('junk'))"], capture_output=True, text=True,
                           cwd=installed["work"], env=installed["env"], check=True).stdout.split()
    assert all(w.startswith(str(installed["venv"])) for w in where), where  # not the checkout


@pytest.mark.parametrize("name,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_installed_wheel_gives_the_checkouts_results(installed, name, args):
    mine = _run(str(installed["venv"] / "bin" / "imgopt"), args, installed)
    ref = _run(IMGOPT, args, installed)
    assert ref.returncode == 0, ref.stderr
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == ref.stdout
    if args[-1] == "json" or "json" in args:
        doc = json.loads(mine.stdout)
        if name == "analyze":
            assert doc["summary"]["removable_junk_bytes"] > 0 and len(doc["junk"]) >= 10
        if name == "simulate":
            assert {r["registry"] for r in doc["results"]} == {"vpc", "public"}
    if name == "analyze-text":
        junk = next(l for l in mine.stdout.splitlines() if "Removable junk" in l)
        assert "Removable junk    0 B" not in junk
