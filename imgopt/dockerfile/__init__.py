"""Dockerfiles: the parser, the one ``created_by`` reader, and history alignment.

* :mod:`imgopt.dockerfile.parser` -- :func:`parse_dockerfile`, BuildKit-faithful,
  never raises; problems are :class:`Diagnostic` (line, column, code, message).
* :mod:`imgopt.dockerfile.created_by` -- :func:`parse_created_by` for image
  history entries of both builders (``imgopt.image.model`` uses it too).
* :mod:`imgopt.dockerfile.history` -- :func:`map_layers`, which ties an image's
  layers to Dockerfile lines (``imgopt analyze --dockerfile``).  Imported on
  first use, so the parser alone stays light (``imgopt lint``).
"""

from __future__ import annotations

from imgopt.dockerfile.created_by import BuildStep, instruction_text, parse_created_by
from imgopt.dockerfile.parser import (
    Diagnostic, Dockerfile, Heredoc, Instruction, Stage, parse_dockerfile, parse_heredoc_word,
)

_HISTORY = ("LayerOrigin", "LayerMap", "compare_step", "map_layers")


def __getattr__(name: str):
    if name in _HISTORY:
        from imgopt.dockerfile import history

        return getattr(history, name)
    raise AttributeError(f"module 'imgopt.dockerfile' has no attribute {name!r}")


__all__ = [
    "Diagnostic", "Dockerfile", "Heredoc", "Instruction", "Stage", "parse_dockerfile", "parse_heredoc_word",
    "BuildStep", "parse_created_by", "instruction_text", *_HISTORY,
]
