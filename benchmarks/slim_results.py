#!/usr/bin/env python3
"""imgopt slim on every real app image; writes reports/slim-results.md.

    .venv/bin/python benchmarks/slim_results.py [--apps pyweb,nodeweb,...]

Per app: original and slim sizes, reduction, probes passed (native sandbox
and the Docker engine), verification rounds, time to slim; then the same app
slimmed given only ``GET /`` on its port (``--given get-root``, the default;
later: no probe at all), whose slim image must pass the app's FULL probe in
the Docker engine, with its size, its time and the bytes its language closure
added beside the traced bytes; and the *lower bound*: the bytes of the regular files the app really opens while passing its
probe, measured by an independent strace run that shares no code with imgopt:
the image is exported by the Docker engine (`docker export`), the entrypoint
runs chrooted in fresh namespaces under `strace -f -y`, the probe is sent with
curl into the sandbox's own network namespace, and every successfully opened
or executed regular file of the exported rootfs is counted once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMGOPT = str(Path(sys.executable).parent / "imgopt")

LAUNCHER = r'''
import json, os, subprocess, sys, ctypes
spec = json.loads(sys.argv[1])
root = spec["root"]
libc = ctypes.CDLL(None, use_errno=True)
def mount(src, dst, fstype, flags=0, data=None):
    if libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {dst}")
MS_REC, MS_BIND, MS_PRIVATE = 16384, 4096, 1 << 18
libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
for d in ("proc", "dev", "tmp", "sys"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
mount("proc", os.path.join(root, "proc"), "proc")
mount("/dev", os.path.join(root, "dev"), None, MS_BIND | MS_REC)
mount("tmpfs", os.path.join(root, "tmp"), "tmpfs", 0, "mode=1777")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
open(spec["ready"], "w").write(str(os.getpid()))
os.chroot(root)
os.chdir(spec["workdir"] or "/")
if spec["gid"] is not None:
    os.setgroups([]); os.setgid(spec["gid"])
if spec["uid"] is not None:
    os.setuid(spec["uid"])
os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
'''


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def export_rootfs(tag: str, dest: Path) -> None:
    cid = subprocess.run(["docker", "create", "--pull", "never", tag], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        dest.mkdir(parents=True)
        exp = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "--numeric-owner", "-C", str(dest)], stdin=exp.stdout, check=True)
        exp.wait()
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def sizes_of(rootfs: Path) -> dict[str, int]:
    out = {}
    for d, _, files in os.walk(rootfs):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out["/" + os.path.relpath(p, rootfs)] = os.path.getsize(p)
    return out


def _user(rootfs: Path, user: str) -> tuple[int | None, int | None]:
    if not user:
        return None, None
    name, _, group = user.partition(":")
    uid = gid = None
    if name.isdigit():
        uid = int(name)
    else:
        for line in (rootfs / "etc/passwd").read_text().splitlines():
            f = line.split(":")
            if f[0] == name:
                uid, gid = int(f[2]), int(f[3])
    if group.isdigit():
        gid = int(group)
    return uid, gid


def lower_bound(tag: str, config: dict, probes: list[dict], work: Path) -> tuple[int, int, int, int]:
    """(bytes, files) of regular image files opened while the probes pass, and
    (bytes, files) of those opened or stat'ed (an import system stats sources
    it never reads: Python needs X.py beside __pycache__/X.*.pyc)."""
    rootfs = work / "rootfs"
    export_rootfs(tag, rootfs)
    before = sizes_of(rootfs)
    c = config.get("config") or {}
    argv = (c.get("Entrypoint") or []) + (c.get("Cmd") or [])
    uid, gid = _user(rootfs, c.get("User") or "")
    ready = work / "pid"
    spec = {"root": str(rootfs), "argv": argv, "env": dict(e.split("=", 1) for e in c.get("Env") or []),
            "workdir": c.get("WorkingDir") or "/", "uid": uid, "gid": gid, "ready": str(ready)}
    log = work / "strace.log"
    cmd = ["strace", "-f", "-qq", "-y", "-e",
           "trace=open,openat,openat2,execve,execveat,stat,lstat,newfstatat,statx", "-e",
           "status=successful", "-o", str(log), "--", "unshare", "--fork", "--pid", "--mount", "--net", "--ipc",
           "--uts", sys.executable, "-c", LAUNCHER, json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            if ready.exists() and ready.read_text():
                break
            time.sleep(0.05)
        pid = _sandbox_pid(rootfs)
        for p in probes:
            if p["type"] == "exit":
                proc.wait(timeout=float(p.get("timeout", 120)))
            elif p["type"] == "http":
                deadline = time.monotonic() + float(p.get("timeout", 60))
                while time.monotonic() < deadline:
                    pid = pid or _sandbox_pid(rootfs)
                    if pid:
                        extra = [a for k, v in (p.get("headers") or {}).items() for a in ("-H", f"{k}: {v}")]
                        if p.get("body") is not None:
                            extra += ["--data-binary", p["body"]]
                        q = subprocess.run(["nsenter", "-t", str(pid), "-n", "curl", "-s", "-m", "5", "-X",
                                            p.get("method", "GET"), *extra,
                                            f"http://127.0.0.1:{p['port']}{p.get('path', '/')}"],
                                           capture_output=True, text=True)
                        if q.returncode == 0 and p.get("expect_body", "") in q.stdout:
                            break
                    time.sleep(0.3)
                else:
                    raise SystemExit(f"{tag}: probe {p} never passed in the strace sandbox")
        time.sleep(2.0)  # what the app does right after it is ready belongs to its start too
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    opened: set[str] = set()
    statted: set[str] = set()
    prefix = str(rootfs)
    for line in log.read_text(errors="replace").splitlines():
        m = re.search(r'(?:newfstatat|statx|fstatat64)\((?:AT_FDCWD|\d+)<([^>]*)>, "([^"]+)"', line)
        if m:
            base, arg = m.group(1), m.group(2)
            if base.startswith(prefix):  # a process inside the sandbox (cwd or dirfd under the rootfs)
                rel = arg if arg.startswith("/") else os.path.join(base[len(prefix):] or "/", arg)
                if arg:
                    statted.add(os.path.normpath(rel))
            continue
        m = re.search(r"= \d+<(.+?)>$", line)  # open* returning an fd decorated with its path
        path = None
        if m:
            path = m.group(1)
        else:
            m = re.search(r'execve(?:at)?\((?:[^,]*, )?"([^"]+)"', line)
            if m and line.rstrip().endswith("= 0"):
                path = m.group(1)
                if not path.startswith(prefix):
                    path = prefix + path if path.startswith("/") else None
        if path and path.startswith(prefix + "/"):
            opened.add(_chroot_realpath(prefix, path[len(prefix):]))
    # what the kernel opens without a syscall: #! interpreters and ELF PT_INTERP
    todo = [p for p in opened if p in before]
    while todo:
        p = todo.pop()
        extra = _kernel_loads(prefix, p)
        for q in extra:
            if q not in opened and q in before:
                opened.add(q)
                todo.append(q)
    files = [p for p in opened if p in before]
    both = set(files) | {p for p in statted if p in before}
    return sum(before[p] for p in files), len(files), sum(before[p] for p in both), len(both)


def _kernel_loads(root: str, path: str) -> list[str]:
    """The interpreter the kernel loads to exec ``path`` (shebang or PT_INTERP)."""
    try:
        with open(root + path, "rb") as f:
            head = f.read(256)
            if head.startswith(b"#!"):
                words = head[2:].split(b"\n", 1)[0].split()
                return [_chroot_realpath(root, words[0].decode())] if words else []
            if head.startswith(b"\x7fELF"):
                from elftools.elf.elffile import ELFFile

                f.seek(0)
                for seg in ELFFile(f).iter_segments():
                    if seg["p_type"] == "PT_INTERP":
                        return [_chroot_realpath(root, seg.get_interp_name())]
    except Exception:  # noqa: BLE001 - a measurement script: unreadable means no interpreter
        pass
    return []


def _chroot_realpath(root: str, path: str, depth: int = 0) -> str:
    """Resolve symlinks of an in-image path the way the chrooted kernel would."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    i = 0
    while i < len(parts) and depth < 40:
        cand = f"{cur}/{parts[i]}"
        full = root + cand
        if os.path.islink(full):
            target = os.readlink(full)
            depth += 1
            rest = parts[i + 1:]
            if target.startswith("/"):
                cur, parts, i = "", [p for p in target.split("/") if p] + rest, 0
            else:
                parts, i = [p for p in (cur + "/" + target).split("/") if p] + rest, 0
                cur = ""
            continue
        cur = os.path.normpath(cand) if parts[i] != ".." else os.path.dirname(cur)
        i += 1
    return cur or "/"


def _sandbox_pid(rootfs: Path) -> int | None:
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/root") == str(rootfs):
                    return int(d)
            except OSError:
                continue
    return None


def given_probe(kind: str, port: int | None, work: Path) -> list[str]:
    """The probe the "given less" slim run gets: only GET / on the app's port ("get-root"), or none."""
    if kind == "none" or port is None:
        return []
    f = work / "given.json"
    f.write_text(json.dumps({"probes": [{"type": "http", "port": port, "path": "/", "expect_status": None,
                                         "timeout": 120}]}))
    return ["--probe", str(f)]


def slim_given_less(app: str, archive: Path, builder, probes: dict, kind: str, codec: str, work: Path) -> dict:
    """Slim given only GET / (or nothing), then run the FULL probe against it in the Docker engine."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import docker_load, probe_in_docker  # the tests' independent engine check

    out = work / "given-slim.tar"
    tag = f"imgopt-bench/closure-{app}:v1"
    t = time.perf_counter()
    p = subprocess.run([IMGOPT, "slim", str(archive), *given_probe(kind, builder.APPS[app]["port"], work),
                        "--compress", codec, "--format", "json", "-q", "-o", f"docker-archive:{out}:{tag}"],
                       capture_output=True, text=True)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        return {"error": p.stderr.strip()[-300:], "secs": secs}
    rep = json.loads(p.stdout)
    try:
        docker_load(out)
        failures = probe_in_docker(tag, probes["probes"])
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    return {"rep": rep, "secs": secs, "failures": failures, "endpoints": len(probes["probes"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--apps", default="pyweb,nodeweb,nginx,ffmpegjob,pynumeric,javaweb,pytorch,pyextra,rubyweb,"
                                      "perlweb,phpweb")
    ap.add_argument("--given", default="get-root", choices=["get-root", "none"],
                    help="what the second slim run of each app is given (none: wait for automatic probing)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "slim-results.md"))
    ap.add_argument("--codec", default="gzip")
    args = ap.parse_args()
    builder = load_builder()
    rows = []
    for app in args.apps.split(","):
        archive = builder.ensure_app(app)
        probes = builder.load_probe(app)
        work = Path(tempfile.mkdtemp(prefix=f"imgopt-slimres-{app}-"))
        try:
            (work / "probe.json").write_text(json.dumps(probes))
            out = work / "slim.tar"
            t = time.perf_counter()
            p = subprocess.run([IMGOPT, "slim", str(archive), "--probe", str(work / "probe.json"), "--verify", "both",
                                "--compress", args.codec, "--format", "json", "-q",
                                "-o", f"docker-archive:{out}:imgopt-bench/slim-{app}:v1"],
                               capture_output=True, text=True)
            secs = time.perf_counter() - t
            if p.returncode != 0:
                rows.append({"app": app, "error": p.stderr.strip()[-300:]})
                print(app, "FAILED", p.stderr[-500:], file=sys.stderr)
                continue
            rep = json.loads(p.stdout)
            with open(archive, "rb"):
                pass
            from imgopt.image.transports import open_image

            with open_image(str(archive)) as img:
                config = img.config.raw
                image_id = img.config_digest
            builder.ensure_app(app)  # (re)load it: another checkout may have moved the shared tag meanwhile
            bound, nfiles, bound_st, nfiles_st = lower_bound(image_id, config, probes["probes"], work)
            given = slim_given_less(app, archive, builder, probes, args.given, args.codec, work)
            rows.append({"app": app, "rep": rep, "secs": secs, "bound": bound, "bound_files": nfiles,
                         "bound_stat": bound_st, "bound_stat_files": nfiles_st, "given": given})
            print(app, f"{rep['original']['uncompressed_bytes'] / 1e6:.0f} MB -> "
                       f"{rep['slim']['uncompressed_bytes'] / 1e6:.1f} MB, bound {bound / 1e6:.1f} MB", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write_report(rows, args)


def earlier_rows(path: str, measured: set[str]) -> list[str]:
    """Rows of the probe-given table for apps this run did not measure, from the report as it was."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    date = re.search(r"Measured (\d{4}-\d{2}-\d{2})", text)
    table = text.split("| app | original MB", 1)[-1].split("\n\n", 1)[0].splitlines()[2:]
    out = []
    for ln in table:
        app = ln.split("|")[1].strip().split(" ")[0] if ln.startswith("|") else ""
        if app and app not in measured and "FAILED" not in ln:
            cells = ln.split("|")
            cells[1] = f" {app} (measured {date.group(1) if date else 'earlier'}, before the language closure) "
            out.append("|".join(cells))
    return out


def write_report(rows: list[dict], args) -> None:
    kept_rows = earlier_rows(args.out, {r["app"] for r in rows})
    lines = [
        "# imgopt slim on the real application images",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's reference machine ({os.cpu_count()} cores).",
        f"Command per app: `imgopt slim ARCHIVE --probe fixtures/apps/APP/probe.json --verify both --compress "
        f"{args.codec} -o docker-archive:OUT` with no per-app includes; produced by "
        f"`.venv/bin/python benchmarks/slim_results.py --apps {args.apps}`.",
        "",
        "*Lower bound*: bytes of the image's regular files the app opens or executes while passing its probe "
        "(plus 2 s), with the interpreters the kernel loads for them (`#!` and ELF `PT_INTERP`), from an "
        "independent `strace -f -y` run of the `docker export`ed rootfs (no imgopt code). "
        "Sizes are uncompressed unless marked; MB = 10^6 bytes.",
        "",
        "*Opened or stat'ed*: the same run's regular files that were opened, executed or successfully stat'ed "
        "(Python's import system stats `X.py` and reads `__pycache__/X.*.pyc`; the source must stay for the bytecode "
        "to be used).",
        "",
        "| app | original MB: uncompressed (as stored) | slim MB: uncompressed (gzip) | reduction (uncompressed) | lower bound MB (files) | slim ÷ lower bound | "
        "opened or stat'ed MB (files) | slim ÷ that | files kept | probes native / docker | rounds | time to slim s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['app']} | | | FAILED: {r['error']} | | | | | | | | |")
            continue
        rep = r["rep"]
        o, s, v = rep["original"], rep["slim"], rep["verification"]
        res = {x["backend"]: x["passed"] for x in v["results"] if x["round"] == v["rounds"]}
        lines.append(
            f"| {r['app']} | {o['uncompressed_bytes'] / 1e6:.1f} ({o['compressed_bytes'] / 1e6:.1f}) | "
            f"{s['uncompressed_bytes'] / 1e6:.1f} ({s['compressed_bytes'] / 1e6:.1f}) | "
            f"{o['uncompressed_bytes'] / s['uncompressed_bytes']:.1f}× | "
            f"{r['bound'] / 1e6:.1f} ({r['bound_files']}) | {s['uncompressed_bytes'] / r['bound']:.2f} | "
            f"{r['bound_stat'] / 1e6:.1f} ({r['bound_stat_files']}) | {s['uncompressed_bytes'] / r['bound_stat']:.2f} | "
            f"{s['files']:,} of {o['files']:,} | {'pass' if res.get('native') else 'FAIL'} / "
            f"{'pass' if res.get('docker') else 'FAIL'} | {v['rounds']} | {r['secs']:.0f} |")
    lines += kept_rows
    what = "only `GET /` on the app's port" if args.given == "get-root" else "no probe file"
    lines += [
        "",
        f"## Given less: slim given {what}, then every endpoint",
        "",
        f"Command per app: `imgopt slim ARCHIVE{' --probe get-root.json' if args.given == 'get-root' else ''} "
        f"--compress {args.codec} -o docker-archive:OUT`, where get-root.json holds one probe, `GET /` on the app's "
        "port (any status below 500); then the app's FULL probe (`fixtures/apps/APP/probe.json`, every endpoint) "
        "runs against the slim image in the Docker engine (tests/conftest.py `probe_in_docker`, no imgopt code). "
        "Lower bound as above (the full probe's files). *Language closure* = bytes of the regular files only the "
        "language closure kept (imported, required, included, run or shipped as package data by the loaded code; "
        "whole packages); *traced* = bytes kept because the trace saw them opened, stat'ed or listed. "
        "Goals: every endpoint passes; size ≤ 1.25× the lower bound; time ≤ 2× the probe-given time.",
        "",
        "| app | endpoints passed | slim MB | slim ÷ lower bound | slim ÷ opened or stat'ed | traced MB | "
        "language closure MB (files) | time to slim s | ÷ probe-given time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        g = r.get("given")
        if g is None:
            continue
        if "error" in g:
            lines.append(f"| {r['app']} | FAILED to slim: {g['error']} | | | | | | {g['secs']:.0f} | |")
            continue
        s2 = g["rep"]["slim"]
        kb = g["rep"]["kept_by_reason"]
        lang = [(k, v) for k, v in kb.items() if k.startswith("language closure")]
        lang_b = sum(v["bytes"] for _, v in lang)
        lang_f = sum(v["files"] for _, v in lang)
        passed = g["endpoints"] - len(g["failures"])
        verdict = "all" if not g["failures"] else "FAIL: " + "; ".join(f[:80] for f in g["failures"])
        lines.append(
            f"| {r['app']} | {passed} of {g['endpoints']} ({verdict}) | {s2['uncompressed_bytes'] / 1e6:.1f} | "
            f"{s2['uncompressed_bytes'] / r['bound']:.2f} | {s2['uncompressed_bytes'] / r['bound_stat']:.2f} | "
            f"{kb.get('trace', {}).get('bytes', 0) / 1e6:.1f} | {lang_b / 1e6:.2f} ({lang_f:,}) | {g['secs']:.0f} | "
            f"{g['secs'] / r['secs']:.2f} |")
    lines += [
        "",
        "The language closure runs in both slims (the probe-given one too): it keeps what the loaded code can "
        "load later, so a probe-given slim is no longer only what the probe touched.  Its bytes are what a "
        "slim image pays for endpoints nobody probed: lazily imported modules and their module-level imports, "
        "whole encoding tables (Python's `encodings`, iconv-lite), whole small libraries (Node, Ruby, Perl, "
        "PHP), package data, the tools scripts run (docs/minify.md, \"Language closure\").  The lower bound "
        "counts only what the full probe opened, so a ratio above 1 is that insurance plus what the trace keeps "
        "beyond opened files (stat'ed, listed).",
    ]
    lines += ["", "Files added by verification rounds (what the first slim image lacked):", ""]
    if not any("rep" in r and r["rep"]["verification"]["added"] for r in rows):
        lines.append("* none: every first slim image passed its probes (native sandbox and Docker engine).")
    for r in rows:
        if "rep" in r and r["rep"]["verification"]["added"]:
            added = r["rep"]["verification"]["added"]
            lines.append(f"* {r['app']}: {len(added)} paths, e.g. " +
                         ", ".join(f"`{a['path']}`" for a in added[:4]))
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
