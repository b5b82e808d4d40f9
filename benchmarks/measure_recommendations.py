#!/usr/bin/env python3
"""Apply the report's top recommendations to a real app and measure what each saved.

    .venv/bin/python benchmarks/measure_recommendations.py [--app pyweb] [--out reports/recommendations-measured.md]

For the app (a fixture of fixtures/build_apps.py): trace it, write the report (JSON) with its
Dockerfile and profile, then apply each recommendation for real and re-run analyze and simulate on
the result:

* clean the apt lists in the same RUN: the Dockerfile rebuilt with ``&& rm -rf /var/lib/apt/lists/*``
  appended to the RUN the recommendation names (docker build, apt from the network as the fixture
  build does);
* slim: ``imgopt slim`` with the app's probe;
* recompress with zstd: ``imgopt copy --compress zstd``.

"Measured" bytes are the analyses of the new image; "measured" seconds are the simulator run on the
new image (the same profiles as the estimate), so the comparison says how well the estimate, made
from the *original* image's workload, predicts the workload of the image the change really makes.
Docker tags and files made here are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "fixtures"))


def imgopt(*args, out: Path | None = None) -> str:
    cmd = [str(BIN / "imgopt"), *map(str, args)]
    print("+", " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return p.stdout


def analyze(ref: str) -> dict:
    return json.loads(imgopt("analyze", "--format", "json", ref))


def simulate(ref: str, clients: str = "docker", profile: Path | None = None) -> dict:
    args = ["simulate", ref, "--registry", "vpc,public", "--client", clients, "--format", "json", "--no-timeline"]
    if profile:
        args += ["--profile", profile]
    doc = json.loads(imgopt(*args))
    return {(r["registry"], r["client"]): r for r in doc["results"]}


def rebuild_with(app: str, line: int, append: str, tag: str, work: Path) -> Path:
    """The app's build context with ``append`` added to the instruction ending at ``line``; built and saved."""
    import build_apps

    ctx = build_apps._assemble_context(app, build_apps.app_key(app))
    try:
        df = ctx / "Dockerfile"
        lines = df.read_text().splitlines()
        end = line - 1
        while lines[end].rstrip().endswith("\\"):
            end += 1
        lines[end] = lines[end].rstrip() + " " + append
        df.write_text("\n".join(lines) + "\n")
        shutil.copy(df, work / "Dockerfile.changed")
        t0 = time.monotonic()
        subprocess.run(["docker", "build", "--network", "host", "-q", "-t", tag, str(ctx)], check=True,
                       env={**__import__("os").environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, timeout=1800)
        print(f"built {tag} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    out = work / "rebuilt.tar"
    subprocess.run(["docker", "save", "-o", str(out), tag], check=True, timeout=1800)
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="pyweb")
    ap.add_argument("--out", default=str(ROOT / "reports" / "recommendations-measured.md"))
    a = ap.parse_args()
    import build_apps

    app = a.app
    archive = build_apps.ensure_app(app)
    ref = f"docker-archive:{archive}"
    dockerfile = ROOT / "fixtures" / "apps" / app / "Dockerfile"
    probe = ROOT / "fixtures" / "apps" / app / "probe.json"
    work = Path(tempfile.mkdtemp(prefix="imgopt-measure-"))
    tag = f"imgopt-measure/{app}-aptclean:{uuid.uuid4().hex[:8]}"
    rows, commands = [], []
    try:
        profile = work / "profile.json"
        imgopt("trace", "--probe", probe, "-o", profile, ref)
        commands.append(f"imgopt trace --probe {probe.relative_to(ROOT)} -o profile.json {app}.tar")
        report = work / "report.json"
        imgopt("report", ref, "--dockerfile", dockerfile, "--profile", profile, "-o", report)
        commands.append(f"imgopt report {app}.tar --dockerfile {dockerfile.relative_to(ROOT)} --profile profile.json "
                        "-o report.json")
        recs = json.loads(report.read_text())["recommendations"]
        by_kind = {}
        for r in recs:
            by_kind.setdefault(r["kind"], r)
        base_a = analyze(ref)
        base_sim = simulate(ref, "docker,containerd")

        def row(rec, new_a, new_sim, client="docker", how=""):
            rank = next(i for i, r in enumerate(recs, 1) if r["id"] == rec["id"])
            saved_b = base_a["summary"]["uncompressed_bytes"] - new_a["summary"]["uncompressed_bytes"]
            down = {reg: base_sim[(reg, client)]["bytes_downloaded"] - new_sim[(reg, client)]["bytes_downloaded"]
                    for reg in ("vpc", "public")}
            secs = {reg: base_sim[(reg, client)]["total_s"] - new_sim[(reg, client)]["total_s"]
                    for reg in ("vpc", "public")}
            est = rec["seconds_saved"]
            rows.append([f"{rank}. {rec['title']}", how, mb(rec["bytes_saved"]), mb(saved_b),
                         mb(rec["download_bytes_saved"]), mb(down["public"]),
                         f"{est.get('vpc', 0):.2f} / {est.get('public', 0):.2f}",
                         f"{secs['vpc']:.2f} / {secs['public']:.2f}"])

        apt = by_kind.get("junk.apt-lists")
        if apt:
            rebuilt = rebuild_with(app, apt["dockerfile"]["line"], "&& rm -rf /var/lib/apt/lists/*", tag, work)
            commands.append(f"# {dockerfile.relative_to(ROOT)} line {apt['dockerfile']['line']} += "
                            "'&& rm -rf /var/lib/apt/lists/*'; docker build; docker save -o rebuilt.tar")
            new_ref = f"docker-archive:{rebuilt}"
            row(apt, analyze(new_ref), simulate(new_ref), how="Dockerfile: `&& rm -rf /var/lib/apt/lists/*` in "
                f"the RUN of line {apt['dockerfile']['line']}, rebuilt")
        slim = by_kind.get("slim")
        if slim:
            out = f"oci:{work / 'slim'}:slim"
            imgopt("slim", ref, "--probe", probe, "-o", out, "-q")
            commands.append(f"imgopt slim {app}.tar --probe {probe.relative_to(ROOT)} -o oci:slim:slim")
            row(slim, analyze(out), simulate(out), how="`imgopt slim` (probes pass)")
        z = by_kind.get("compress")
        if z:
            out = f"oci:{work / 'zstd'}:zstd"
            imgopt("copy", "--quiet", "--compress", "zstd", ref, out)
            commands.append(f"imgopt copy --compress zstd {app}.tar oci:zstd:zstd")
            # the saving is in the download: against the gzip a push of the original serves
            row(z, {"summary": {"uncompressed_bytes": base_a["summary"]["uncompressed_bytes"]}},
                simulate(out, "docker,containerd"), client="containerd", how="`imgopt copy --compress zstd`")
        commands.append("imgopt analyze --format json IMAGE; imgopt simulate IMAGE --registry vpc,public "
                        "--client docker[,containerd] --format json   # on the original and on each result")
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    head = ["recommendation (rank in the report)", "applied as", "est. image MB", "measured image MB",
            "est. download MB", "measured download MB (public)", "est. s saved vpc / public",
            "measured s saved vpc / public"]
    lines = ["# What the report's recommendations saved, applied to a real app", "",
             f"Measured {time.strftime('%Y-%m-%d')} on this project's machine (2 cores), app `{app}` "
             f"(fixtures/apps/{app}), by `.venv/bin/python benchmarks/measure_recommendations.py --app {app}`.", "",
             "*Estimated*: the report on the original image (`imgopt report --dockerfile --profile`). *Measured*: "
             "bytes from `imgopt analyze` of the image the change really makes; seconds from `imgopt simulate` on "
             "that image (same registry, client and host profiles), so the seconds compare the estimate's "
             "workload with the real one, not with a real pull (the simulator's own error against real pulls: "
             "reports/simulator-validation.md). Download MB: what a pull from the public profile fetches "
             "(uncompressed layers: the gzip -6 a push would serve). Cold start = pull + container start + app "
             "ready, docker client (zstd: containerd, which can pull it). MB = 10^6 bytes.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Reading it:", "",
              "* image bytes: a junk class's bytes and the slim image's size come straight from the analysis, so "
              "the rebuilt image loses what was estimated (slim: the estimate is the simulator's what-if that keeps "
              "only the traced startup files; `imgopt slim` keeps the static closure and keep rules too);",
              "* download bytes of a junk class are estimated with the *layer's* compression ratio; files that "
              "compress better or worse than their layer's average (package indexes compress better than the "
              "binaries beside them) make the estimate off by that difference -- the weakest of the estimates;",
              "* seconds: the estimate shrinks the original workload by the bytes and files removed and runs the "
              "simulator; the rebuilt image's own workload gives nearly the same prediction when the change is "
              "what the recommendation says.", ""]
    lines += ["Commands:", "", "```sh", *commands, "```", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
