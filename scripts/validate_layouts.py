#!/usr/bin/env python3
"""Measure `imgopt slim --optimize-for` in the lab: default vs optimized slim image, and the simulator's ranking.

The lab is `scripts/validate_simulator.py`'s (registry in its own network
namespace behind a tc-tbf-shaped veth pair, a second dockerd with its own data
root), torn down afterwards.  Procedure:

1. `imgopt calibrate` on the lab daemon; that host profile is the one the
   optimizer and every prediction use (it is installed as the calibrated host
   profile of a private HOME, as a user's `imgopt calibrate` would be).
2. Per app: `imgopt trace` once with the app's probe, then `imgopt minify
   --profile` per candidate layout.  The first candidate (the default: gzip-6,
   startup files as 1 layer, the rest as 1) is verified against the app's probes
   in the native sandbox; every other candidate must have the same merged
   filesystem (checked: same paths, types, sizes, modes, link targets), so the
   candidates differ only in codec, level and split.  Candidates: a fixed grid
   (:data:`GRID`) plus, for each link rate, `--optimize-for LAB-LINK,docker`
   (the registry profile of the shaped link).
3. Per rate, per app: every candidate is cold-pulled and started until its
   probe passes (``--reps`` times, interleaved, each pull of a freshly salted
   copy: the blobs as `imgopt minify` wrote them, codecs kept, plus 512 bytes
   after the tar's end), and predicted by `imgopt simulate` with the same host
   profile and link.
4. Report: measured pull + start of the optimized vs the default image, the
   median ratio over the apps per rate, and Spearman's rho between predicted
   and measured totals over the candidates of each app and rate.

    scripts/validate_layouts.py                          # full run, writes reports/layout-optimization.md
    scripts/validate_layouts.py --images nginx --rates 1000 --reps 1 --no-report
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import validate_simulator as V  # noqa: E402
from imgopt.minify.optimize import MIN_GAIN, beats  # noqa: E402
from imgopt.simulate import calibrate as C  # noqa: E402
from imgopt.simulate.calibrate_ctr import run_ctr_calibration  # noqa: E402

IMGOPT = str(Path(sys.executable).parent / "imgopt")
# (label, codec, level, split): the default first
GRID = [("gzip6-1x1", "gzip", 6, (1, 1)), ("gzip9-1x1", "gzip", 9, (1, 1)), ("gzip1-1x1", "gzip", 1, (1, 1)),
        ("none-1x1", "none", None, (1, 1)), ("gzip6-3x6", "gzip", 6, (3, 6)), ("none-3x6", "none", None, (3, 6))]
DEFAULT = "gzip6-1x1"
# a client that pulls zstd (--client ctr) also gets the optimizer's zstd levels
GRID_ZSTD = GRID[:4] + [("zstd3-1x1", "zstd", 3, (1, 1)), ("zstd9-1x1", "zstd", 9, (1, 1)),
                        ("zstd3-3x6", "zstd", 3, (3, 6))]
CLIENTS = ("docker", "ctr")  # the lab's engines: its dockerd (Docker 20.10), its containerd through ctr (1.6)


@dataclass
class Candidate:
    label: str
    codec: str
    level: int | None
    split: tuple[int, int]
    path: str  # oci:DIR:tag
    layers: int = 0
    compressed: int = 0
    chosen_for: list[int] = field(default_factory=list)  # rates whose --optimize-for picked this layout
    predicted_by_optimizer: dict = field(default_factory=dict)  # rate -> the optimizer's own prediction, s


log = V.log


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... failed ({p.returncode}): {p.stderr.strip()[-1500:]}")
    return p


def probe_file(app: str) -> Path:
    return ROOT / "fixtures" / "apps" / app / "probe.json"


def listing(ref: str) -> dict:
    """The merged filesystem of an image: every entry's kind, size, mode, owner, link target and content digest."""
    from imgopt.image.filetree import from_image
    from imgopt.image.transports import open_image

    with open_image(ref) as img:
        t = from_image(img, hash_content=True)
    return {p: (n.kind.value, n.size, n.mode, n.uid, n.gid, n.linkname, n.digest)
            for p, n in t.walk() if p != ".prefetch.landmark" and p != ".no.prefetch.landmark"}


def build_candidates(app: str, work: Path, env: dict, links: dict[int, str], grid=GRID,
                     min_gain: float = 100 * MIN_GAIN, client: str = "docker") -> dict[str, Candidate]:
    """Trace once, then one `imgopt minify` per candidate; the default verified, the others checked equal."""
    archive = str(V.app_archive(app))
    probe = probe_file(app)
    prof = work / f"{app}-profile.json"
    t = time.monotonic()
    _run([IMGOPT, "trace", archive, "--probe", str(probe), "-o", str(prof)], env)
    log(f"  {app}: traced in {time.monotonic() - t:.0f} s")
    out: dict[str, Candidate] = {}
    ref_listing = None

    def minify(label: str, flags: list[str], verify: bool) -> dict:
        dest = f"oci:{work / f'{app}-{label}'}:v1"
        t = time.monotonic()
        p = _run([IMGOPT, "minify", archive, "--profile", str(prof), "--probe", str(probe), *flags,
                  "--verify", "native" if verify else "none", "--format", "json", "-q", "-o", dest], env)
        doc = json.loads(p.stdout)
        log(f"  {app} {label}: {doc['slim']['compressed_bytes'] / 1e6:.1f} MB in {time.monotonic() - t:.0f} s")
        return {"dest": dest, "doc": doc}

    for label, codec, level, split in grid:
        flags = ["--compress", codec, *(["--level", str(level)] if level is not None else []),
                 "--split", f"{split[0]},{split[1]}"]
        r = minify(label, flags, verify=label == DEFAULT)
        if label == DEFAULT:
            ver = r["doc"].get("verification") or {}
            if ver.get("passed") is False:
                raise RuntimeError(f"{app}: the default slim image failed its probes: {ver}")
        out[label] = Candidate(label, codec, level, split, r["dest"])
    for rate, link in links.items():
        r = minify(f"opt{rate}", ["--optimize-for", f"{link},{client}", "--min-gain", str(min_gain)], verify=False)
        o = r["doc"]["optimization"]
        ch = o["chosen"]
        key = (ch["codec"], ch["level"], (ch["startup_layers"], ch["rest_layers"]))
        same = next((c for c in out.values() if (c.codec, c.level, c.split) == key), None)
        if same is None:
            label = f"{ch['codec']}{ch['level'] or ''}-{ch['startup_layers']}x{ch['rest_layers']}"
            same = out[label] = Candidate(label, ch["codec"], ch["level"], key[2], r["dest"])
        same.chosen_for.append(rate)
        for c in o["candidates"]:
            k = (c["codec"], c["level"], (c["startup_layers"], c["rest_layers"]))
            for cand in out.values():
                if (cand.codec, cand.level, cand.split) == k:
                    cand.predicted_by_optimizer[rate] = c["total_seconds"]
    for c in out.values():
        got = listing(c.path)
        if ref_listing is None:
            ref_listing = got
        elif got != ref_listing:
            raise RuntimeError(f"{app} {c.label}: its filesystem differs from the verified default's")
    return out


def prepare_candidate(c: Candidate) -> tuple[list, dict]:
    """The blobs as written (codec kept), for salted pushes."""
    from imgopt.image.transports import open_image

    layers = []
    with open_image(c.path) as img:
        for layer in img.layers:
            with layer.open_blob() as f:
                blob = f.read()
            with layer.open_tar() as f:
                tar = f.read()
            mtype = layer.descriptor.media_type
            layers.append(C.SynthLayer(tar, blob, mtype, 0, 0))
        cfg = img.config.raw
    c.layers, c.compressed = len(layers), sum(len(l.blob) for l in layers)
    return layers, cfg


def ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    try:
        return statistics.correlation(ra, rb)
    except statistics.StatisticsError:
        return float("nan")


def run(images, rates, reps, calib_reps, report: Path | None, json_out: str | None, grid=GRID,
        min_gain: float = 100 * MIN_GAIN, keep_pulled: bool = False, client_name: str = "docker") -> dict:
    """``client_name``: the engine that pulls and runs (``docker``: the lab's dockerd; ``ctr``: the lab's
    containerd through ``ctr``), and the client profile the optimizer and the predictions use.  The host
    profile is calibrated through the same engine (``imgopt calibrate``, or ``--containerd`` for ctr)."""
    assert grid[0][0] == DEFAULT, "the default layout comes first: it is the one verified"
    import lab_containerd
    from imgopt.image.docker_engine import docker_client

    tmp = Path(tempfile.mkdtemp(prefix="imgopt-layouts-"))
    home = tmp / "home"
    host_path = home / ".config" / "imgopt" / "simulate" / "host" / "calibrated.yaml"
    env = {**os.environ, "HOME": str(home), "IMGOPT_CACHE": str(tmp / "cache")}
    results: dict = {"apps": {}, "rates": rates}
    old_term = signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with V.Lab() as lab, (lab_containerd.Ctr() if client_name == "ctr" else contextlib.nullcontext()) as ctr:
            client = docker_client("lab dockerd", host=V.SOCK, timeout=900)
            api = ctr or client.api  # the engine measured
            lab.shape(1000)
            log("calibrating the lab daemon")
            host_path.parent.mkdir(parents=True)
            # the engine measured is the one calibrated: containerd's Go unpack is not dockerd's
            calibrate = run_ctr_calibration if ctr else C.run_calibration
            calibrate(C.CalibrateOptions(output=str(host_path), docker_host=None if ctr else V.SOCK,
                                         containerd=lab_containerd.SOCK if ctr else None,
                                         reps=calib_reps, name="lab", cleanup=False), log=log)
            links = {r: V.link_profile(r, 0.0, tmp) for r in rates}
            cands: dict[str, dict[str, Candidate]] = {}
            ready: dict[str, float] = {}
            for app in images:
                log(f"building {app}'s candidate layouts")
                cands[app] = build_candidates(app, tmp, env, links, grid, min_gain, client_name)
                for c in cands[app].values():
                    V._PREPARED[(app, c.label)] = prepare_candidate(c)
                    V.push_app(V.REG_ADDR, app, c.label)  # the unsalted copy: what the predictions read
                rt = f"imgopt-sim/{app}:{DEFAULT}"
                ready[app] = V.warm_ready(api, V.REG_ADDR, rt, V.app_probe(app))
                log(f"  {app}: {len(cands[app])} candidates; warm ready time {ready[app]:.3f} s")
            points: dict[tuple, V.Point] = {}
            for rate in rates:
                lab.shape(rate)
                for app in images:
                    probe = V.app_probe(app)
                    for rep in range(reps):
                        order = list(cands[app].values())
                        if rep % 2:
                            order.reverse()  # interleaved, alternating order: drift hits every candidate alike
                        for c in order:
                            pt = points.setdefault((app, c.label, rate), V.Point(app, c.label, rate))
                            V.measure_point(api, V.REG_ADDR, f"imgopt-sim/{app}:{c.label}", probe, 1, pt)
                    for c in cands[app].values():
                        pt = points[(app, c.label, rate)]
                        pt.predicted = V.predict(V.REG_ADDR, f"imgopt-sim/{app}:{c.label}", str(host_path),
                                                 links[rate], ready[app], client_name)
                    _log_block(app, rate, cands[app], points)
                    if not keep_pulled:
                        _drop_pulled(api, app)
            client.close()
        results = summarize(images, rates, cands, points, ready)
        results["host_profile"] = host_path.read_text()
        results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        results["reps"] = reps
        results["client"] = client_name
        if json_out:
            Path(json_out).write_text(json.dumps(results, indent=1, default=str))
        if report is not None:
            write_report(report, results)
        return results
    finally:
        signal.signal(signal.SIGTERM, old_term)
        shutil.rmtree(tmp, ignore_errors=True)


def _drop_pulled(api, app: str) -> None:
    """Remove the salted copies this block pulled (the unsalted ones stay), then let the disk settle.

    Every measured pull is of a fresh copy that nothing deletes before it (see validate_simulator), so
    without this the lab daemon's data root grows by every candidate's files times reps times rates:
    ~36 GB for the five default apps at three rates.
    """
    prefix = f"{V.REG_ADDR}/imgopt-sim/{app}:"
    if hasattr(api, "remove_images"):  # the lab containerd
        api.remove_images(prefix, salted_only=True)
        os.sync()
        time.sleep(5)
        return
    for img in api.images():
        for tag in img.get("RepoTags") or []:
            if tag.startswith(prefix) and "-p" in tag[len(prefix):]:
                C.remove_image(api, tag)
    api.prune_containers()
    os.sync()
    time.sleep(5)


def _log_block(app, rate, cands, points) -> None:
    rows = []
    for c in cands.values():
        pt = points[(app, c.label, rate)]
        rows.append(f"{c.label} {pt.total:.2f}/{pt.predicted['total']:.2f}")
    log(f"  {app} @ {rate} Mbit/s measured/predicted total: " + ", ".join(rows))


def summarize(images, rates, cands, points, ready) -> dict:
    per: list[dict] = []
    for rate in rates:
        for app in images:
            cs = list(cands[app].values())
            meas = [points[(app, c.label, rate)].total for c in cs]
            pred = [points[(app, c.label, rate)].predicted["total"] for c in cs]
            opt = next(c for c in cs if rate in c.chosen_for)
            d = points[(app, DEFAULT, rate)]
            o = points[(app, opt.label, rate)]
            noise = max(_spread(d), _spread(o))
            per.append({
                "app": app, "rate": rate, "optimized": opt.label, "default_total": d.total,
                "optimized_total": o.total, "ratio": o.total / d.total, "noise": noise,
                "default_pull": d.pull, "optimized_pull": o.pull,
                "predicted_ratio": o.predicted["total"] / d.predicted["total"], "rho": spearman(pred, meas),
                "best_measured": cs[min(range(len(cs)), key=lambda i: meas[i])].label,
                "candidates": [_candidate_row(c, points[(app, c.label, rate)], rate) for c in cs]})
    return {"points": per, "by_rate": _by_rate(per, rates), "ready": ready}


def _candidate_row(c: Candidate, pt, rate: int) -> dict:
    return {"label": c.label, "layers": c.layers, "compressed": c.compressed, "measured_total": pt.total,
            "measured_totals": [p + s for p, s in zip(pt.pulls, pt.starts)], "measured_pull": pt.pull,
            "predicted_total": pt.predicted["total"], "predicted_pull": pt.predicted["pull"],
            "optimizer_predicted": c.predicted_by_optimizer.get(rate), "layer_unpack": pt.layer_unpack,
            "predicted_layer_unpack": pt.predicted.get("layer_unpack"), "steal": pt.steal, "retries": pt.retries,
            "download_phase": pt.dl_phase}


def _spread(pt) -> float:
    """Relative half-range of a point's totals: the noise a difference must beat."""
    tot = [p + s for p, s in zip(pt.pulls, pt.starts)]
    return (max(tot) - min(tot)) / 2 / statistics.median(tot) if len(tot) > 1 else 0.0


_CLIENT_TEXT = {"docker": "`docker` (the lab's dockerd, Docker Engine 20.10)",
                "ctr": "`ctr` (the lab's containerd 1.6 through `ctr image pull` and `ctr run`)"}


def write_report(path: Path, r: dict) -> None:
    pc = lambda x: f"{100 * x:.0f} %"  # noqa: E731
    L = ["# Layouts chosen by simulation: measured in the lab\n",
         f"Generated by `scripts/validate_layouts.py`{' on ' + r['date'] if r.get('date') else ''} (2 cores); "
         f"{r['reps']} cold pulls + starts per candidate and link, interleaved, medians; engine and client "
         f"profile: {_CLIENT_TEXT[r.get('client', 'docker')]}.\n",
         "Re-run (root): `.venv/bin/python scripts/validate_layouts.py` (tears its lab down afterwards).\n",
         *([f"Sources: {r['sources']}.\n"] if r.get("sources") else []),
         "## Result\n",
         "| link | median optimized ÷ default (measured pull + start) | worst app | median Spearman rho "
         "(predicted vs measured, over each app's candidates) |",
         "|---|---:|---:|---:|"]
    for rate, b in r["by_rate"].items():
        L.append(f"| {rate} Mbit/s | {b['median_ratio']:.2f} | {b['worst_ratio']:.2f} | {b['median_rho']:.2f} |")
    L.append("\nGoals: optimized ÷ default ≤ 0.75 (median over the apps) at 200 and at 1000 Mbit/s, never slower "
             "than the default beyond the noise; rho ≥ 0.8.\n")
    L.append(r.get("notes", ""))
    L.append("## Per app and link\n")
    L.append("| app | link | optimized layout | default s | optimized s | measured ratio | predicted ratio | noise "
             "(half-range) | best measured | rho |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---|---:|")
    for p in r["points"]:
        L.append(f"| {p['app']} | {p['rate']} Mbit/s | {p['optimized']} | {p['default_total']:.2f} | "
                 f"{p['optimized_total']:.2f} | {p['ratio']:.2f} | {p['predicted_ratio']:.2f} | {pc(p['noise'])} | "
                 f"{p['best_measured']} | {p['rho']:.2f} |")
    stolen = [x for p in r["points"] for c in p["candidates"] for x in c.get("steal") or []]
    if stolen:
        retried = sum(c.get("retries", 0) for p in r["points"] for c in p["candidates"])
        L.append(f"CPU steal (the hypervisor running other guests) during the kept measurements: median "
                 f"{100 * statistics.median(stolen):.1f} %, max {100 * max(stolen):.1f} %; {retried} measurements "
                 f"were taken again because more than {100 * V.steal.QUIET:.0f} % was stolen "
                 f"(at most {V.steal.ATTEMPTS} attempts, the least-stolen kept).\n")
    L.append("\n## Every candidate\n")
    L.append("Labels: codec and level, then startup layers x rest layers (`--split`). Totals are pull + start "
             "(container create, start, the app until its probe passes).\n")
    L.append("| app | link | candidate | layers | MB pulled | measured pull s | predicted pull s | measured total s "
             "| predicted total s | err |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in r["points"]:
        for c in p["candidates"]:
            e = (c["predicted_total"] - c["measured_total"]) / c["measured_total"]
            def f(x, fmt="{:.2f}"):
                return "–" if x is None else fmt.format(x)

            L.append(f"| {p['app']} | {p['rate']} | {c['label']} | {f(c['layers'], '{}')} | "
                     f"{f(c['compressed'] and c['compressed'] / 1e6, '{:.1f}')} | {f(c['measured_pull'])} | "
                     f"{f(c['predicted_pull'])} | {c['measured_total']:.2f} | {c['predicted_total']:.2f} | "
                     f"{100 * e:+.1f} % |")
    if r.get("host_profile"):
        L.append("\n## Host profile (from `imgopt calibrate` on the lab daemon, used by the optimizer and the "
                 "predictions)\n")
        L.append("```yaml")
        L.extend(l for l in r["host_profile"].splitlines() if not l.startswith("    -"))
        L.append("```\n")
    path.write_text("\n".join(L) + "\n")


def results_from_log(text: str) -> dict:
    """The per-candidate totals of a run from its log (stderr), for a run whose --json was never written.

    The log has, per app and rate, every candidate's measured (median) and predicted total, each
    pull's seconds, and each candidate's written size.  The optimized candidate of a rate is the one
    of the size the log's ``optRATE`` line names (codec and level) with the least predicted total there
    (the split), which is the optimizer's own rule.
    """
    import re

    sizes: dict[tuple[str, str], float] = {}
    pulls: dict[tuple[str, str, int], list[float]] = {}
    blocks: list[tuple[str, int, list[tuple[str, float, float]]]] = []
    for line in text.splitlines():
        if m := re.search(r"\]   (\S+) (\S+): ([\d.]+) MB in", line):
            sizes[(m[1], m[2])] = float(m[3])
        elif m := re.search(r"imgopt-sim/(\S+):(\S+) @ (\d+) Mbit/s rtt 0 ms: pull [\d.]+ s \(runs ([^)]*)\)", line):
            pulls[(m[1], m[2], int(m[3]))] = [float(x) for x in m[4].split(",")]
        elif m := re.search(r"\]   (\S+) @ (\d+) Mbit/s measured/predicted total: (.*)$", line):
            cs = [(lab, float(a), float(b)) for lab, a, b in re.findall(r"(\S+) ([\d.]+)/([\d.]+)", m[3])]
            blocks.append((m[1], int(m[2]), cs))
    per = []
    for app, rate, cs in blocks:
        meas, pred = [c[1] for c in cs], [c[2] for c in cs]
        opt_mb = sizes.get((app, f"opt{rate}"))
        # codec and level: a grid layout of the opt line's size; the split: any layout of that codec
        # and level (those first written for an opt line are logged under its label only)
        codecs = {c[0].split("-")[0] for c in cs if opt_mb is not None and sizes.get((app, c[0])) is not None
                  and abs(sizes[(app, c[0])] - opt_mb) < 0.05}
        same = [c for c in cs if c[0].split("-")[0] in codecs]
        opt = min(same, key=lambda c: c[2])
        d = next(c for c in cs if c[0] == DEFAULT)
        dp, op = pulls.get((app, DEFAULT, rate), []), pulls.get((app, opt[0], rate), [])
        noise = max((max(x) - min(x)) / 2 / statistics.median(x) if len(x) > 1 else 0.0 for x in (dp, op))
        per.append({"app": app, "rate": rate, "optimized": opt[0], "default_total": d[1], "optimized_total": opt[1],
                    "ratio": opt[1] / d[1], "noise": noise, "predicted_ratio": opt[2] / d[2],
                    "rho": spearman(pred, meas), "best_measured": min(cs, key=lambda c: c[1])[0],
                    "candidates": [{"label": lab, "layers": None, "compressed": (sizes.get((app, lab)) or 0) * 1e6
                                    or None, "measured_total": a, "measured_pull": statistics.median(
                                        pulls.get((app, lab, rate)) or [float("nan")]),
                                    "predicted_total": b, "predicted_pull": None} for lab, a, b in cs]})
    rates = sorted({p["rate"] for p in per})
    return {"points": per, "by_rate": _by_rate(per, rates), "host_profile": "",
            "reps": max((len(v) for v in pulls.values()), default=0), "date": "", "ready": {}}


def combine(paths: list[str], notes: str = "") -> dict:
    """One result from several runs' JSON or logs; per link rate the last run that measured it."""
    runs = []
    for p in paths:
        text = Path(p).read_text()
        r = json.loads(text) if p.endswith(".json") else results_from_log(text)
        runs.append((p, r))
    by_rate: dict[int, tuple[str, list]] = {}
    for p, r in runs:
        for rate in {pt["rate"] for pt in r["points"]}:
            by_rate[rate] = (p, [pt for pt in r["points"] if pt["rate"] == rate])
    per = [pt for rate in sorted(by_rate) for pt in by_rate[rate][1]]
    last_json = next((r for p, r in reversed(runs) if p.endswith(".json")), runs[-1][1])
    sources = "; ".join(f"{rate} Mbit/s from `{Path(p).name}`" for rate, (p, _) in sorted(by_rate.items()))
    return {"points": per, "by_rate": _by_rate(per, sorted(by_rate)), "host_profile": last_json.get("host_profile", ""),
            "reps": last_json.get("reps"), "date": last_json.get("date", ""), "notes": notes, "sources": sources}


def replay(points: list[dict], min_gain: float) -> list[dict]:
    """What ``--min-gain`` would have written in an earlier run (its --json ``points``), from its own figures:
    the candidate the optimizer predicted fastest, unless it is predicted less than ``min_gain`` faster than the
    default, and that candidate's measured pull + start over the default's."""
    out = []
    for p in points:
        cands = [c for c in p["candidates"] if c.get("optimizer_predicted") is not None]
        d = next(c for c in p["candidates"] if c["label"] == DEFAULT)
        best = min(cands, key=lambda c: c["optimizer_predicted"])
        chosen = best if beats(best["optimizer_predicted"], d["optimizer_predicted"], min_gain) else d
        out.append({"app": p["app"], "rate": p["rate"], "best": best["label"], "chosen": chosen["label"],
                    "predicted_ratio": best["optimizer_predicted"] / d["optimizer_predicted"],
                    "ratio": chosen["measured_total"] / d["measured_total"]})
    return out


def _by_rate(per: list[dict], rates) -> dict:
    return {r: {"median_ratio": statistics.median(p["ratio"] for p in per if p["rate"] == r),
                "median_rho": statistics.median(p["rho"] for p in per if p["rate"] == r and p["rho"] == p["rho"]),
                "worst_ratio": max(p["ratio"] for p in per if p["rate"] == r),
                "apps": sum(1 for p in per if p["rate"] == r)} for r in rates}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default="nginx,pyweb,nodeweb,javaweb,ffmpegjob")
    ap.add_argument("--client", choices=CLIENTS, default="docker",
                    help="The engine that pulls and runs, and the client profile the optimizer targets: docker "
                         "(the lab's dockerd) or ctr (the lab's containerd; zstd candidates added).")
    ap.add_argument("--rates", default="50,200,1000", help="Mbit/s for tc tbf")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--calib-reps", type=int, default=5)
    ap.add_argument("--report", default=str(ROOT / "reports" / "layout-optimization.md"))
    ap.add_argument("--json", default=None, help="Also write the raw results as JSON here.")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--notes", default=None, help="Markdown file whose text goes into the report's result section.")
    ap.add_argument("--render", metavar="RUN[,RUN...]", default=None,
                    help="No lab: write the report from earlier runs, each its --json output or its log (stderr); "
                         "a link rate measured in several runs is taken from the last.")
    ap.add_argument("--min-gain", type=float, default=100 * MIN_GAIN, metavar="PCT",
                    help="imgopt minify --min-gain for the optimized images (with --replay: the rule replayed).")
    ap.add_argument("--keep-pulled", action="store_true",
                    help="Do not delete each block's pulled copies (the lab's data root goes at the end): on a "
                         "disk where writing into just-freed space is slow (benchmarks/extract_after_delete.sh), "
                         "the deletes slow the next block's pulls down.  Needs room for every pull.")
    ap.add_argument("--replay", metavar="RUN.json[,...]", default=None,
                    help="No lab: print what --min-gain would have chosen in earlier runs (their --json output) "
                         "and the measured ratio of that choice to the default.")
    a = ap.parse_args(argv)
    if a.replay:
        for path in a.replay.split(","):
            rows = replay(json.loads(Path(path).read_text())["points"], a.min_gain / 100)
            for r in rows:
                print(f"{path}: {r['app']} {r['rate']} Mbit/s: best {r['best']} (predicted "
                      f"{r['predicted_ratio']:.2f}x), written {r['chosen']}: measured {r['ratio']:.2f}x the default")
            for rate in sorted({r["rate"] for r in rows}):
                xs = [r["ratio"] for r in rows if r["rate"] == rate]
                print(f"{path}: {rate} Mbit/s: median {statistics.median(xs):.2f}x, worst {max(xs):.2f}x "
                      f"({len(xs)} apps)")
        return 0
    if a.render:
        write_report(Path(a.report), combine(a.render.split(","), Path(a.notes).read_text() if a.notes else ""))
        return 0
    if os.geteuid() != 0:
        print("validate_layouts: needs root (network namespaces, tc, a second dockerd)", file=sys.stderr)
        return 2
    res = run([x for x in a.images.split(",") if x], [int(x) for x in a.rates.split(",") if x], a.reps,
              a.calib_reps, None if a.no_report else Path(a.report), a.json, min_gain=a.min_gain,
              keep_pulled=a.keep_pulled, grid=GRID_ZSTD if a.client == "ctr" else GRID, client_name=a.client)
    print(json.dumps(res["by_rate"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
