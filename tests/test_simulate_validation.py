"""Real-pull validation of `imgopt simulate` (slow, root): one app at two link rates.

A small version of scripts/validate_simulator.py (the full run writes
reports/simulator-validation.md): registry in its own network namespace
behind a tc-tbf-shaped veth pair, a second dockerd, `imgopt calibrate` on it,
cold pulls + run-until-ready, compared with the prediction.  The lab is torn
down afterwards, also on failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_lab

ROOT = Path(__file__).resolve().parent.parent


def _validator():
    spec = importlib.util.spec_from_file_location("validate_simulator", ROOT / "scripts" / "validate_simulator.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["validate_simulator"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_prediction_matches_real_pulls_on_a_shaped_link():
    require_lab()
    V = _validator()
    # calibrate's own default of 3 pulls per synthetic image: the median of 2 is their mean, and one slow
    # first pull (CI, 2026-12-03: bin-none 2.11 s, then 0.64 s) made every prediction 33-43 % too long
    summary = V.run_validation(["nginx"], ["full"], [200, 1000], [], [], reps=1, calib_reps=3, report=None,
                               recal=False)
    pts = summary["points"]
    assert len(pts) == 2
    slow, fast = sorted(pts, key=lambda p: p["rate"])
    for p in pts:  # the link's share: when the last layer has arrived
        assert abs(p["predicted_dl_phase"] - p["measured_dl_phase"]) / p["measured_dl_phase"] <= 0.25, p
        assert p["measured_total"] > p["measured_pull"]
    # the whole pull where the link bounds it; the report's goal is a 15 % median over many points, one noisy
    # pull on a shared machine gets more room
    assert abs(slow["predicted_pull"] - slow["measured_pull"]) / slow["measured_pull"] <= 0.35, slow
    # at 1000 Mbit/s the host's extraction bounds the pull, and on a shared VM that drifts far from the
    # calibration of a minute before (CI, 2026-12-02, 40 min into the suite: nginx 10.4 s, 3.46 s on a
    # quiet machine, no CPU steal): checked one-sided, never over-predicted by more than 35 %
    assert fast["predicted_pull"] <= 1.35 * fast["measured_pull"], fast
    assert fast["predicted_pull"] > fast["predicted_dl_phase"]
    # the link's rate orders the downloads whatever the host does (not the whole pulls: in that CI run the
    # 1000 Mbit/s pull took longer than the 200 Mbit/s one)
    assert slow["measured_dl_phase"] > 2 * fast["measured_dl_phase"]
    assert slow["predicted_pull"] > fast["predicted_pull"]
    # torn down: no namespace, no veth, no second daemon
    assert V.NS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", V.VETH_H], capture_output=True).returncode != 0
    assert not Path("/run/imgopt-sim/docker.sock").exists() or subprocess.run(
        ["docker", "-H", V.SOCK, "info"], capture_output=True).returncode != 0


def test_stale_lab_state_of_a_dead_run_is_cleaned_up():
    """A crashed earlier run leaves /run/imgopt-sim/docker.pid naming a pid that is gone, and its
    namespace; setting up the next lab must clean both, not crash (CI failed on exactly this)."""
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespace): run `make test` as root")
    V = _validator()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that existed and is gone now
    V.RUN.mkdir(parents=True, exist_ok=True)
    pidf = V.RUN / "docker.pid"
    pidf.write_text(f"{dead.pid}\n")
    subprocess.run(["ip", "netns", "add", V.NS], check=True)
    try:
        V.Lab().teardown(stale=True)
        assert not pidf.exists()
        assert V.NS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", V.NS], capture_output=True)
        pidf.unlink(missing_ok=True)
