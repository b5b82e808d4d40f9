"""``imgopt simulate`` as a function: images x what-ifs x registries x clients -> :class:`SimulationResult`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

from imgopt.errors import BadInput
from imgopt.simulate import profiles as P
from imgopt.simulate.model import Startup, simulate
from imgopt.simulate.result import Result, SimulationResult
from imgopt.simulate.workload import Workload, apply_what_if, from_image, needed_codecs, parse_what_if

DEFAULT_READY_TIME = 1.0  # seconds; used when there is no trace profile and no --ready-time


@dataclass
class SimulateOptions:
    """What to predict besides the image.  Profiles are given as loaded profiles or as names / YAML paths."""

    registries: list = field(default_factory=lambda: ["vpc", "public"])  # RegistryProfile | name | path
    clients: list = field(default_factory=lambda: ["docker"])  # ClientProfile | name | path
    host: object = None  # HostProfile | name | path; None: the calibrated one, else "reference"
    compare: list[str] = field(default_factory=list)  # more images predicted alongside (e.g. the slim one)
    what_ifs: list = field(default_factory=list)  # "compress=zstd,slim" specs or parse_what_if() dicts
    profile_path: str | None = None  # access profile from imgopt trace: startup files and ready time
    ready_time: float | None = None  # app seconds until ready (default: the profile's, else 1 s)
    strict: bool = False  # a profile of another image is an error, not a warning

    def resolved(self) -> tuple[list[P.RegistryProfile], list[P.ClientProfile], P.HostProfile, list[dict]]:
        """(registries, clients, host, what-ifs) loaded and parsed."""
        regs = [r if isinstance(r, P.RegistryProfile) else P.load("registry", r) for r in self.registries]
        cls = [c if isinstance(c, P.ClientProfile) else P.load("client", c) for c in self.clients]
        host = self.host if isinstance(self.host, P.HostProfile) else P.load("host", self.host or P.default_host_name())
        wis = [w if isinstance(w, dict) else parse_what_if(w) for w in self.what_ifs]
        return regs, cls, host, wis


def load_startup(profile_path: str | None, ready_time: float | None):
    """(Startup, AccessProfile or None) from --profile / --ready-time."""
    if ready_time is not None and not ready_time >= 0:
        raise BadInput("--ready-time", f"must be >= 0 seconds, not {ready_time}")
    if profile_path is None:
        if ready_time is not None:
            return Startup(ready_time, [], "option"), None
        return Startup(DEFAULT_READY_TIME, [], "assumed"), None
    from imgopt.trace.profile import AccessProfile

    prof = AccessProfile.load(profile_path)
    files = [(f.path, float(f.first_access), int(f.size or 0)) for f in prof.startup_files()]
    files.sort(key=lambda x: x[1])
    rt = ready_time if ready_time is not None else prof.ready_time
    source = "option" if ready_time is not None else "profile"
    if rt is None:
        raise BadInput(profile_path, "the traced app never became ready (ready_time is null); pass --ready-time")
    return Startup(float(rt), files, source), prof


def check_profile_image(prof, image, strict: bool, warn) -> None:
    if prof is None:
        return
    if prof.image_digest in (image.digest,) or prof.config_digest in (image.config_digest,):
        return
    msg = (f"trace profile was recorded for {prof.image or '?'} ({(prof.config_digest or prof.image_digest)[:19]}), "
           f"not this image ({image.config_digest[:19]})")
    if strict:
        raise BadInput(image.name, msg)
    warn(f"imgopt: warning: {image.name}: {msg}")


def simulate_images(image, options: SimulateOptions | None = None, *, source=None,
                    warn: Callable[[str], None] | None = None) -> SimulationResult:
    """Predict ``image`` (a reference or open Image) and ``options.compare`` per registry x client.

    ``warn``: where a one-line warning goes (default: stderr).
    """
    from imgopt.image.transports import opened

    opts = options or SimulateOptions()
    warn = warn or (lambda m: print(m, file=sys.stderr))
    registries, clients, host, what_ifs = opts.resolved()
    startup, prof = load_startup(opts.profile_path, opts.ready_time)
    lazy = any(c.unpack == "lazy" for c in clients)
    if lazy and not startup.files:
        raise BadInput("--client lazy", "the lazy client needs the startup set: pass --profile TRACE.json "
                                        "(from imgopt trace); without it every file would be a guess")
    slim = any("slim" in w for w in what_ifs)
    if slim and not startup.files:
        raise BadInput("--what-if", "slim needs a trace profile (--profile) listing the startup files")
    want_files = bool(startup.files) and (lazy or slim)
    results: list[Result] = []
    for n, ref in enumerate([image, *opts.compare]):
        with opened(ref, source) as img:
            if n == 0:
                check_profile_image(prof, img, opts.strict, warn)
            base = from_image(img, want_codecs=needed_codecs(what_ifs), want_files=want_files)
        variants: list[Workload] = [base] + [apply_what_if(base, w, [(p, s) for p, _, s in startup.files])
                                             for w in what_ifs]
        for w in variants:
            for reg in registries:
                for client in clients:
                    results.append(simulate(w, reg, client, host, startup))
    return SimulationResult(results)


__all__ = ["SimulateOptions", "simulate_images", "load_startup", "DEFAULT_READY_TIME", "parse_what_if"]
