"""The imgopt-lint pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit itself on a temporary
git repository with `pre-commit try-repo` against this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = str(Path(sys.executable).parent / "pre-commit")


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
                            GIT_COMMITTER_EMAIL="t@e"))


def test_hook_definition():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "imgopt-lint" and hook["types"] == ["dockerfile"] and hook["entry"] == "imgopt lint"


def test_pre_commit_runs_the_hook(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "Dockerfile").write_text("FROM debian\nRUN apt-get install curl\n")
    (repo / "app.Dockerfile").write_text("FROM debian:12.5-slim\nCMD [\"true\"]\n")
    (repo / "README.md").write_text("not a Dockerfile: RUN apt-get install x\n")
    git(repo, "add", ".")
    # pre-commit installs this checkout (and its dependencies, from the package index) into a
    # virtualenv of its own, as it does for any hook repository
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), HOME=str(tmp_path))
    r = subprocess.run([PRE_COMMIT, "try-repo", str(ROOT), "imgopt-lint", "--all-files", "--verbose"], cwd=repo,
                       capture_output=True, text=True, env=env, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out  # findings fail the hook
    assert "Dockerfile:1 DL3006" in out and "Dockerfile:2 DL3014" in out
    assert "README.md" not in out.split("imgopt lint")[-1]
    (repo / "Dockerfile").write_text("FROM debian:12.5-slim\nCMD [\"true\"]\n")
    git(repo, "add", ".")
    r = subprocess.run([PRE_COMMIT, "try-repo", str(ROOT), "imgopt-lint", "--all-files"], cwd=repo,
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
