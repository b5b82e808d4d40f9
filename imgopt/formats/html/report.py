"""``imgopt report -o report.html``: one self-contained HTML file (no network, no external asset).

Jinja2 with autoescape renders ``templates/report.html.j2``; the stylesheet (``report.css``: light,
dark via ``prefers-color-scheme``, print) is inlined; the charts are inline SVG from
:mod:`imgopt.formats.html.charts`.  Every figure shown carries its exact value in a ``data-`` attribute
(``data-bytes``, ``data-seconds``) so a test can compare it with the JSON.
"""

from __future__ import annotations

from markupsafe import Markup

from imgopt.formats import RenderOptions
from imgopt.formats.html import environment, template_source


def render(result, options: RenderOptions) -> str:
    a = result.analysis
    orig = [s for s in result.scenarios if s.image == "original"]
    eager = {s.registry: s for s in orig if s.mode == "eager"}
    longest = max((s.total_s for s in result.scenarios), default=1.0)
    return environment().get_template("report.html.j2").render(
        r=result, a=a, s=a.summary, eager=eager, longest=longest,
        css=Markup(template_source("report.css")))
