"""The HTML report in a real browser: Debian's headless Chromium driven by Playwright, offline.

The report of the sample image (with its trace profile, its slim image and its Dockerfile) is opened
as file:// with every request routed: anything but the file itself fails the test.  The page must
log no console error, show every section, and show the numbers of the analysis and simulator
JSON documents (made by separate `imgopt analyze` / `imgopt simulate` runs); it is rendered on a
phone-sized viewport (no sideways scrolling of the page) and in dark mode, and screenshots are saved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES, SAMPLE_TAR, run_imgopt

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SECTIONS = ("summary", "recommendations", "layers", "directories", "startup", "pull", "lint")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """profile (native trace), slim image, the report, and independent analyze/simulate JSON."""
    d = tmp_path_factory.mktemp("report")
    probe = FIXTURES / "sample" / "probe.yaml"
    run_imgopt("trace", "--backend", "native", "--probe", probe, "-o", d / "profile.json", SAMPLE_TAR, check=True)
    slim = f"oci:{d / 'slim'}:slim"
    run_imgopt("minify", SAMPLE_TAR, "--profile", d / "profile.json", "--probe", probe, "--verify", "native",
               "-o", slim, check=True)
    df = FIXTURES / "sample" / "Dockerfile"
    run_imgopt("report", SAMPLE_TAR, "--slim", slim, "--profile", d / "profile.json", "--dockerfile", df,
               "-o", d / "report.html", check=True)
    run_imgopt("report", SAMPLE_TAR, "--slim", slim, "--profile", d / "profile.json", "--dockerfile", df,
               "-o", d / "report.json", check=True)
    analysis = json.loads(run_imgopt("analyze", "--format", "json", SAMPLE_TAR, check=True).stdout)
    sim = json.loads(run_imgopt("simulate", SAMPLE_TAR, "--profile", d / "profile.json", "--registry", "vpc,public",
                                "--client", "docker,lazy", "--compare", slim, "--format", "json",
                                check=True).stdout)
    return {"dir": d, "html": d / "report.html", "analysis": analysis, "sim": sim,
            "report": json.loads((d / "report.json").read_text())}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: scripts/ensure-system.sh installs Debian's chromium (make test)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, html: Path, **ctx):
    """A page on the report, offline: every request but the file itself is aborted and recorded."""
    context = browser.new_context(offline=True, **ctx)
    page = context.new_page()
    url = html.resolve().as_uri()
    requests, errors = [], []

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("load")
    return context, page, requests, errors


def _bytes(page, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-bytes"))


def test_report_offline_every_section_real_numbers(browser, demo):
    context, page, requests, errors = _open(browser, demo["html"], viewport={"width": 1200, "height": 900})
    try:
        assert requests == [] and errors == []
        for sid in SECTIONS:
            sec = page.locator(f"section#{sid}")
            assert sec.count() == 1 and sec.is_visible(), sid
            assert sec.locator("h2").inner_text().strip()
        s = demo["analysis"]["summary"]
        assert _bytes(page, "[data-card=size] .big .num") == s["uncompressed_bytes"]
        assert _bytes(page, "[data-card=junk] .big .num") == s["removable_junk_bytes"]
        assert _bytes(page, "[data-card=waste] .big .num") == s["exact_waste_bytes"]
        assert page.locator("[data-card=size] .big").inner_text() == "5.3 MB"
        # cold start cards and table rows: the simulator's own predictions
        sim = {(r["image"], r["registry"], r["client"]): r["total_s"] for r in demo["sim"]["results"]}
        orig, slim = demo["sim"]["results"][0]["image"], demo["sim"]["results"][-1]["image"]
        shown = [float(x.get_attribute("data-seconds")) for x in page.locator("[data-card=coldstart] .num").all()]
        assert shown == pytest.approx([sim[(orig, "vpc", "docker")], sim[(orig, "public", "docker")]], abs=1e-3)
        for row in page.locator("tr[data-scenario]").all():
            image, reg, client = row.get_attribute("data-scenario").split("/")
            total = float(row.locator("td").last.locator(".num").get_attribute("data-seconds"))
            assert total == pytest.approx(sim[(orig if image == "original" else slim, reg, client)], abs=1e-3)
        assert page.locator("tr[data-scenario]").count() == len(sim) == 8  # vpc/public x eager/lazy x orig/slim
        # one bar and one row per layer, with the analysis' bytes and the Dockerfile line
        layers = demo["analysis"]["layers"]
        assert page.locator("g.layer-bar").count() == len(layers)
        for l in layers:
            row = page.locator(f"tr[data-layer='{l['index']}']")
            assert int(row.locator(".num").first.get_attribute("data-bytes")) == l["file_bytes"]
        assert page.locator("tr[data-layer='1'] .line").inner_text() == "line 16"
        # the treemap: the analysis' directories
        dirs = {d["path"]: d["bytes"] for d in demo["analysis"]["directories"]}
        nodes = page.locator("g.tm-node").all()
        assert nodes and all(dirs[n.get_attribute("data-path")] == int(n.get_attribute("data-bytes")) for n in nodes)
        # startup set, waterfalls, lint, recommendations
        assert "files read before the app was ready" in page.locator("#startup").inner_text()
        assert page.locator("details.waterfall").count() == 8 and page.locator("details.waterfall svg").count() == 8
        assert page.locator("#lint tbody tr").count() == len(demo["report"]["lint"]) > 0
        recs = page.locator("li.rec").all()
        assert [r.get_attribute("data-id") for r in recs] == [r["id"] for r in demo["report"]["recommendations"]]
        assert any("apt-get clean" in r.inner_text() for r in recs) and any("imgopt minify" in r.inner_text()
                                                                           for r in recs)
        page.screenshot(path=str(demo["dir"] / "report-desktop.png"), full_page=True)
    finally:
        context.close()


def test_report_on_a_phone_in_dark_mode(browser, demo):
    context, page, requests, errors = _open(browser, demo["html"], viewport={"width": 390, "height": 844},
                                            color_scheme="dark", is_mobile=True, has_touch=True)
    try:
        assert requests == [] and errors == []
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner  # the page itself never scrolls sideways (tables and charts scroll inside)
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        r, g, b = (int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3])
        assert r + g + b < 120, bg  # dark
        cards = page.locator(".card").all()
        boxes = [c.bounding_box() for c in cards]
        assert len({round(bx["x"]) for bx in boxes}) == 1  # one column on a phone
        page.screenshot(path=str(demo["dir"] / "report-phone-dark.png"), full_page=True)
    finally:
        context.close()


def test_report_prints(browser, demo):
    context, page, requests, errors = _open(browser, demo["html"])
    try:
        page.emulate_media(media="print")
        assert page.locator("nav").is_hidden()
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        assert requests == [] and errors == []
    finally:
        context.close()
