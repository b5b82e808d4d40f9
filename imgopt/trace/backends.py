"""Trace backends: where the entrypoint runs, behind one small protocol.

A backend takes a :class:`Target` (the unpacked image, its run spec, the
probes, a scratch directory) and returns a
:class:`~imgopt.trace.result.TraceResult`.  They are registered in
:data:`BACKENDS` (imported when first used):

* ``native`` (:mod:`imgopt.trace.native_backend`): fresh namespaces on the
  unpacked rootfs, no daemon;
* ``docker`` (:mod:`imgopt.trace.docker`): the real engine, with the user's
  runtime options.

``--backend auto`` takes the first of :data:`AUTO_ORDER` whose
``auto_ok(options)`` says it can run this trace.  To add a backend: a class
with ``name``, ``volumes``, ``auto_ok`` and ``trace``, one line in :data:`BACKENDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Protocol

from imgopt.errors import BadInput
from imgopt.plugins import instance

if TYPE_CHECKING:  # types only: options.py imports this module for the names
    from imgopt.image.model import Image, ImageConfig
    from imgopt.trace.options import TraceOptions
    from imgopt.trace.probes import Probe
    from imgopt.trace.result import TraceResult
    from imgopt.trace.rootfs import RootFS
    from imgopt.trace.runspec import RunSpec

BACKENDS: dict[str, str] = {
    "native": "imgopt.trace.native_backend:NativeBackend",
    "docker": "imgopt.trace.docker:DockerBackend",
}
AUTO_ORDER = ("docker", "native")  # the real engine when it can run the trace, else the native sandbox


@dataclass
class Target:
    """What a backend runs: the image unpacked in ``scratch``, how to start it, and how to tell it is ready."""

    fs: RootFS  # the unpacked image (lookups; the native sandbox runs on it)
    config: ImageConfig
    run: RunSpec  # argv, env, user, workdir (the image's, with the overrides)
    probes: list[Probe]
    scratch: str  # private directory for logs, the strace bundle, the overlay
    image: Image | None = None  # the image itself (None: only an unpacked rootfs, as minify's verification has)
    image_name: str = ""
    image_digest: str = ""
    config_digest: str = ""


class Backend(Protocol):
    name: ClassVar[str]
    volumes: ClassVar[bool]  # can bind-mount host paths (-v)

    def auto_ok(self, opts: TraceOptions) -> bool:
        """May ``--backend auto`` choose this backend for ``opts`` on this host?"""
        ...

    def trace(self, target: Target, opts: TraceOptions) -> TraceResult:
        ...


def backend(name: str) -> Backend:
    """The backend registered as ``name``."""
    return instance(BACKENDS[name])


def choose(opts: TraceOptions) -> TraceOptions:
    """``opts`` with ``backend="auto"`` resolved to the first backend of :data:`AUTO_ORDER` that can run it."""
    if opts.backend != "auto":
        return opts
    choice = next(name for name in AUTO_ORDER if backend(name).auto_ok(opts))
    if opts.volumes and not backend(choice).volumes:
        raise BadInput("-v", "volumes need the docker backend, and no Docker engine answers")
    return replace(opts, backend=choice)


__all__ = ["BACKENDS", "AUTO_ORDER", "Target", "Backend", "backend", "choose"]
