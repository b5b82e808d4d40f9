"""HTML renderers: :mod:`imgopt.formats.html.report` (``imgopt report``), its charts (:mod:`.charts`)
and templates (``templates/``, Jinja2 with autoescape)."""
