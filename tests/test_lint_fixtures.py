"""The cold-start rules on the fixture apps' Dockerfiles (fixtures/apps/*, fixtures/sample): each fires
where the Dockerfile really leaves cost behind -- read off the files and their README, and confirmed by
`imgopt analyze` of the built images (apt lists 53 MB, the torch wheel and wheels/ left, compilers in
pytorch) -- and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgopt.lint import lint_paths
from imgopt.lint.config import LintConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
APPS = sorted(p.parent.name for p in (FIXTURES / "apps").glob("*/Dockerfile"))

# app -> {cold-start rule: lines}; every app installs with apt-get update and never removes the lists
EXPECTED = {
    "ffmpegjob": {"IMG104": [5]},
    "javaweb": {"IMG104": [22]},  # the JDK (line 7) and its apt lists are in the build stage only
    "memcached": {"IMG104": [5]},
    "nginx": {"IMG104": [5]},
    "nodeweb": {"IMG104": [5]},
    "perlweb": {"IMG104": [5]},
    "phpweb": {"IMG104": [5]},
    "postonly": {"IMG104": [6]},
    "pyextra": {"IMG104": [8, 17], "IMG106": [15]},  # apt lists; pip cache; wheels/ copied in and left
    "pyjob": {"IMG104": [6]},
    "pynumeric": {"IMG104": [7, 13], "IMG106": [11]},  # apt lists; pip cache; wheels/ copied in and left
    "pytorch": {"IMG103": [8], "IMG104": [8, 14], "IMG106": [12]},  # + build-essential, python3-dev
    "pyweb": {"IMG104": [5, 14], "IMG106": [12]},
    "rubyweb": {"IMG104": [5]},
    "sample": {"IMG104": [16], "IMG105": [25]},  # COPY app/ then rm build.log, rm -rf data in a later RUN
    "staticsite": {"IMG104": [7]},  # the default site's rm (line 9) removes a file a package made: no IMG105
}


def cold(path: Path) -> dict[str, list[int]]:
    res = lint_paths([str(path)], LintConfig(shellcheck=False))
    out: dict[str, list[int]] = {}
    for f in res.findings():
        if f.code.startswith("IMG1"):
            out.setdefault(f.code, []).append(f.line)
    return out


@pytest.mark.parametrize("app", APPS + ["sample"])
def test_cold_start_rules_on_fixtures(app):
    path = FIXTURES / "sample" / "Dockerfile" if app == "sample" else FIXTURES / "apps" / app / "Dockerfile"
    assert cold(path) == EXPECTED[app]


def test_every_fixture_app_is_covered():
    assert sorted(EXPECTED) == sorted(APPS + ["sample"])


def test_costs_are_stated():
    res = lint_paths([str(FIXTURES / "apps" / "pytorch" / "Dockerfile")], LintConfig(shellcheck=False))
    by = {(f.code, f.line): f.message for f in res.findings()}
    assert "~53 MB in the image" in by[("IMG104", 8)] and "(public)" in by[("IMG104", 8)]
    assert "~231 MB in the image" in by[("IMG103", 8)]
    assert "wheels/ is copied into the image, installed from at line 14" in by[("IMG106", 12)]
