"""`imgopt simulate` as a function: images x registries x clients -> results."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from imgopt.errors import BadInput
from imgopt.simulate import profiles as P
from imgopt.simulate.model import Result, Startup, simulate
from imgopt.simulate.workload import Workload, apply_what_if, from_image, needed_codecs, parse_what_if

DEFAULT_READY_TIME = 1.0  # seconds; used when there is no trace profile and no --ready-time


@dataclass
class Request:
    images: list[str]
    registries: list[P.RegistryProfile]
    clients: list[P.ClientProfile]
    host: P.HostProfile
    what_ifs: list[dict[str, str]] = field(default_factory=list)
    profile_path: str | None = None
    ready_time: float | None = None
    strict: bool = False
    source_opts: object | None = None


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


def run(req: Request, warn=lambda m: print(m, file=sys.stderr)) -> list[Result]:
    from imgopt.image.sources import open_image

    startup, prof = load_startup(req.profile_path, req.ready_time)
    lazy = any(c.unpack == "lazy" for c in req.clients)
    if lazy and not startup.files:
        raise BadInput("--client lazy", "the lazy client needs the startup set: pass --profile TRACE.json "
                                        "(from imgopt trace); without it every file would be a guess")
    slim = any("slim" in w for w in req.what_ifs)
    if slim and not startup.files:
        raise BadInput("--what-if", "slim needs a trace profile (--profile) listing the startup files")
    want_files = bool(startup.files) and (lazy or slim)
    results: list[Result] = []
    for n, ref in enumerate(req.images):
        with open_image(ref, req.source_opts) as img:
            if n == 0:
                check_profile_image(prof, img, req.strict, warn)
            base = from_image(img, want_codecs=needed_codecs(req.what_ifs), want_files=want_files)
        variants: list[Workload] = [base] + [apply_what_if(base, w, [(p, s) for p, _, s in startup.files])
                                             for w in req.what_ifs]
        for w in variants:
            for reg in req.registries:
                for client in req.clients:
                    results.append(simulate(w, reg, client, req.host, startup))
    return results


__all__ = ["Request", "run", "load_startup", "DEFAULT_READY_TIME", "parse_what_if"]
