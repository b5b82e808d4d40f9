#!/usr/bin/env python3
"""imgopt copy vs skopeo copy on the same >= 500 MB image; writes reports/io-benchmarks.md.

    .venv/bin/python benchmarks/io_vs_skopeo.py [--app pynumeric] [--runs 3]

Needs the Docker engine (to build the app image once) and the registry on
127.0.0.1:5000 (`make services`).  Every row is the median of --runs runs of
the exact command shown, each into a fresh destination; MB/s is the image's
compressed size (as written) divided by wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgopt.proc import stop_process  # noqa: E402

IMGOPT = str(Path(sys.executable).parent / "imgopt")
REG = "127.0.0.1:5000"


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def timed(cmd: list[str], before=None, env: dict[str, str] | None = None) -> float:
    if before:
        before()
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return dt


class FreshRegistry:
    """An empty docker-registry on a free loopback port (so no blob is ever already there)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="imgopt-bench-registry-")
        cfg = (ROOT / "tests" / "registry" / "config.yml").read_text().replace("@ROOT@", self.dir + "/data") \
            .replace("127.0.0.1:5000", f"127.0.0.1:{port}")
        Path(self.dir, "config.yml").write_text(cfg)
        self.proc = subprocess.Popen(["docker-registry", "serve", f"{self.dir}/config.yml"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def size_of(ref: str) -> int:
    from imgopt.image.transports import open_image

    with open_image(ref) as img:
        return sum(l.size for l in img.layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--app", default="pynumeric")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "reports" / "io-benchmarks.md"))
    args = ap.parse_args()
    archive = load_builder().ensure_app(args.app)
    work = Path(tempfile.mkdtemp(prefix="imgopt-iobench-"))
    try:
        src_gz = work / "src-gzip"
        subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{src_gz}:v1"], check=True)
        gz_size = size_of(f"oci:{src_gz}:v1")
        raw_size = size_of(f"docker-archive:{archive}")

        def fresh(p: Path):
            return lambda: shutil.rmtree(p, ignore_errors=True)

        def repo() -> str:
            return f"imgopt-bench/{args.app}-{uuid.uuid4().hex[:8]}"

        cases = []
        d = work / "d"
        cases.append(("docker-archive → oci, gzip the uncompressed layers", gz_size,
                      [IMGOPT, "copy", "-q", f"docker-archive:{archive}", f"oci:{d}:v1"],
                      ["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{d}:v1"], fresh(d)))
        cases.append(("oci (gzip) → oci, recompress to zstd level 3", None,
                      [IMGOPT, "copy", "-q", "--compress", "zstd", "--level", "3", f"oci:{src_gz}:v1", f"oci:{d}:v1"],
                      ["skopeo", "copy", "-q", "--dest-compress-format", "zstd", "--dest-compress-level", "3",
                       f"oci:{src_gz}:v1", f"oci:{d}:v1"], fresh(d)))
        cases.append(("oci (gzip) → oci, layers kept (copy only)", gz_size,
                      [IMGOPT, "copy", "-q", "--compress", "keep", f"oci:{src_gz}:v1", f"oci:{d}:v1"],
                      ["skopeo", "copy", "-q", f"oci:{src_gz}:v1", f"oci:{d}:v1"], fresh(d)))
        results = []
        # imgopt checks every layer it writes (diffID and tar structure, in the copy pass) the first time
        # it sees it, and remembers verified (digest, diffID) pairs: "first" runs start from an empty cache
        cache = work / "verified-cache"

        def cold(before):
            def f():
                shutil.rmtree(cache, ignore_errors=True)
                before()
            return f

        for title, nbytes, ours, theirs, before in cases:
            ours_t = statistics.median(timed(ours, cold(before), {"IMGOPT_CACHE": str(cache)})
                                       for _ in range(args.runs))
            out_size = size_of(f"oci:{d}:v1")
            theirs_t = statistics.median(timed(theirs, before) for _ in range(args.runs))
            results.append((title, out_size if nbytes is None else nbytes, ours_t, theirs_t, ours, theirs))
        kept = next(c for c in cases if "layers kept" in c[0])
        timed(kept[2], kept[4], {"IMGOPT_CACHE": str(cache)})  # verified once
        warm = statistics.median(timed(kept[2], kept[4], {"IMGOPT_CACHE": str(cache)}) for _ in range(args.runs))
        results.append(("oci (gzip) → oci, layers kept, verified before", gz_size, warm,
                        results[[c[0] for c in cases].index(kept[0])][3], kept[2], kept[3]))
        # registry push and pull: an empty registry for every push, so no blob is
        # skipped or cross-mounted (skopeo remembers where blobs live)
        push_o, push_s, pull_o, pull_s = [], [], [], []
        for _ in range(args.runs):
            with FreshRegistry() as reg:
                r = repo()
                push_o.append(timed([IMGOPT, "copy", "-q", f"oci:{src_gz}:v1", f"docker://{reg}/{r}:v1"],
                                    cold(lambda: None), {"IMGOPT_CACHE": str(cache)}))
                pull_o.append(timed([IMGOPT, "copy", "-q", f"docker://{reg}/{r}:v1", f"oci:{d}:v1"], cold(fresh(d)),
                                    {"IMGOPT_CACHE": str(cache)}))
            with FreshRegistry() as reg:
                r2 = repo()
                push_s.append(timed(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{src_gz}:v1",
                                     f"docker://{reg}/{r2}:v1"]))
                pull_s.append(timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{reg}/{r2}:v1",
                                     f"oci:{d}:v1"], fresh(d)))
        results.append(("oci (gzip) → registry push (empty registry)", gz_size, statistics.median(push_o),
                        statistics.median(push_s), [IMGOPT, "copy", "oci:SRC:v1", f"docker://{REG}/REPO:v1"],
                        ["skopeo", "copy", "--dest-tls-verify=false", "oci:SRC:v1", f"docker://{REG}/REPO:v1"]))
        results.append(("registry → oci pull", gz_size, statistics.median(pull_o), statistics.median(pull_s),
                        [IMGOPT, "copy", f"docker://{REG}/REPO:v1", "oci:DEST:v1"],
                        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{REG}/REPO:v1", "oci:DEST:v1"]))
        # reading everything (decompress + verify) with imgopt
        read_o = statistics.median(timed([IMGOPT, "inspect", "-q", "--deep", f"docker-archive:{archive}"])
                                   for _ in range(args.runs))
        read_g = statistics.median(timed([IMGOPT, "inspect", "-q", "--deep", f"oci:{src_gz}:v1"])
                                   for _ in range(args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"# imgopt copy vs skopeo copy ({args.app}, {raw_size / 1e6:.0f} MB uncompressed, "
        f"{gz_size / 1e6:.0f} MB gzip)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's reference machine "
        f"({os.cpu_count()} cores); medians of {args.runs} runs, wall time of the whole command.",
        f"skopeo {subprocess.run(['skopeo', '--version'], capture_output=True, text=True).stdout.split()[-1]}, "
        "registry: Debian docker-registry on loopback, a fresh empty instance for every push.  "
        "MB/s = compressed bytes written / wall time.  imgopt rows start from an empty verified-layer cache "
        "(each layer's diffID and tar structure checked while it is copied), except \"verified before\".",
        "Produced by `.venv/bin/python benchmarks/io_vs_skopeo.py --app "
        f"{args.app} --runs {args.runs}`.",
        "",
        "| operation | MB | imgopt s | imgopt MB/s | skopeo s | skopeo MB/s | imgopt ÷ skopeo time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for title, nbytes, o, s, *_ in results:
        lines.append(f"| {title} | {nbytes / 1e6:.0f} | {o:.2f} | {nbytes / 1e6 / o:.0f} | {s:.2f} | "
                     f"{nbytes / 1e6 / s:.0f} | {o / s:.2f} |")
    lines += ["", "Read every layer, decompress and verify every digest (`imgopt inspect --deep`):", "",
              f"* docker-archive (uncompressed): {read_o:.2f} s, {raw_size / 1e6 / read_o:.0f} MB/s",
              f"* OCI layout (gzip): {read_g:.2f} s, {raw_size / 1e6 / read_g:.0f} MB/s of uncompressed tar", "",
              "Commands:", ""]
    for title, _, _, _, ours, theirs in results:
        lines.append(f"* {title}: `{' '.join(map(str, ours)).replace(str(work), '$W')}` vs "
                     f"`{' '.join(map(str, theirs)).replace(str(work), '$W')}`")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
