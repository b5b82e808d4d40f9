"""``imgopt report``: one document people read -- sizes, junk, waste, where the bytes are, the
startup set, the simulated pull + start, lint findings, and recommendations ranked by what they save.

Library entry point::

    import imgopt
    from imgopt.formats import render
    from imgopt.report import ReportOptions

    result = imgopt.report("docker-archive:app.tar", ReportOptions(dockerfile="Dockerfile"))
    html = render("report", "html", result)      # one self-contained file

Pieces: :mod:`imgopt.report.recommend` (the recommendations, shared with the gate),
:mod:`imgopt.report.result` (``imgopt.report/v1``).  Rendering: :mod:`imgopt.formats`
(kind ``"report"``: html, markdown, json).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from imgopt.report.result import LayerBar, LintItem, ReportResult, Scenario, StartupDir, StartupFile, StartupSet

REGISTRIES = ("vpc", "public")


@dataclass
class ReportOptions:
    slim: str | None = None  # the slim image to compare with (imgopt slim's output)
    profile: str | None = None  # trace profile: the startup set, the lazy client, the slim what-if
    dockerfile: str | None = None  # ties layers to lines; linted
    target: str | None = None
    registries: list[str] = field(default_factory=lambda: list(REGISTRIES))
    zstd: bool = True  # measure zstd sizes for the recompression recommendation (reads every layer once more)
    jobs: int = 2
    progress: Callable[[str], None] | None = None  # one line per step


def build_report(image, options: ReportOptions | None = None, *, source=None, profile=None) -> ReportResult:
    """Analyze, lint, simulate and recommend for ``image`` (and ``options.slim``).

    ``profile``: an :class:`~imgopt.trace.profile.AccessProfile` already in memory (imgopt slim's);
    else ``options.profile`` is loaded.
    """
    from imgopt import __version__
    from imgopt.analyze import AnalyzeOptions, analyze
    from imgopt.image.transports import opened
    from imgopt.report.recommend import Estimator, Evidence, recommend
    from imgopt.simulate import profiles as P
    from imgopt.simulate.api import check_profile_image
    from imgopt.simulate.model import simulate
    from imgopt.simulate.workload import from_image

    opts = options or ReportOptions()
    say = opts.progress or (lambda _m: None)
    notes: list[str] = []
    lint = _lint(opts.dockerfile) if opts.dockerfile else None
    startup, prof = _startup(opts.profile, profile)
    regs = [P.load("registry", r) for r in opts.registries]
    clients = {"docker": P.load("client", "docker")}
    if opts.zstd:
        clients["containerd"] = P.load("client", "containerd")
    if startup.files:
        clients["lazy"] = P.load("client", "lazy")
    host = P.load("host", P.default_host_name())
    codecs = ("zstd",) if opts.zstd else ()
    with opened(image, source) as img:
        say(f"analyzing {img.name}...")
        analysis = analyze(img, AnalyzeOptions(dockerfile=opts.dockerfile, target=opts.target, jobs=opts.jobs))
        check_profile_image(prof, img, False, notes.append)
        say("measuring the pull workload...")
        workload = from_image(img, want_codecs=codecs, want_files=bool(startup.files))
    slim_analysis = slim_workload = None
    if opts.slim:
        with opened(opts.slim, source) as simg:
            say(f"analyzing {simg.name}...")
            slim_analysis = analyze(simg, AnalyzeOptions(jobs=opts.jobs))
            slim_workload = from_image(simg, want_files=bool(startup.files))
    say("simulating pulls...")
    scenarios = []
    for label, w in (("original", workload), ("slim", slim_workload)):
        if w is None:
            continue
        for reg in regs:
            for cname in ("docker", "lazy"):
                if cname not in clients:
                    continue
                r = simulate(w, reg, clients[cname], host, startup)
                scenarios.append(Scenario(label, w.name, reg.name, cname, "lazy" if cname == "lazy" else "eager",
                                          round(r.total, 4), round(r.pull, 4), round(r.start, 4), r.bytes_downloaded,
                                          r.timeline or []))
                notes += [n for n in r.notes if n not in notes]
    est = Estimator(workload, regs, clients, host, startup, [(p, s) for p, _, s in startup.files], slim_workload)
    ref = image if isinstance(image, str) else analysis.image.reference
    say("recommending...")
    recs = recommend(Evidence(analysis, ref, opts.dockerfile, lint, est, slim_analysis, opts.slim, opts.profile))
    return ReportResult(
        image=analysis.image.reference, slim_image=opts.slim, profile=opts.profile, dockerfile=opts.dockerfile,
        version=__version__, analysis=analysis, slim_analysis=slim_analysis, layers=_bars(analysis),
        scenarios=scenarios, startup=_startup_set(prof, analysis) if prof is not None else None,
        lint=_lint_items(lint, analysis) if lint is not None else None, recommendations=recs, notes=notes)


def _lint(dockerfile: str):
    from imgopt.lint import lint_paths

    return lint_paths([dockerfile])


def _startup(path: str | None, profile):
    from imgopt.simulate.api import load_startup
    from imgopt.simulate.model import Startup

    if profile is not None:
        files = sorted(((f.path, float(f.first_access), int(f.size or 0)) for f in profile.startup_files()),
                       key=lambda x: x[1])
        return Startup(float(profile.ready_time or 1.0), files, "profile"), profile
    return load_startup(path, None)


def _bars(a) -> list[LayerBar]:
    out = []
    for l in a.layers:
        junk = min(l.junk_bytes, l.file_bytes)
        waste = min(l.hidden_later_bytes, max(0, l.file_bytes - junk))
        out.append(LayerBar(l.index, l.file_bytes, max(0, l.file_bytes - junk - waste), junk, waste,
                            l.compressed_bytes, l.instruction, l.dockerfile))
    return out


def _startup_set(prof, a) -> StartupSet:
    files = prof.startup_files()
    sizes = {f.path: int(f.size or 0) for f in files}
    dirs = {d.path: d.bytes for d in a.directories}
    per: dict[str, int] = {}
    for p, s in sizes.items():
        parts = p.strip("/").split("/")[:-1]
        for depth in (1, 2):
            if len(parts) >= depth:
                d = "/" + "/".join(parts[:depth])
                per[d] = per.get(d, 0) + s
    rows = [StartupDir(d, b, max(dirs.get(d, b), b)) for d, b in per.items() if d in dirs or b]
    rows.sort(key=lambda r: (-r.bytes, r.path))
    largest = sorted(files, key=lambda f: -(f.size or 0))[:15]
    return StartupSet(len(files), sum(sizes.values()), a.summary.final_files, a.summary.final_bytes, prof.ready_time,
                      rows[:20], [StartupFile(f.path, int(f.size or 0), round(f.first_access, 4)) for f in largest])


def _lint_items(lint, a) -> list[LintItem]:
    out = []
    for f in lint.findings():
        layer = next((l.index for l in a.layers if l.dockerfile and l.dockerfile.line <= f.line
                      <= max(l.dockerfile.end_line, l.dockerfile.line)), None)
        out.append(LintItem(f.file, f.line, f.code, f.severity, f.message, layer))
    return out


def write_report(result: ReportResult, path: str, fmt: str | None = None) -> None:
    """Render ``result`` to ``path`` (format from the suffix: .html / .md / .json, unless ``fmt``), atomically."""
    from imgopt.formats import emit, render

    emit(render("report", fmt or format_for(path), result), path)


def format_for(path: str) -> str:
    from imgopt.errors import BadInput

    ext = os.path.splitext(path)[1].lower()
    fmt = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".json": "json"}.get(ext)
    if fmt is None:
        raise BadInput(path, "the report format comes from the suffix (.html, .md, .json); or pass --format")
    return fmt


def slim_report(img, profile, slim_ref: str, path: str, *, source=None) -> None:
    """The before/after report of a slim run (``imgopt slim --report FILE``)."""
    format_for(path)
    result = build_report(img, ReportOptions(slim=slim_ref), source=source, profile=profile)
    write_report(result, path)


__all__ = ["ReportOptions", "build_report", "write_report", "format_for", "slim_report", "ReportResult"]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.report(...) runs imgopt.api.report
