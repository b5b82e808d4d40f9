"""Run imgopt on the hostile corpus the way a user would, and check everything around the run.

Each (case, command) runs as a real ``imgopt`` process in a fresh directory:
``out/`` (the only place it may write), ``tmp/`` ($TMPDIR), ``home/`` ($HOME)
and ``cwd/``.  Around the run:

* the peak RSS of the process and everything it waited for (``wait4``) must
  stay under :data:`MAX_RSS_MB`; a generous per-case timeout kills a hang;
* the canary directory (the host path the images aim their escapes at) and
  the case's input are listed before and after: unchanged;
* ``tmp/``, ``home/`` and ``cwd/`` must be empty afterwards, ``out/`` must hold
  only the expected output, and no scratch carrying the process's owner tag
  (``pid<PID>-``) may be left in /tmp, /var/tmp or /dev/shm;
* stderr never holds a traceback; an error is one line, exit 2;
* an image written with exit 0 must pass ``imgopt inspect --deep``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from corpus import Case, Ctx

IMGOPT = str(Path(sys.executable).parent / "imgopt")
MAX_RSS_MB = 500
AS_LIMIT = 6 << 30  # address space per process: a runaway allocation fails instead of swapping the host
SCRATCH_AREAS = ("/tmp", "/var/tmp", "/dev/shm")


@dataclass
class Run:
    case: str
    command: str
    expected: str
    rc: int | None = None
    seconds: float = 0.0
    rss_mb: float = 0.0
    stdout: str = ""
    stderr: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """What happened, in a few words (for the report)."""
        if self.rc is None:
            return "timeout"
        if self.rc == 0:
            return "ok"
        line = (self.stderr.strip().splitlines() or [""])[-1]
        return f"exit {self.rc}: {line[len('imgopt: error: '):] if line.startswith('imgopt: error: ') else line}"

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        return {"case": self.case, "command": self.command, "expected": self.expected, "rc": self.rc,
                "seconds": round(self.seconds, 2), "rss_mb": round(self.rss_mb, 1), "outcome": self.outcome,
                "failures": self.failures}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path below ``root`` with its type, size and mtime (symlinks not followed)."""
    out: dict[str, tuple] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _tagged(pid: int) -> list[str]:
    """Scratch anywhere common that carries ``pid``'s owner tag."""
    tag = f"pid{pid}-"
    found = []
    for area in SCRATCH_AREAS:
        try:
            found += [os.path.join(area, n) for n in os.listdir(area) if tag in n]
        except OSError:
            pass
    return found


def command_line(command: str, ref: str, out: Path, trace_timeout: float = 20.0) -> tuple[list[str], set[str], str | None]:
    """(argv, names allowed in out/ afterwards, image written there to re-inspect or None)."""
    if command == "inspect":
        return ["inspect", "--deep", "-q", "--format", "json", ref], set(), None
    if command == "analyze":
        return ["analyze", "-q", "--format", "json", "-o", str(out / "analysis.json"), ref], {"analysis.json"}, None
    if command == "analyze-text":
        return ["analyze", "-q", ref], set(), None
    if command == "analyze-md":
        return ["analyze", "-q", "--format", "markdown", "-o", str(out / "analysis.md"), ref], {"analysis.md"}, None
    if command == "copy":
        return ["copy", "-q", ref, f"oci:{out / 'copy'}:v1"], {"copy"}, f"oci:{out / 'copy'}:v1"
    if command == "copy-keep":
        return (["copy", "-q", "--compress", "keep", ref, f"oci:{out / 'kept'}:v1"], {"kept"},
                f"oci:{out / 'kept'}:v1")
    if command == "copy-archive":
        return (["copy", "-q", "--compress", "zstd", ref, f"docker-archive:{out / 'image.tar'}"], {"image.tar"},
                f"docker-archive:{out / 'image.tar'}")
    if command == "minify":
        return (["minify", "--keep-all", "--verify", "none", "-q", "--format", "json", "-o",
                 f"oci:{out / 'slim'}:v1", ref], {"slim"}, f"oci:{out / 'slim'}:v1")
    if command == "trace":
        return (["trace", "--backend", "native", "--timeout", str(trace_timeout), "--settle", "0", "-o",
                 str(out / "profile.json"), ref], {"profile.json"}, None)
    raise ValueError(command)


class Spawner:
    """A fresh small process that forks the measured commands (see spawner.py for why)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("spawner.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, stdout_path: Path,
            stderr_path: Path) -> tuple[int | None, float, float, int]:
        """(exit code or None on timeout, seconds, peak RSS MB, pid)."""
        req = {"argv": [IMGOPT, *argv], "cwd": str(cwd), "env": env, "timeout": timeout,
               "stdout": str(stdout_path), "stderr": str(stderr_path), "as_limit": AS_LIMIT}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        res = json.loads(self.proc.stdout.readline())
        return res["rc"], res["seconds"], res["rss_mb"], res["pid"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Session:
    """The corpus built lazily below ``root``; runs checked as described above."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.canary = self.root / "canary"
        self.canary.mkdir(parents=True, exist_ok=True)
        (self.canary / "secret").write_text("the host's secret\n")
        self.ctx = Ctx(self.canary)
        self._built: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._spawners: list[Spawner] = []

    def _spawner(self) -> Spawner:
        with self._lock:
            return self._spawners.pop() if self._spawners else Spawner()

    def close(self) -> None:
        for sp in self._spawners:
            sp.close()
        self._spawners.clear()

    def input(self, case: Case) -> tuple[str, Path]:
        with self._lock:
            lock = self._locks.setdefault(case.name, threading.Lock())
        with lock:
            d = self.root / "inputs" / case.name
            if case.name not in self._built:
                if d.exists():
                    shutil.rmtree(d)
                d.mkdir(parents=True)
                self._built[case.name] = case.build(d, self.ctx)
            return self._built[case.name], d

    def run(self, case: Case, command: str) -> Run:
        expected = case.expectation(command)
        r = Run(case.name, command, expected)
        try:
            ref, input_dir = self.input(case)
        except Exception as e:  # noqa: BLE001 - a broken generator is a failure of this run, not of the session
            r.failures.append(f"building the case failed: {type(e).__name__}: {e}")
            return r
        base = self.root / "runs" / case.name / command
        if base.exists():
            shutil.rmtree(base)
        dirs = {n: base / n for n in ("out", "tmp", "home", "cwd")}  # base/cache: the run's verified-layer cache
        for d in dirs.values():
            d.mkdir(parents=True)
        argv, allowed, written = command_line(command, ref, dirs["out"], case.trace_timeout)
        # a fresh cache directory (verified layers and the layer database) per run, outside the checked
        # directories, so every copy checks and every analyze reads its layers
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(dirs["tmp"]),
               "HOME": str(dirs["home"]), "LANG": "C.UTF-8", "SOURCE_DATE_EPOCH": "1700000000",
               "IMGOPT_CACHE": str(base / "cache")}
        canary_before = snapshot(self.canary)
        input_before = snapshot(input_dir)
        sp = self._spawner()
        try:
            rc, r.seconds, r.rss_mb, pid = sp.run(argv, cwd=dirs["cwd"], env=env, timeout=case.timeout,
                                                  stdout_path=base / "stdout", stderr_path=base / "stderr")
        finally:
            with self._lock:
                self._spawners.append(sp)
        r.rc = rc
        r.stdout = (base / "stdout").read_bytes().decode("utf-8", "replace")
        r.stderr = (base / "stderr").read_bytes().decode("utf-8", "replace")
        f = r.failures
        if rc is None:
            f.append(f"timed out after {case.timeout:.0f} s")
        if "Traceback" in r.stderr:
            f.append("traceback: " + r.stderr.strip()[-1500:])
        if r.rss_mb > MAX_RSS_MB:
            f.append(f"peak RSS {r.rss_mb:.0f} MB > {MAX_RSS_MB} MB")
        if snapshot(self.canary) != canary_before:
            f.append(f"the canary directory changed: {sorted(snapshot(self.canary))}")
        if snapshot(input_dir) != input_before:
            f.append("the input changed")
        for n in ("tmp", "home", "cwd"):
            left = os.listdir(dirs[n])
            if left:
                f.append(f"{n}/ not empty afterwards: {left[:5]}")
        strays = _tagged(pid)
        if strays:
            f.append(f"scratch left behind: {strays[:3]}")
        out_names = set(os.listdir(dirs["out"]))
        self._check_outcome(r, case, expected, out_names, allowed)
        if expected == "ok" and rc == 0 and written and not f:
            self._reinspect(r, written, base)
        if rc == 0 and not f and command in case.checks:
            try:
                f.extend(case.checks[command](dirs["out"]))
            except Exception as e:  # noqa: BLE001
                f.append(f"check of the output failed: {type(e).__name__}: {e}")
        return r

    def _check_outcome(self, r: Run, case: Case, expected: str, out_names: set[str], allowed: set[str]) -> None:
        f = r.failures
        if r.rc is None:
            return
        lines = r.stderr.strip().splitlines()
        if expected == "error":
            if r.rc != 2:
                f.append(f"expected exit 2 with an error, got exit {r.rc}")
            if len(lines) != 1 or not lines[0].startswith("imgopt: error: "):
                f.append(f"expected one line 'imgopt: error: ...', got {len(lines)} lines: {r.stderr[-600:]!r}")
            elif len(lines[0]) > 1500:
                f.append(f"error line is {len(lines[0])} characters")
            # the problem must be named in the message, not merely in the input's path (which holds the case name)
            said = lines[-1].replace(str(self.root), "").lower() if lines else ""
            if case.needle and case.needle.lower() not in said:
                f.append(f"error does not mention {case.needle!r}: {lines[-1][:300] if lines else ''}")
            if out_names:
                f.append(f"output written despite the error: {sorted(out_names)}")
            return
        if expected == "ok" and r.rc != 0:
            f.append(f"expected exit 0, got {r.rc}: {r.stderr.strip()[-600:]}")
        if expected == "ran" and r.rc not in (0, 1):
            f.append(f"expected exit 0 or 1 (the entrypoint ran), got {r.rc}: {r.stderr.strip()[-600:]}")
        if r.rc in (0, 1) and not out_names <= allowed:
            f.append(f"unexpected files in out/: {sorted(out_names - allowed)}")
        if r.rc in (0, 1) and allowed and not out_names and r.command != "analyze-text":
            f.append(f"nothing written to out/ (expected {sorted(allowed)})")
        if r.rc == 0 and r.command == "inspect":
            try:
                json.loads(r.stdout)
            except ValueError as e:
                f.append(f"inspect --format json printed invalid JSON: {e}")

    def _reinspect(self, r: Run, ref: str, base: Path) -> None:
        """What ``imgopt inspect --deep`` does (in this process: the library under the command)."""
        from imgopt.errors import ImgoptError
        from imgopt.formats import render
        from imgopt.image.inspect import inspect_image
        from imgopt.image.transports import open_image

        try:
            with open_image(ref) as img:
                render("inspection", "text", inspect_image(img, deep=True))
        except ImgoptError as e:
            r.failures.append(f"exit 0, but the image written fails `imgopt inspect --deep`: {e}")


def run_cases(session: Session, cases: list[Case], jobs: int = 2, on_done=None) -> dict[tuple[str, str], Run]:
    """Run every command of every case, ``jobs`` cases at a time."""
    from concurrent.futures import ThreadPoolExecutor

    results: dict[tuple[str, str], Run] = {}

    def one(case: Case) -> list[Run]:
        runs = [session.run(case, c) for c in case.commands]
        if on_done:
            on_done(case, runs)
        return runs

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for runs in pool.map(one, cases):
                for r in runs:
                    results[(r.case, r.command)] = r
    finally:
        session.close()
    return results


__all__ = ["Session", "Run", "run_cases", "command_line", "MAX_RSS_MB"]
