"""ShellCheck on RUN scripts: SC codes on the Dockerfile lines they are on, one shellcheck run for all
files, pragmas, the shells it is not run for, and the one-line note when shellcheck is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgopt.lint import lint_paths, lint_text
from imgopt.lint.config import LintConfig

IMGOPT = str(Path(sys.executable).parent / "imgopt")


@pytest.fixture(scope="module", autouse=True)
def need_shellcheck():
    assert shutil.which("shellcheck"), "the Debian package 'shellcheck' is needed (scripts/ensure-system.sh)"


def sc(text: str, **cfg) -> list[tuple[int, str, str]]:
    res = lint_text(text, "Dockerfile", LintConfig(**cfg))
    return [(f.line, f.code, f.severity) for f in res.findings() if f.code.startswith("SC")]


def test_findings_on_their_own_lines():
    text = ("FROM debian:12\n"
            "ARG DIR=/srv\n"
            "RUN echo start \\\n"
            "    # a comment BuildKit drops\n"
            "    && ls $DIR; \\\n"
            "    cd /tmp; \\\n"
            "    echo $(ls) $y\n")
    got = sc(text)
    assert (6, "SC2164", "warning") in got  # cd without || exit, on its own line
    assert (7, "SC2046", "warning") in got and (7, "SC2086", "info") in got
    assert all(code != "SC2154" for _, code, _ in got)  # variables of the base image are not findings
    assert all(line != 5 for line, _, _ in got)  # $DIR is declared (ARG), as hadolint tells ShellCheck


def test_heredoc_and_onbuild_scripts():
    text = "FROM debian:12\nRUN <<EOF\necho hi\ncd /tmp\nls\nEOF\nONBUILD RUN echo $X\n"
    got = sc(text)
    assert (4, "SC2164", "warning") in got and (7, "SC2086", "info") in got


def test_not_run_where_hadolint_does_not():
    assert sc('FROM debian:12\nSHELL ["pwsh", "-c"]\nRUN echo $x\n') == []
    assert sc("# hadolint shell=powershell\nFROM debian:12\nRUN echo $x\n") == []
    assert sc('FROM debian:12\nRUN ["sh", "-c", "echo $x"]\n') == []
    assert sc("FROM debian:12\nRUN <<EOF\n#!/usr/bin/env python3\nprint($x)\nEOF\n") == []
    assert sc('FROM debian:12\nSHELL ["/bin/bash", "-c"]\nRUN echo $((1+1)) && [[ -n "$x" ]] && echo ok\n') == []


def test_pragmas_apply_to_sc_codes():
    assert sc("FROM debian:12\n# hadolint ignore=SC2086\nRUN echo $x \\\n && echo $y\n") == []
    assert sc("FROM debian:12\nRUN echo $x\n", ignored={"SC2086"}) == []
    assert sc("FROM debian:12\nRUN echo $x\n", ignored={"SC"}) == []


def test_one_run_for_many_files(tmp_path):
    files = []
    for k in range(3):
        p = tmp_path / f"D{k}"
        p.write_text(f"FROM debian:12\nRUN echo $v{k}\nRUN cd /x{k}\n")
        files.append(str(p))
    res = lint_paths(files, LintConfig())
    per_file = {f.path: sorted((x.line, x.code) for x in f.findings if x.code.startswith("SC")) for f in res.files}
    assert all(v == [(2, "SC2086"), (3, "SC2164")] for v in per_file.values()), per_file


def test_without_shellcheck_one_note(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian:12\nRUN echo $x\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), HOME=str(tmp_path))
    r = subprocess.run([IMGOPT, "lint", "--no-fail", "Dockerfile"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0 and "SC2086" not in r.stdout
    assert r.stderr == ("imgopt: note: ShellCheck is not installed (Debian package 'shellcheck'): RUN scripts were "
                        "not checked for SC findings\n")
