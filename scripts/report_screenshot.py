#!/usr/bin/env python3
"""Screenshot an imgopt HTML report in Debian's headless Chromium (the README's docs/report-screenshot.png).

    .venv/bin/python scripts/report_screenshot.py reports/demo/report.html docs/report-screenshot.png \\
        [--width 1200] [--height 2000] [--dark]

Offline, like tests/test_report_browser.py: every request other than the file itself is aborted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=2000, help="clip to this many pixels from the top (0: all)")
    ap.add_argument("--dark", action="store_true")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    url = Path(a.html).resolve().as_uri()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = b.new_page(viewport={"width": a.width, "height": 900}, color_scheme="dark" if a.dark else "light")
        page.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
        page.goto(url)
        clip = {"x": 0, "y": 0, "width": a.width, "height": a.height} if a.height else None
        page.screenshot(path=a.png, full_page=True, clip=clip)
        b.close()


if __name__ == "__main__":
    main()
