"""ShellCheck on RUN scripts: every script of every file in one ``shellcheck`` run.

Each RUN becomes a small file in a temporary directory, written the way
hadolint feeds ShellCheck: a shebang for the shell in effect (SHELL or
``# hadolint shell=``), an ``export NAME=1`` line for the proxy variables and
every ARG/ENV name in scope (so ShellCheck does not flag them as unassigned),
then the script, keeping its line structure.  ShellCheck is started as soon
as the scripts are written and read after the Dockerfile rules have run, so
its time overlaps theirs.  Findings come back by script line and are mapped to
the Dockerfile line they are on.

Not checked, as in hadolint: exec-form RUNs, non-POSIX shells (pwsh,
powershell, cmd), heredoc scripts whose shebang names another interpreter.
Excluded codes: SC2187 (ash), SC1090/SC1091 (``source`` needs a directive a
Dockerfile cannot hold), and SC2154 (referenced but not assigned: the base
image's ENV, which a linter cannot see, defines most such variables; hadolint
does not report it either).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

EXCLUDED = (2187, 1090, 1091, 2154)
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy")
_SUPPORTED_SHEBANGS = ("#!/bin/sh", "#!/bin/bash", "#!/bin/ksh", "#!/usr/bin/env sh", "#!/usr/bin/env bash",
                       "#!/usr/bin/env ksh")
NON_POSIX = ("pwsh", "powershell", "cmd")
_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Job:
    """One script to check."""

    key: object  # the caller's handle (e.g. (file index, instruction))
    shell: str  # "/bin/sh", "/bin/bash"...
    names: list[str]  # variables to declare
    text: str  # the script
    line_map: list[int]  # script line -> Dockerfile line


@dataclass
class Comment:
    """One ShellCheck finding, on a Dockerfile line."""

    key: object
    line: int  # Dockerfile line
    column: int
    code: str  # "SC2086"
    level: str  # error | warning | info | style
    message: str


def wanted(shell_words: str, script: str) -> bool:
    """Whether hadolint would run ShellCheck on this script (POSIX shell, supported shebang)."""
    if any(n in shell_words for n in NON_POSIX):
        return False
    if script.startswith("#!") and not script.startswith(_SUPPORTED_SHEBANGS):
        return False
    return True


def find_binary(setting: str | bool = True) -> str | None:
    """The shellcheck to run: the configured path, or the one on PATH (None: not installed)."""
    if setting is False:
        return None
    if isinstance(setting, str) and setting not in ("", "true"):
        return setting if os.access(setting, os.X_OK) else None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):  # shutil.which, without importing shutil
        p = os.path.join(d or ".", "shellcheck")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _make_dir() -> str:
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        d = os.path.join(base, "imgopt-shellcheck-" + os.urandom(6).hex())
        try:
            os.mkdir(d, 0o700)
            return d
        except FileExistsError:
            continue
    raise OSError("could not create a temporary directory")


@dataclass
class Batch:
    """Scripts written, ShellCheck running; :meth:`results` waits for it."""

    binary: str
    jobs: list[Job] = field(default_factory=list)
    _dir: str | None = None
    _proc: object = None  # subprocess.Popen (imported only when there is a script to check)
    _prelude: list[int] = field(default_factory=list)
    error: str = ""

    def start(self) -> None:
        if not self.jobs:
            return
        try:
            self._dir = _make_dir()
            paths = []
            for k, job in enumerate(self.jobs):
                # declare only the names the script uses: each export line costs ShellCheck analysis time
                # (4x slower over the corpus with all of them), and unused ones cannot change a finding
                used = set(_REF.findall(job.text))
                head = ["#!" + job.shell] + [f"export {n}=1" for n in sorted((set(PROXY_VARS) | set(job.names)) & used)
                                             if _is_name(n)]
                self._prelude.append(len(head))
                p = os.path.join(self._dir, f"{k}.sh")
                with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write("\n".join(head) + "\n" + job.text + ("" if job.text.endswith("\n") else "\n"))
                paths.append(f"{k}.sh")
            import subprocess

            cmd = [self.binary, "--norc", "--format=json1", "--severity=style",
                   "--exclude=" + ",".join(str(c) for c in EXCLUDED), *paths]
            self._proc = subprocess.Popen(cmd, cwd=self._dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            self.error = f"could not run {self.binary}: {e.strerror or e}"
            self._cleanup()

    def results(self) -> list[Comment]:
        if self._proc is None:
            return []
        try:
            out, err = self._proc.communicate()
        finally:
            self._cleanup()
        try:
            doc = json.loads(out or b"{}")
        except ValueError:
            self.error = "shellcheck gave no JSON: " + (err.decode("utf-8", "replace").strip().splitlines() or [""])[0]
            return []
        found: list[Comment] = []
        for c in doc.get("comments", []):
            name = os.path.basename(c.get("file", ""))
            try:
                k = int(name.split(".", 1)[0])
            except ValueError:
                continue
            if not 0 <= k < len(self.jobs):
                continue
            job = self.jobs[k]
            sline = int(c.get("line", 1)) - self._prelude[k] - 1  # 0-based script line
            if sline < 0:
                continue  # on our prelude (should not happen)
            line = job.line_map[min(sline, len(job.line_map) - 1)] if job.line_map else 1
            found.append(Comment(job.key, line, int(c.get("column", 1)), f"SC{c.get('code')}",
                                 str(c.get("level", "warning")), str(c.get("message", ""))))
        return found

    def _cleanup(self) -> None:
        if self._dir:
            for name in os.listdir(self._dir):
                try:
                    os.unlink(os.path.join(self._dir, name))
                except OSError:
                    pass
            try:
                os.rmdir(self._dir)
            except OSError:
                pass
            self._dir = None


def _is_name(n: str) -> bool:
    return bool(n) and (n[0].isalpha() or n[0] == "_") and all(ch.isalnum() or ch == "_" for ch in n)


__all__ = ["Job", "Comment", "Batch", "wanted", "find_binary", "EXCLUDED"]
