"""Loading what a registration table names: ``"module:attribute"`` strings, imported on first use.

The tables (:data:`imgopt.image.transports.TRANSPORTS`, :data:`imgopt.trace.backends.BACKENDS`,
:data:`imgopt.formats.FORMATTERS`, the CLI's ``LAZY_COMMANDS``) name their entries this way so a
command imports only what it uses.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any


def load(target: str) -> Any:
    """The attribute ``target`` (``"package.module:name"``) names, importing its module."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.cache
def instance(target: str) -> Any:
    """One shared instance of the class ``target`` names (plugins are stateless singletons)."""
    return load(target)()


__all__ = ["load", "instance"]
