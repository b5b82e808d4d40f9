"""Dockerfiles: the parser, the one ``created_by`` reader, and history alignment.

* :mod:`imgopt.dockerfile.parser` -- :func:`parse_dockerfile`, BuildKit-faithful,
  never raises; problems are :class:`Diagnostic` (line, column, code, message).
* :mod:`imgopt.dockerfile.created_by` -- :func:`parse_created_by` for image
  history entries of both builders (``imgopt.image.model`` uses it too).
* :mod:`imgopt.dockerfile.history` -- :func:`map_layers`, which ties an image's
  layers to Dockerfile lines (``imgopt analyze --dockerfile``).
* :mod:`imgopt.dockerfile.shell`, :mod:`~imgopt.dockerfile.runs`,
  :mod:`~imgopt.dockerfile.variables` -- RUN bodies read as shell, and ARG/ENV
  expansion (what ``imgopt lint`` needs).

Names are imported from their modules on first use, so importing one part
(the parser, for lint) does not load the others.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Diagnostic": "parser", "Dockerfile": "parser", "Heredoc": "parser", "Instruction": "parser",
    "Stage": "parser", "Comment": "parser", "ImageRef": "parser", "parse_dockerfile": "parser",
    "parse_heredoc_word": "parser", "split_image": "parser",
    "BuildStep": "created_by", "parse_created_by": "created_by", "instruction_text": "created_by",
    "LayerOrigin": "history", "LayerMap": "history", "compare_step": "history", "map_layers": "history",
}


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'imgopt.dockerfile' has no attribute {name!r}")
    return getattr(importlib.import_module(f"imgopt.dockerfile.{mod}"), name)


__all__ = sorted(_WHERE)
