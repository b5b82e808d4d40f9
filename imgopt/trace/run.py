"""The trace entry points: unpack, choose a backend, run, and hand back the profile.

* :func:`run_trace` -- image reference (or :class:`Image`) in, AccessProfile out;
* :func:`trace_image` -- an open image, native or docker backend, full result;
* :func:`trace_rootfs` -- an unpacked rootfs directory and a config (what
  ``imgopt minify`` uses to check that a slimmed rootfs still passes its
  probes: ``result.passed``, and ``result.missing`` for what it looked for
  and did not find).

Where the entrypoint runs is a backend (:mod:`imgopt.trace.backends`); what
every run shares is :mod:`imgopt.trace.session`; the profile is built by
:mod:`imgopt.trace.profile_build`.
"""

from __future__ import annotations

import os
from dataclasses import replace

from imgopt.errors import BadInput
from imgopt.image.model import Image, ImageConfig, Platform
from imgopt.trace.backends import Target, backend, choose
from imgopt.trace.options import TraceOptions
from imgopt.trace.autoprobe import Auto
from imgopt.trace.probes import Probe
from imgopt.trace.profile import AccessProfile
from imgopt.trace.result import TraceResult
from imgopt.trace.rootfs import RootFS
from imgopt.trace.runspec import run_spec
from imgopt.trace.scratch import mkscratch, rmtree


def run_trace(image: "str | Image", probes: list[Probe] | None = None,
              options: TraceOptions | None = None) -> AccessProfile:
    """Trace ``image`` (a reference like ``docker-archive:app.tar`` or an open Image)."""
    from imgopt.image.transports import opened

    with opened(image) as img:
        return trace_image(img, probes, options).profile


def trace_image(image: Image, probes: list[Probe] | None = None,
                options: TraceOptions | None = None) -> TraceResult:
    """Unpack ``image`` into a scratch directory (for lookups; and to run it, natively) and trace it."""
    from imgopt.image.unpack import unpack

    opts = options or TraceOptions()
    opts.check()
    _check_platform(image)
    opts = choose(opts)
    scratch = mkscratch(opts)
    try:
        rootfs = os.path.join(scratch, "rootfs")
        unpack(image, rootfs)
        if opts.backend == "native" and opts.userns == "auto" and os.geteuid() == 0:
            from imgopt.trace.userns import shift_ownership

            shift_ownership(rootfs)  # our own copy: owned by the sandbox's uid range (imgopt.trace.userns)
        res = _run(RootFS(rootfs), image.config, probes, opts, scratch, image, image.name, image.digest,
                   image.config_digest)
        if opts.keep_scratch:
            res.scratch = scratch
        return res
    finally:
        if not opts.keep_scratch:
            rmtree(scratch)


def trace_rootfs(rootfs: str, config: ImageConfig, probes: list[Probe] | None = None,
                 options: TraceOptions | None = None, *, scratch: str | None = None, image_name: str = "",
                 image_digest: str = "", config_digest: str = "") -> TraceResult:
    """Run ``config``'s entrypoint on the unpacked ``rootfs`` in a native sandbox and trace it.

    The rootfs is not modified (an overlay takes the writes).  Without
    ``probes``, :mod:`~imgopt.trace.autoprobe` finds out how the app is used.
    """
    opts = options or TraceOptions()
    opts.check()
    if opts.backend == "docker":
        raise BadInput("--backend docker", "an unpacked rootfs runs natively; trace the image for docker")
    if not os.path.isdir(rootfs):
        raise BadInput(rootfs, "no such rootfs directory")
    own = scratch is None
    scratch = scratch or mkscratch(opts)
    try:
        res = _run(RootFS(rootfs), config, probes, replace(opts, backend="native"), scratch, None,
                   image_name or rootfs, image_digest, config_digest)
        if opts.keep_scratch:
            res.scratch = scratch
        return res
    finally:
        if own and not opts.keep_scratch:
            rmtree(scratch)


def _run(fs: RootFS, config: ImageConfig, probes: list[Probe] | None, opts: TraceOptions, scratch: str,
         image: Image | None, name: str, image_digest: str, config_digest: str) -> TraceResult:
    """The run spec and the probes for ``config``, then the chosen backend."""
    run = run_spec(config, fs, opts.overrides, name)
    probes = probes or Auto(config.exposed_ports)  # zero-config probing (imgopt.trace.autoprobe)
    target = Target(fs, config, run, probes, scratch, image, name, image_digest, config_digest)
    return backend(opts.backend).trace(target, opts)


def _check_platform(image: Image) -> None:
    want, have = Platform.host(), image.config.platform
    if have.os and have.architecture and (have.os != want.os or have.architecture != want.architecture):
        raise BadInput(image.name, f"image is for {have}, this host runs {want}: cannot run its entrypoint")


__all__ = ["run_trace", "trace_image", "trace_rootfs"]
