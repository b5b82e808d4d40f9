#!/usr/bin/env python3
"""imgopt slim with NO probe file on every real fixture app; writes reports/zeroconf-results.md.

    .venv/bin/python benchmarks/zeroconf_results.py [--apps staticsite,memcached,...]

Per app: `imgopt slim ARCHIVE -o docker-archive:OUT` given nothing (zero-config probing finds the
listening socket and speaks its protocol, crawls same-origin links, or runs the job to exit); then
the app's FULL probe (fixtures/apps/APP/probe.json, every endpoint the app has) is run against the slim
image in the Docker engine by tests/conftest.py `probe_in_docker` (no imgopt code); the table gives
what probing found, how long it took to decide, the sizes and whether every endpoint passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALL = ("staticsite,memcached,postonly,pyjob,nginx,nodeweb,javaweb,ffmpegjob,pyweb,pynumeric,pyextra,rubyweb,"
       "perlweb,phpweb,pytorch")


def _slim_results():
    """benchmarks/slim_results.py, whose ``--given none`` run (slim given nothing, then the full probe in the
    engine) is what this script measures on every app without the probe-given slim and the lower bound."""
    spec = importlib.util.spec_from_file_location("slim_results", ROOT / "benchmarks" / "slim_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one(app: str, sr, builder, work: Path) -> dict:
    archive = builder.ensure_app(app)
    r = sr.slim_given_less(app, archive, builder, builder.load_probe(app), "none", "gzip", work)  # gzip: slim's default
    if "error" in r:
        return {"app": app, "error": r["error"].splitlines()[-1][:200] if r["error"] else "failed"}
    return {"app": app, **r}


def row(r: dict) -> str:
    if "error" in r:
        return f"| {r['app']} | error: {r['error']} | | | | | | | |"
    rep, pr = r["rep"], r["rep"]["probing"] or {}
    socks = ", ".join(f"{s['port']}/{s['protocol']}" for s in pr.get("sockets", [])) or "-"
    found = len(pr.get("probes", []))
    orig, slim = rep["original"]["uncompressed_bytes"], rep["slim"]["uncompressed_bytes"]
    passed = r["endpoints"] - len(r["failures"])
    ok = "all" if not r["failures"] else "; ".join(r["failures"])[:120]
    return (f"| {r['app']} | {pr.get('kind', '?')} | {socks} | {found} | {pr.get('decided_after', 0):.1f} | "
            f"{orig / 1e6:.1f} | {slim / 1e6:.1f} | {orig / max(slim, 1):.1f}× | "
            f"{passed} of {r['endpoints']} ({ok}) | {r['secs']:.0f} |")


def _table(text: str, first_col_header: str) -> dict[str, list[str]]:
    """Rows of the first Markdown table whose header starts with ``| first_col_header |``, keyed by app."""
    rows, on = {}, False
    for line in text.splitlines():
        if line.startswith(f"| {first_col_header} |"):
            on = True
            continue
        if on and line.startswith("|---"):
            continue
        if on and line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].split(" (")[0]] = cells
        elif on:
            break
    return rows


def comparison(zeroconf_md: str, slim_md: str) -> list[str]:
    """The zero-config slims against reports/slim-results.md's lower bound and probe-given time."""
    zc, given = _table(zeroconf_md, "app"), _table(slim_md, "app")
    out = ["## Against the lower bound and the probe-given slim", "",
           "Lower bound and probe-given time from reports/slim-results.md (the same images; its lower bound is the "
           "bytes the app opens while passing its FULL probe, measured by an independent strace run).  Goals: size "
           "<= 1.25x the lower bound; zero-config time <= 2x the probe-given time.  The times are not like for like: "
           "the probe-given runs verify in the native sandbox and the engine (`--verify both`), the zero-config runs "
           "natively only (the default), and rows slim-results.md marks as measured on an earlier date predate "
           "the language closure and the sandbox hardening (both of which add time).", "",
           "| app | zero-config slim MB | lower bound MB | slim ÷ lower bound | zero-config time s | "
           "probe-given time s | ÷ probe-given time |", "|---|---:|---:|---:|---:|---:|---:|"]
    for app, z in zc.items():
        g = given.get(app)
        if g is None:
            out.append(f"| {app} | {z[6]} | not measured | | {z[9]} | not measured | |")
            continue
        slim, bound = float(z[6]), float(g[4].split(" ")[0])
        t_zc, t_given = float(z[9]), float(g[-1])
        out.append(f"| {app} | {slim:.1f} | {bound:.1f} | {slim / bound:.2f} | {t_zc:.0f} | {t_given:.0f} | "
                   f"{t_zc / t_given:.2f} |")
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--apps", default=ALL)
    ap.add_argument("--out", default=str(ROOT / "reports" / "zeroconf-results.md"))
    ap.add_argument("--compare-only", action="store_true",
                    help="only (re)write the comparison with reports/slim-results.md in --out")
    args = ap.parse_args()
    if args.compare_only:
        text = Path(args.out).read_text().split("## Against the lower bound")[0].rstrip() + "\n\n"
        slim_md = (ROOT / "reports" / "slim-results.md").read_text()
        Path(args.out).write_text(text + "\n".join(comparison(text, slim_md)))
        return
    sr = _slim_results()
    builder = sr.load_builder()
    rows = []
    with tempfile.TemporaryDirectory(prefix="imgopt-zcbench-") as work:
        for app in args.apps.split(","):
            r = one(app, sr, builder, Path(work))
            rows.append(r)
            print(row(r), file=sys.stderr)
    lines = [
        "# imgopt slim with zero configuration on the real application images", "",
        f"Measured {date.today().isoformat()} on this project's reference machine (2 cores, shared with other "
        "test runs).  Produced by `.venv/bin/python benchmarks/zeroconf_results.py`.", "",
        "Command per app: `imgopt slim ARCHIVE -o docker-archive:OUT` -- no probe file, no flags.  Then the app's "
        "FULL probe (`fixtures/apps/APP/probe.json`: every endpoint, including the ones the crawler cannot "
        "see, such as POST-only routes and held-back handlers) runs against the slim image in the Docker engine "
        "(`tests/conftest.py` `probe_in_docker`: nsenter + curl / a TCP client, no imgopt code).", "",
        "*found*: what zero-config probing decided (server / job) and the listening sockets it spoke to; "
        "*probes*: the probes it discovered and replayed in verification; *decided after*: seconds from "
        "launching the sandbox to knowing the kind.  MB = 10^6 bytes, uncompressed.", "",
        "| app | kind | sockets | probes found | decided after s | original MB | slim MB | reduction | "
        "endpoints passed in the engine | time to slim s |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|",
        *[row(r) for r in rows], "",
    ]
    lines += comparison("\n".join(lines), (ROOT / "reports" / "slim-results.md").read_text())
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
