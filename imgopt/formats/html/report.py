"""``imgopt report -o report.html``: one self-contained HTML file (no network, no external asset).

Jinja2 with autoescape renders ``templates/report.html.j2``; the stylesheet (``report.css``: light,
dark via ``prefers-color-scheme``, print) is inlined; the charts are inline SVG from
:mod:`imgopt.formats.html.charts`.  Every figure shown carries its exact value in a ``data-`` attribute
(``data-bytes``, ``data-seconds``) so a test can compare it with the JSON.
"""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup, escape

from imgopt.formats import RenderOptions
from imgopt.formats.html import charts
from imgopt.progress import human


def _bytes(n) -> Markup:
    return Markup(f'<span class="num" data-bytes="{int(n)}">{escape(human(n))}</span>')


def _seconds(s) -> Markup:
    return Markup(f'<span class="num" data-seconds="{float(s):.4f}">{float(s):.2f} s</span>')


def _pct(part, whole) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("imgopt.formats.html", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(bytes=_bytes, seconds=_seconds, human=human)
    env.globals.update(pct=_pct, charts=charts)
    return env


def render(result, options: RenderOptions) -> str:
    a = result.analysis
    orig = [s for s in result.scenarios if s.image == "original"]
    eager = {s.registry: s for s in orig if s.mode == "eager"}
    longest = max((s.total_s for s in result.scenarios), default=1.0)
    return _env().get_template("report.html.j2").render(
        r=result, a=a, s=a.summary, eager=eager, longest=longest,
        css=Markup(_env().loader.get_source(_env(), "report.css")[0]))  # type: ignore[union-attr]
