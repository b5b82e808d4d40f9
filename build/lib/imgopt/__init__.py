"""imgopt: make container images start fast.

The library is importable on its own; the CLI (:mod:`imgopt.cli`) is a thin
layer over it.  Start with :func:`imgopt.image.open_image`.
"""

__version__ = "0.1.0"
