"""The gate's checks: each compares one measured figure with its limit and says what to do.

A check function takes the :class:`Context` (the configuration, the analysis, and when there the
lint result, the simulations and the baseline) and returns :class:`~imgopt.gate.result.Check`
objects: ``fail`` / ``pass`` against a limit, ``info`` when the figure is measured but not
limited, ``skip`` when it cannot be measured (no Dockerfile, no baseline).  A failed check names
the layers (and with ``--dockerfile`` the lines) its figure comes from; its advice comes from the
recommendation engine (:mod:`imgopt.report.recommend`), the same text the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from imgopt.gate.config import ByteLimit, GateConfig
from imgopt.gate.result import Check, Facts, Location
from imgopt.progress import human

if TYPE_CHECKING:
    from imgopt.analyze.result import AnalysisResult
    from imgopt.lint.model import LintResult
    from imgopt.report.recommend import Recommendation
    from imgopt.simulate.result import Result as SimResult


@dataclass
class Context:
    cfg: GateConfig
    analysis: AnalysisResult
    image: str
    dockerfile: str | None = None
    lint: LintResult | None = None
    cold_start: dict[tuple[str, str], SimResult] = field(default_factory=dict)  # (registry, client) -> result
    baseline: Facts | None = None
    baseline_name: str | None = None
    recs: list[Recommendation] = field(default_factory=list)


# ------------------------------------------------------------------ helpers


def loc(ctx: Context, layer: int | None, b: int | None = None, detail: str = "") -> Location:
    """A layer, tied to its Dockerfile line when the analysis has one."""
    if layer is None or layer >= len(ctx.analysis.layers):
        return Location(None, None, None, None, None, b, detail)
    l = ctx.analysis.layers[layer]
    ref = l.dockerfile
    if ref is not None and ctx.dockerfile:
        return Location(layer, ctx.dockerfile, ref.line, ref.end_line, ref.instruction, b, detail)
    return Location(layer, None, None, None, " ".join((l.instruction or l.created_by or "").split())[:160], b,
                    detail)


def _advice(ctx: Context, check_id: str) -> tuple[str, str]:
    from imgopt.report.recommend import for_check

    return for_check(check_id, ctx.recs, ctx.image)


def _check(ctx: Context, cid: str, title: str, measured: float | None, limit: float | None, unit: str,
           failed: bool | None, summary: str, locations: list[Location] | None = None,
           source_key: str | None = None, advice: tuple[str, str] | None = None) -> Check:
    status = "info" if failed is None else "fail" if failed else "pass"
    adv, cmd = advice if advice is not None else _advice(ctx, cid) if status != "pass" else ("", "")
    return Check(cid, title, status, measured, limit, unit, summary, adv, cmd,
                 ctx.cfg.source(source_key or cid.split(".")[0]) if status != "info" else "", locations or [])


def _vs(measured: str, limit: str, over: bool) -> str:
    return f"{measured} {'>' if over else '<='} {limit}"


def _byte_check(ctx: Context, cid: str, title: str, measured: int, whole: int, whole_name: str,
                lim: ByteLimit | None, locations: list[Location], hint: str) -> Check:
    pct = 100 * measured / whole if whole else 0.0
    shown = f"{human(measured)} ({pct:.1f} % of {whole_name})"
    if lim is None:
        return _check(ctx, cid, title, measured, None, "bytes", None, f"{shown}; not limited ({hint})")
    over = lim.exceeded(measured, whole)
    parts = []
    if lim.bytes is not None:
        parts.append(_vs(human(measured), human(lim.bytes), "bytes" in over))
    if lim.percent is not None:
        parts.append(_pct_vs(pct, lim, measured, "percent" in over))
    limit = lim.bytes if lim.bytes is not None else (lim.percent or 0) * whole / 100
    return _check(ctx, cid, title, measured, limit, "bytes", bool(over), f"{shown}: " + "; ".join(parts),
                  locations if over else [])


def _pct_vs(pct: float, lim: ByteLimit, measured: int, over: bool) -> str:
    if over or pct <= (lim.percent or 0):
        return f"{pct:+.1f} % {'>' if over else '<='} {lim.percent:g} %".lstrip("+")
    return f"{pct:.1f} % > {lim.percent:g} % but {human(abs(measured))} is under the {human(lim.floor)} floor"


def _largest_layers(ctx: Context, key: Callable, n: int = 3) -> list[Location]:
    layers = sorted(ctx.analysis.layers, key=lambda l: -key(l))[:n]
    return [loc(ctx, l.index, key(l), f"{human(key(l))}") for l in layers if key(l) > 0]


# ------------------------------------------------------------------ size and layers


def size_checks(ctx: Context) -> list[Check]:
    s, cfg = ctx.analysis.summary, ctx.cfg
    out = []
    for cid, title, measured, limit, key in (
            ("max-size", "Image size (uncompressed)", s.uncompressed_bytes, cfg.max_size,
             lambda l: l.uncompressed_bytes),
            ("max-compressed-size", "Compressed size (what a pull downloads)", s.compressed_bytes,
             cfg.max_compressed_size, lambda l: l.compressed_bytes)):
        if limit is None:
            out.append(_check(ctx, cid, title, measured, None, "bytes", None,
                              f"{human(measured)}; not limited (set gate.{cid})"))
            continue
        over = measured > limit
        out.append(_check(ctx, cid, title, measured, limit, "bytes", over, _vs(human(measured), human(limit), over),
                          _largest_layers(ctx, key) if over else []))
    n = len(ctx.analysis.layers)
    if cfg.max_layers is None:
        out.append(_check(ctx, "max-layers", "Layers", n, None, "layers", None,
                          f"{n} layers; not limited (set gate.max-layers)"))
    else:
        over = n > cfg.max_layers
        small = sorted(ctx.analysis.layers, key=lambda l: l.uncompressed_bytes)[: max(0, n - cfg.max_layers)]
        out.append(_check(ctx, "max-layers", "Layers", n, cfg.max_layers, "layers", over,
                          _vs(f"{n} layers", str(cfg.max_layers), over),
                          [loc(ctx, l.index, l.uncompressed_bytes, "small layer: merge it") for l in small]
                          if over else []))
    return out


# ------------------------------------------------------------------ junk and waste


def junk_checks(ctx: Context) -> list[Check]:
    a, cfg = ctx.analysis, ctx.cfg
    junk = [c for c in a.junk if c.files]
    removable = a.summary.removable_junk_bytes
    layers: dict[int, int] = {}
    for c in junk:
        if c.safe_to_remove:
            for k, b in c.layers.items():
                layers[int(k)] = layers.get(int(k), 0) + b
    locs = [loc(ctx, i, b, f"{human(b)} of junk") for i, b in sorted(layers.items(), key=lambda kv: -kv[1])[:3]]
    out = [_byte_check(ctx, "max-junk", "Removable junk", removable, a.summary.final_bytes, "the final filesystem",
                       cfg.max_junk, locs, "set gate.max-junk")]
    by_id = {c.id: c for c in a.junk}
    for cid, limit in cfg.max_junk_class.items():
        c = by_id.get(cid)
        b = c.bytes if c else 0
        over = b > limit
        where = sorted(((int(k), v) for k, v in (c.layers if c else {}).items()), key=lambda kv: -kv[1])[:3]
        detail = (lambda v: f"{human(v)} of {cid}" + (f", e.g. {c.examples[0].path}" if c and c.examples else ""))
        out.append(_check(ctx, f"max-junk-class.{cid}", f"Junk class {cid}" + (f" ({c.title})" if c else ""),
                          b, limit, "bytes", over, _vs(human(b), human(limit), over),
                          [loc(ctx, i, v, detail(v)) for i, v in where] if over else [],
                          source_key="max-junk-class"))
    return out


def waste_checks(ctx: Context) -> list[Check]:
    a, cfg, w = ctx.analysis, ctx.cfg, ctx.analysis.waste
    by: dict[int, dict[int, int]] = {}
    for h in w.top:
        by.setdefault(h.layer, {}).setdefault(h.hidden_by, 0)
        by[h.layer][h.hidden_by] += h.size
    origin = sorted((l for l in a.layers if l.hidden_later_bytes), key=lambda l: -l.hidden_later_bytes)[:3]
    locs = []
    for l in origin:
        hiders = sorted(by.get(l.index, {}).items(), key=lambda kv: -kv[1])
        hid = f", hidden by layer {hiders[0][0]}" if hiders else ""
        locs.append(loc(ctx, l.index, l.hidden_later_bytes, f"stores {human(l.hidden_later_bytes)} upper layers "
                                                            f"hide{hid}"))
        if hiders and ctx.dockerfile:
            j = hiders[0][0]
            locs.append(loc(ctx, j, hiders[0][1], f"hides {human(hiders[0][1])} stored in layer {l.index}"))
    out = [_byte_check(ctx, "max-exact-waste", "Exact waste (stored, hidden by upper layers)", w.exact_bytes,
                       a.summary.stored_file_bytes, "stored bytes", cfg.max_exact_waste, locs,
                       "set gate.max-exact-waste")]
    # dive's rules, as dive 0.13.1 evaluates them
    dive_locs = locs
    eff = w.dive_efficiency
    if cfg.lowest_efficiency is not None:
        over = cfg.lowest_efficiency > eff
        out.append(_check(ctx, "lowest-efficiency", "dive: image efficiency", eff, cfg.lowest_efficiency, "ratio",
                          over, f"efficiency {eff:.4f} {'<' if over else '>='} {cfg.lowest_efficiency:g}",
                          dive_locs if over else []))
    if cfg.highest_wasted_bytes is not None:
        wb = w.dive_wasted_bytes
        over = wb > cfg.highest_wasted_bytes
        out.append(_check(ctx, "highest-wasted-bytes", "dive: wasted bytes", wb, cfg.highest_wasted_bytes, "bytes",
                          over, f"wasted {wb} bytes ({human(wb)}) {'>' if over else '<='} "
                                f"{cfg.highest_wasted_bytes} ({human(cfg.highest_wasted_bytes)})",
                          dive_locs if over else []))
    if cfg.highest_user_wasted_percent is not None:
        r = w.dive_user_wasted_ratio
        if r is None:  # no layer above the base: dive's 0/0 is NaN, which no threshold is below
            out.append(_check(ctx, "highest-user-wasted-percent", "dive: wasted / bytes added above the base", None,
                              cfg.highest_user_wasted_percent, "ratio", False,
                              "no bytes above the base layer (dive: NaN, passes)"))
        else:
            over = r > cfg.highest_user_wasted_percent
            out.append(_check(ctx, "highest-user-wasted-percent", "dive: wasted / bytes added above the base", r,
                              cfg.highest_user_wasted_percent, "ratio", over,
                              f"user wasted {r:.4f} {'>' if over else '<='} {cfg.highest_user_wasted_percent:g}",
                              dive_locs if over else []))
    return out


# ------------------------------------------------------------------ cold start


def cold_start_checks(ctx: Context) -> list[Check]:
    out = []
    for lim in ctx.cfg.max_cold_start:
        r = ctx.cold_start.get((lim.registry, lim.client))
        cid = f"max-cold-start.{r.registry if r else lim.registry}.{r.client if r else lim.client}"
        title = f"Cold pull + start ({r.registry if r else lim.registry} registry, " \
                f"{r.client if r else lim.client} client)"
        if r is None:
            out.append(Check(cid, title, "skip", None, lim.seconds, "seconds", "not simulated", "", "",
                             ctx.cfg.source("max-cold-start")))
            continue
        over = r.total > lim.seconds
        locs = []
        if over:
            per_layer: dict[int, float] = {}
            for step in r.critical_path:
                t = step["task"]
                if t.startswith("L") and "." in t and t[1:t.index(".")].isdigit():
                    i = int(t[1:t.index(".")])
                    per_layer[i] = per_layer.get(i, 0.0) + step["end"] - step["start"]
            for i, secs in sorted(per_layer.items(), key=lambda kv: -kv[1])[:3]:
                locs.append(loc(ctx, i, None, f"{secs:.2f} s of the critical path"))
        summary = (f"{r.total:.2f} s (pull {r.pull:.2f} s + start {r.start:.2f} s) "
                   f"{'>' if over else '<='} {lim.seconds:g} s")
        out.append(_check(ctx, cid, title, round(r.total, 4), lim.seconds, "seconds", over, summary, locs,
                          source_key="max-cold-start"))
    return out


# ------------------------------------------------------------------ lint


def lint_checks(ctx: Context) -> list[Check]:
    cfg = ctx.cfg
    if cfg.max_lint is None:
        return []
    if ctx.lint is None:
        return [Check("max-lint", f"Lint findings at or above {cfg.max_lint}", "skip", None, 0, "findings",
                      "no --dockerfile: nothing linted", "", "", cfg.source("max-lint"))]
    from imgopt.lint.model import at_least

    bad = [f for f in ctx.lint.findings() if at_least(f.severity, cfg.max_lint)]
    locs = [_finding_loc(ctx, f) for f in bad]
    codes = ", ".join(sorted({f.code for f in bad}))
    summary = (f"{len(bad)} finding(s) at or above {cfg.max_lint} ({codes}) > 0" if bad
               else f"0 findings at or above {cfg.max_lint}")
    return [_check(ctx, "max-lint", f"Lint findings at or above {cfg.max_lint}", len(bad), 0, "findings", bool(bad),
                   summary, locs)]


def _finding_loc(ctx: Context, f) -> Location:
    layer = None
    for l in ctx.analysis.layers:
        d = l.dockerfile
        if d is not None and d.line <= f.line <= max(d.end_line, d.line):
            layer = l.index
    return Location(layer, f.file, f.line or None, f.end_line or f.line or None, None, None,
                    f"{f.code} {f.severity}: {f.message}")


# ------------------------------------------------------------------ baseline regression


def baseline_checks(ctx: Context) -> list[Check]:
    cfg, base = ctx.cfg, ctx.baseline
    keys = [k for k, on in (("max-growth", cfg.max_growth is not None),
                            ("max-compressed-growth", cfg.max_compressed_growth is not None),
                            ("no-new-junk-class", cfg.no_new_junk_class),
                            ("no-new-lint-errors", cfg.no_new_lint_errors)) if on]
    if base is None:
        explicit = [k for k in keys if cfg.source(k) != "default"]
        return [Check(k, _TITLES[k], "skip", None, None, "", "no --baseline given", "", "", cfg.source(k))
                for k in explicit]
    s = ctx.analysis.summary
    known = {l.diff_id for l in base.layers}
    new_layers = [l for l in ctx.analysis.layers if l.diff_id not in known]
    out = []
    for key, lim, now, then, layer_size in (
            ("max-growth", cfg.max_growth, s.uncompressed_bytes, base.size_bytes, lambda l: l.uncompressed_bytes),
            ("max-compressed-growth", cfg.max_compressed_growth, s.compressed_bytes, base.compressed_bytes,
             lambda l: l.compressed_bytes)):
        if lim is None:
            continue
        growth = now - then
        pct = 100 * growth / then if then else 0.0
        over = lim.exceeded(growth, then)
        parts = []
        if lim.bytes is not None:
            parts.append(_vs(human(growth), human(lim.bytes), "bytes" in over))
        if lim.percent is not None:
            parts.append(_pct_vs(pct, lim, growth, "percent" in over))
        sign = "+" if growth >= 0 else "-"
        summary = f"{human(then)} -> {human(now)} ({sign}{human(abs(growth))}): " + "; ".join(parts)
        locs = [loc(ctx, l.index, layer_size(l), f"new layer, {human(layer_size(l))}")
                for l in sorted(new_layers, key=lambda l: -layer_size(l))[:3]] if over else []
        limit = lim.bytes if lim.bytes is not None else (lim.percent or 0) * then / 100
        out.append(_check(ctx, key, _TITLES[key], growth, limit, "bytes", bool(over), summary, locs))
    if cfg.no_new_junk_class:
        new = sorted((c for c in ctx.analysis.junk if c.files and c.id not in base.junk), key=lambda c: -c.bytes)
        locs = []
        for c in new:
            for k, v in sorted(c.layers.items(), key=lambda kv: -kv[1])[:2]:
                locs.append(loc(ctx, int(k), v, f"{c.id}: {human(v)}" + (f", e.g. {c.examples[0].path}"
                                                                          if c.examples else "")))
        summary = (f"{len(new)} junk class(es) not in the baseline: " + ", ".join(f"{c.id} ({human(c.bytes)})"
                                                                                for c in new)
                   if new else f"no junk class the baseline does not have ({len(base.junk)} there)")
        adv = _advice(ctx, f"no-new-junk-class.{new[0].id}") if new else ("", "")
        out.append(_check(ctx, "no-new-junk-class", _TITLES["no-new-junk-class"], len(new), 0, "classes",
                          bool(new), summary, locs, advice=adv))
    if cfg.no_new_lint_errors:
        if ctx.lint is None or base.lint is None:
            why = "no --dockerfile" if ctx.lint is None else \
                "the baseline has no lint findings (give a gate JSON made with --dockerfile as --baseline)"
            if cfg.source("no-new-lint-errors") != "default" or ctx.lint is not None:
                out.append(Check("no-new-lint-errors", _TITLES["no-new-lint-errors"], "skip", None, 0, "findings",
                                 why, "", "", cfg.source("no-new-lint-errors")))
        else:
            then_counts: dict[str, int] = {}
            for f in base.lint:
                if f.severity == "error":
                    then_counts[f.code] = then_counts.get(f.code, 0) + 1
            now_err = [f for f in ctx.lint.findings() if f.severity == "error"]
            now_counts: dict[str, int] = {}
            for f in now_err:
                now_counts[f.code] = now_counts.get(f.code, 0) + 1
            grown = {c for c, n in now_counts.items() if n > then_counts.get(c, 0)}
            new = [f for f in now_err if f.code in grown]
            summary = ("new lint errors: " + ", ".join(f"{c} ({now_counts[c]} now, {then_counts.get(c, 0)} in the "
                                                        f"baseline)" for c in sorted(grown))
                       if grown else f"no new lint errors ({len(now_err)} now, {sum(then_counts.values())} in the "
                                     "baseline)")
            out.append(_check(ctx, "no-new-lint-errors", _TITLES["no-new-lint-errors"], len(new), 0, "findings",
                              bool(grown), summary, [_finding_loc(ctx, f) for f in new]))
    return out


_TITLES = {"max-growth": "Growth against the baseline (uncompressed)",
           "max-compressed-growth": "Growth against the baseline (compressed)",
           "no-new-junk-class": "No junk class the baseline does not have",
           "no-new-lint-errors": "No lint errors the baseline does not have"}

CHECKS = (size_checks, junk_checks, waste_checks, cold_start_checks, lint_checks, baseline_checks)


def run_checks(ctx: Context) -> list[Check]:
    out: list[Check] = []
    for fn in CHECKS:
        out += fn(ctx)
    return out


__all__ = ["Context", "run_checks", "CHECKS", "loc"]
