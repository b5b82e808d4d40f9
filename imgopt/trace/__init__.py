"""Run an image's entrypoint in a sandbox and record which files it touches.

Library API (what ``imgopt trace`` and ``imgopt minify`` call)::

    from imgopt.trace import run_trace, trace_image, trace_rootfs, TraceOptions, load_probes

    profile = run_trace("docker-archive:app.tar")                       # -> AccessProfile (no probes: found)
    profile.discovery, profile.served_dirs                              # what zero-config probing found
    replay_probes(profile)                                              # the probes that passed, to replay
    result = trace_image(img, load_probes("probe.yaml"), TraceOptions(backend="docker"))
    result = trace_rootfs("/scratch/slim-rootfs", img.config, probes)   # minify's verification
    result.passed, result.failure, result.missing, result.profile

See docs/trace.md.
"""

from imgopt.trace.autoprobe import replay_probes, write_probe_file
from imgopt.trace.probes import (ExecProbe, ExitProbe, HttpProbe, Probe, TcpProbe, TimeoutProbe, default_probes,
                                 load_probes, parse_probes)
from imgopt.trace.profile import AccessProfile, Discovery, DirUse, FileAccess, ListeningSocket, ProbeResult, ProcessInfo
from imgopt.trace.options import TraceOptions
from imgopt.trace.result import TraceResult
from imgopt.trace.run import run_trace, trace_image, trace_rootfs
from imgopt.trace.runspec import Overrides, RunSpec

__all__ = [
    "run_trace", "trace_image", "trace_rootfs", "TraceOptions", "TraceResult", "Overrides", "RunSpec",
    "load_probes", "parse_probes", "default_probes", "Probe", "HttpProbe", "TcpProbe", "ExecProbe", "ExitProbe",
    "TimeoutProbe", "AccessProfile", "FileAccess", "ProbeResult", "ProcessInfo", "Discovery", "ListeningSocket",
    "DirUse", "replay_probes", "write_probe_file",
]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.trace(...) runs imgopt.api.trace
