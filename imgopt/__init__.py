"""imgopt: make container images start fast.

The library is importable on its own; the CLI (:mod:`imgopt.cli`) is a thin
layer over it.  One call per command, typed options in, typed result out
(:mod:`imgopt.api`)::

    import imgopt
    from imgopt.minify.pipeline import SlimOptions

    report = imgopt.analyze("docker-archive:app.tar")          # AnalysisResult (imgopt.analysis/v1)
    profile = imgopt.trace("docker-archive:app.tar").profile   # AccessProfile (imgopt.profile/v1)
    slim = imgopt.slim("docker-archive:app.tar", SlimOptions(output="oci:slim:app"))   # MinifyResult
    pulls = imgopt.simulate("docker-archive:app.tar")          # SimulationResult
    fleet = imgopt.scan(["docker://registry.example:5000"])    # ScanResult (imgopt.scan/v1)

``imgopt.inspect``, ``imgopt.slim`` and ``imgopt.copy`` are functions;
``imgopt.analyze``, ``imgopt.trace``, ``imgopt.minify``, ``imgopt.simulate``,
``imgopt.gate``, ``imgopt.report`` and ``imgopt.scan`` are the stage packages, callable (:mod:`imgopt.callable_package`).  Everything
is imported on first use: ``import imgopt`` costs nothing.  Reading and
writing images: :mod:`imgopt.image.transports` (``open_image``,
``write_image``); rendering results: :mod:`imgopt.formats`.  The map of the
package: docs/architecture.md.
"""

import importlib

__version__ = "0.1.0"

_FUNCTIONS = ("inspect", "slim", "copy")  # in imgopt.api
_PACKAGES = ("analyze", "trace", "minify", "simulate", "gate", "report", "scan")  # callable stage packages


def __getattr__(name: str):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module("imgopt.api"), name)
    if name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *_FUNCTIONS, *_PACKAGES]
