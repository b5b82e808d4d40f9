"""HTML pages, each one self-contained file (inline CSS, SVG and script, no network): one renderer
module per result (:mod:`.report` for ``imgopt report``, :mod:`.scan` for ``imgopt scan``), its
Jinja2 template in ``templates/`` (autoescaped), the charts in :mod:`.charts`.

:func:`environment` is the one Jinja2 environment they share, with the filters every page uses.
Every figure a page shows carries its exact value in a ``data-`` attribute (``data-bytes``,
``data-seconds``) so a test can compare it with the JSON.
"""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup, escape

from imgopt.progress import human


def bytes_span(n) -> Markup:
    return Markup(f'<span class="num" data-bytes="{int(n)}">{escape(human(n))}</span>')


def seconds_span(s) -> Markup:
    return Markup(f'<span class="num" data-seconds="{float(s):.4f}">{float(s):.2f} s</span>')


def pct(part, whole) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment over ``templates/`` (autoescaped, undefined names are errors)."""
    import jinja2

    from imgopt.formats.html import charts

    env = jinja2.Environment(loader=jinja2.PackageLoader("imgopt.formats.html", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(bytes=bytes_span, seconds=seconds_span, human=human, pct=pct)
    env.globals.update(pct=pct, charts=charts)
    return env


def template_source(name: str) -> str:
    """A file from ``templates/`` as text (stylesheets inlined into a page)."""
    env = environment()
    return env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
