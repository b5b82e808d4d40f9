"""HTML pages: one self-contained file per result (inline CSS and script, no network), rendered
from a jinja2 template beside its module (``<kind>.py`` + ``<kind>.html.j2``)."""

from __future__ import annotations


def environment():
    """The jinja2 environment over this package's templates (autoescaped)."""
    import jinja2

    from imgopt.progress import human

    env = jinja2.Environment(loader=jinja2.PackageLoader("imgopt.formats", "html"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["human"] = human
    env.filters["pct"] = lambda part, whole: f"{100 * part / whole:.1f} %" if whole else "-"
    return env
