#!/usr/bin/env python3
"""Where imgopt scan's time goes, on the scale fixture that benchmarks/scan_bench.py pushed (cProfile).

    .venv/bin/python benchmarks/scan_profile.py merges [--repo pyweb] [--n 15]
    .venv/bin/python benchmarks/scan_profile.py warm

Starts a docker-registry on the bench's storage (``--storage``, default /var/tmp/imgopt-scan-bench; run
scan_bench.py once first), then:

* ``merges``: a cold scan of one repository (fills a fresh layer cache), then N ``imgopt.analyze`` calls on
  its tags with another ``--top`` -- each merged from the cached layer summaries, one after another in one
  process, as a scan worker merges -- profiled;
* ``warm``: a cold scan of the whole fixture, then the same scan again (every record from the cache),
  profiled in-process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "registry"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["merges", "warm"])
    ap.add_argument("--repo", default="pyweb")
    ap.add_argument("--n", type=int, default=15)
    ap.add_argument("--prefix", default="imgopt-scan")
    ap.add_argument("--storage", default="/var/tmp/imgopt-scan-bench")
    ap.add_argument("--sort", default="cumulative")
    args = ap.parse_args()

    import imgopt
    from imgopt.analyze import AnalyzeOptions
    from imgopt.scan.pipeline import ScanOptions
    from registry_harness import RegistryProcess

    reg = RegistryProcess(Path(args.storage)).start()
    try:
        cache = tempfile.mkdtemp(prefix="imgopt-scan-profile-")
        src = [f"docker://{reg.host}/{args.prefix}/{args.repo}"] if args.what == "merges" else [f"docker://{reg.host}"]
        t = time.monotonic()
        opts = ScanOptions(cache=cache, jobs=2, registries=[]) if args.what == "merges" else \
            ScanOptions(cache=cache, jobs=2)
        res = imgopt.scan(src, opts)
        print(f"cold scan of {len(res.images)} images: {time.monotonic() - t:.1f} s")
        pr = cProfile.Profile()
        t = time.monotonic()
        pr.enable()
        if args.what == "merges":
            for i in res.images[: args.n]:
                imgopt.analyze(i.reference, AnalyzeOptions(cache=cache, top=7, jobs=1))  # in-process, as a scan worker
        else:
            res = imgopt.scan(src, opts)
        pr.disable()
        print(f"{args.what}: {time.monotonic() - t:.2f} s (profiled)")
        out = io.StringIO()
        pstats.Stats(pr, stream=out).sort_stats(args.sort).print_stats(40)
        print(out.getvalue())
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
