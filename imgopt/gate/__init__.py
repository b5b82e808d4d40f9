"""``imgopt gate``: a CI gate on image size, junk, waste, cold start and lint, with dive's rules.

Library entry point::

    import imgopt
    from imgopt.gate import GateOptions

    result = imgopt.gate("docker-archive:app.tar", GateOptions(config=".imgopt.yaml", dockerfile="Dockerfile"))
    print(result.passed, [c.id for c in result.failed_checks])

Pieces: :mod:`imgopt.gate.config` (the thresholds: the ``gate:`` section, ``.dive-ci``),
:mod:`imgopt.gate.checks` (one function per family of checks), :mod:`imgopt.gate.baseline`
(``--baseline``), :mod:`imgopt.gate.result` (``imgopt.gate/v1``).  What to do about a failed
check comes from :mod:`imgopt.report.recommend`.  Output: :mod:`imgopt.formats` (kind ``"gate"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from imgopt.gate.result import GateResult


@dataclass
class GateOptions:
    config: str | None = None  # imgopt's configuration file (default: the project's, found upwards)
    dive_ci: str | None = None  # dive's .dive-ci file (default: the config's dive-ci:, else ./.dive-ci if there)
    baseline: str | None = None  # an image, or a gate / analysis JSON document
    dockerfile: str | None = None  # ties layers to lines; enables the lint checks
    target: str | None = None  # Dockerfile stage the image was built from
    profile: str | None = None  # trace profile: startup set and ready time for the cold-start checks
    jobs: int = 2
    progress: object | None = None


def run_gate(image, options: GateOptions | None = None, *, source=None) -> GateResult:
    """Measure ``image`` (a reference or an open Image) against the thresholds; ``result.passed`` says."""
    from imgopt.analyze import AnalyzeOptions, analyze
    from imgopt.gate import config as gate_config
    from imgopt.gate.baseline import facts_of, load_baseline
    from imgopt.gate.checks import Context, run_checks
    from imgopt.image.transports import opened
    from imgopt.report.recommend import Evidence, recommend

    opts = options or GateOptions()
    cfg = gate_config.load(opts.config, opts.dive_ci)
    notes: list[str] = []
    lint = _lint(opts) if opts.dockerfile else None
    with opened(image, source) as img:
        analysis = analyze(img, AnalyzeOptions(dockerfile=opts.dockerfile, target=opts.target, jobs=opts.jobs,
                                               progress=opts.progress))
        cold, est = _cold_start(img, cfg, opts, notes) if cfg.max_cold_start else ({}, None)
    baseline = None
    if opts.baseline:
        def analyze_ref(ref):
            with opened(ref, source) as bimg:
                return analyze(bimg, AnalyzeOptions(jobs=opts.jobs))

        baseline = load_baseline(opts.baseline, analyze_ref)
    name = analysis.image.reference
    recs = recommend(Evidence(analysis, name, opts.dockerfile, lint, est, profile_path=opts.profile))
    ctx = Context(cfg, analysis, name, opts.dockerfile, lint, cold, baseline, opts.baseline, recs)
    checks = run_checks(ctx)
    order = {"fail": 0, "skip": 1, "pass": 2, "info": 3}
    checks.sort(key=lambda c: order[c.status])
    if lint is not None:
        notes += lint.notes
    return GateResult(name, not any(c.failed for c in checks), cfg.path, cfg.dive_ci, opts.dockerfile,
                      opts.baseline, checks, facts_of(analysis, lint), notes)


def _lint(opts: GateOptions):
    from imgopt import config as project
    from imgopt.lint import lint_paths
    from imgopt.lint.config import build

    explicit = opts.config
    if explicit and (explicit.endswith(".toml") or "lint" in project.load(explicit).sections):
        cfg = build(explicit)
    else:
        cfg = build()
    return lint_paths([opts.dockerfile], cfg)


def _cold_start(img, cfg, opts: GateOptions, notes: list[str]):
    """Simulate the (registry, client) pairs the limits name (the limits are rekeyed by profile name),
    and an :class:`~imgopt.report.recommend.Estimator` so the advice can say which change saves seconds."""
    from imgopt.errors import BadInput
    from imgopt.report.recommend import Estimator
    from imgopt.simulate import profiles as P
    from imgopt.simulate.api import check_profile_image, load_startup
    from imgopt.simulate.model import simulate
    from imgopt.simulate.workload import from_image

    regs: dict[str, object] = {}
    clients: dict[str, object] = {}
    pairs = []
    for lim in cfg.max_cold_start:
        where = f"gate.max-cold-start ({lim.registry}/{lim.client})"
        try:
            r = regs.setdefault(lim.registry, P.load("registry", lim.registry))
            c = clients.setdefault(lim.client, P.load("client", lim.client))
        except BadInput as e:
            raise BadInput(where, e.problem) from None
        if c.unpack == "lazy" and not opts.profile:  # type: ignore[attr-defined]
            raise BadInput(where, "the lazy client needs the startup set: pass --profile TRACE.json")
        lim.registry, lim.client = r.name, c.name  # type: ignore[attr-defined]
        pairs.append((r, c))
    startup, prof = load_startup(opts.profile, None)
    check_profile_image(prof, img, False, notes.append)
    host = P.load("host", P.default_host_name())
    workload = from_image(img, want_files=bool(startup.files))
    results = {(r.name, c.name): simulate(workload, r, c, host, startup) for r, c in pairs}  # type: ignore
    by_name = {r.name: r for r in regs.values()}  # type: ignore[attr-defined]
    for n in ("vpc", "public"):
        by_name.setdefault(n, P.load("registry", n))
    named = {c.name: c for c in clients.values()}  # type: ignore[attr-defined]
    named.setdefault("docker", P.load("client", "docker"))
    est = Estimator(workload, list(by_name.values()), named, host, startup,
                    [(p, s) for p, _, s in startup.files])
    return results, est


__all__ = ["GateOptions", "run_gate", "GateResult"]


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.gate(...) runs imgopt.api.gate
