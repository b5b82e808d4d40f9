"""The lab measurement of `--optimize-for` (slow, root): nginx at one link rate, three candidates.

A small version of scripts/validate_layouts.py (the full run writes
reports/layout-optimization.md): the lab of scripts/validate_simulator.py,
`imgopt calibrate` on its daemon, `imgopt trace` once, each candidate written
by `imgopt minify --split/--compress` (the default verified, the others
checked to hold the same filesystem), the optimized one by `--optimize-for
LINK,docker`, every candidate cold-pulled as written and run until its probe
passes, and predicted.  The lab is torn down afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_lab

ROOT = Path(__file__).resolve().parent.parent


def _script():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("validate_layouts", ROOT / "scripts" / "validate_layouts.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["validate_layouts"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


def test_spearman_ranks_ties_and_order():
    L = _script()
    assert L.ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert L.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert L.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert L.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_replaying_a_run_with_min_gain_zero_reproduces_its_choices():
    """--replay from a recorded lab run: with no margin the rule picks what that run's optimizer wrote and gives
    its measured ratio; with a margin above every predicted gain it writes the default everywhere (ratio 1)."""
    L = _script()
    points = json.loads((ROOT / "reports" / "raw" / "layout-optimization-run4.json").read_text())["points"]
    rows = L.replay(points, 0.0)
    assert [r["chosen"] for r in rows] == [p["optimized"] for p in points]
    assert [r["ratio"] for r in rows] == pytest.approx([p["ratio"] for p in points], rel=1e-9)
    assert all(r["chosen"] == L.DEFAULT and r["ratio"] == 1.0 for r in L.replay(points, 0.5))
    kept = L.replay(points, 0.08)  # between the recorded predicted gains (4-10 %): some kept, some not
    assert {r["chosen"] == L.DEFAULT for r in kept} == {True, False}
    assert all((r["chosen"] == L.DEFAULT) == (r["predicted_ratio"] > 0.92 + 5e-4) for r in kept)


def test_optimized_and_default_layouts_measured_on_a_shaped_link(tmp_path):
    require_lab()
    L = _script()
    grid = [g for g in L.GRID if g[0] in ("gzip6-1x1", "none-1x1", "gzip6-3x6")]
    res = L.run(["nginx"], [1000], reps=1, calib_reps=2, report=tmp_path / "r.md", json_out=None, grid=grid)
    (p,) = res["points"]
    cands = {c["label"]: c for c in p["candidates"]}
    assert {"gzip6-1x1", "none-1x1", "gzip6-3x6"} <= set(cands)
    assert p["optimized"] in cands
    # the layouts are what their flags asked for: 1 + 1 layers, 3 + 6, uncompressed bigger than gzip
    assert cands["gzip6-1x1"]["layers"] == 2 and cands["none-1x1"]["layers"] == 2
    assert 2 < cands["gzip6-3x6"]["layers"] <= 9
    assert cands["none-1x1"]["compressed"] > 2 * cands["gzip6-1x1"]["compressed"]
    for c in cands.values():  # every one pulled and run until its probe passed, and predicted
        assert c["measured_total"] > c["measured_pull"] > 0 and c["predicted_total"] > c["predicted_pull"] > 0
    assert -1.0 <= p["rho"] <= 1.0
    assert p["ratio"] == pytest.approx(cands[p["optimized"]]["measured_total"] / cands["gzip6-1x1"]["measured_total"])
    assert "| nginx | 1000 Mbit/s |" in (tmp_path / "r.md").read_text()
    V = sys.modules["validate_simulator"]
    assert V.NS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", V.VETH_H], capture_output=True).returncode != 0


def test_lab_containerd_pulls_and_runs_zstd_candidates(tmp_path):
    """--client ctr: the lab's own containerd pulls each candidate (zstd too) with ctr and runs it until its
    probe passes; the optimizer and the predictions use the ctr profile; the containerd goes with the lab."""
    require_lab()
    L = _script()
    grid = [g for g in L.GRID_ZSTD if g[0] in ("gzip6-1x1", "zstd3-1x1", "none-1x1")]
    res = L.run(["nginx"], [1000], reps=1, calib_reps=2, report=tmp_path / "r.md", json_out=None, grid=grid,
                client_name="ctr")
    (p,) = res["points"]
    cands = {c["label"]: c for c in p["candidates"]}
    assert {"gzip6-1x1", "zstd3-1x1", "none-1x1"} <= set(cands)
    assert cands["zstd3-1x1"]["compressed"] < cands["none-1x1"]["compressed"] / 2  # really compressed
    for c in cands.values():
        assert c["measured_total"] > c["measured_pull"] > 0 and c["predicted_total"] > c["predicted_pull"] > 0
        # ctr printed "unpacking" (every blob fetched) before it returned
        assert 0 < c["download_phase"][0] < c["measured_pull"]
    assert "`ctr`" in (tmp_path / "r.md").read_text()
    LC = sys.modules["lab_containerd"]
    assert not LC.ROOT_DIR.exists() and not Path(LC.SOCK).exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert LC.SOCK not in ps
