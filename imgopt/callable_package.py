"""Stage packages that are also their pipeline: ``imgopt.analyze(...)`` is :func:`imgopt.api.analyze`.

``imgopt.analyze``, ``imgopt.trace``, ``imgopt.minify`` and ``imgopt.simulate``
are packages (their modules are the stage's library), and calling one runs the
pipeline of the same name in :mod:`imgopt.api`.  A plain function of that name
on the top-level package would be replaced by the subpackage the moment
anything imports it, so the package itself is made callable.
"""

from __future__ import annotations

import importlib
import sys
import types


class PipelinePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        pipeline = getattr(importlib.import_module("imgopt.api"), self.__name__.rpartition(".")[2])
        return pipeline(*args, **kwargs)


def make_callable(name: str) -> None:
    """Make the package ``name`` (``imgopt.STAGE``) call :func:`imgopt.api.STAGE`."""
    sys.modules[name].__class__ = PipelinePackage


__all__ = ["make_callable", "PipelinePackage"]
