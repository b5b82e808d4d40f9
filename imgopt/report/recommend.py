"""The recommendation engine: what to change, where, with which command, and what it saves.

One home for "what to do about it": ``imgopt report`` ranks these, ``imgopt gate`` prints the ones
that address a failed check.  :func:`recommend` reads the :class:`Evidence` (the analysis, and
when there: the Dockerfile's lint findings, the measured pull workload and the simulator's
profiles, the slim image's analysis, the startup profile) and returns :class:`Recommendation`
objects ranked by estimated seconds saved, then bytes.

Estimates:

* bytes: from the analysis (a junk class's bytes in the layer that stores them, the bytes upper
  layers hide, the slim image's measured size); bytes a pull downloads scale them by the layer's
  compression ratio (measured by :mod:`imgopt.simulate.workload`);
* seconds: the simulator (:mod:`imgopt.simulate.model`) run on the image's workload and on the
  workload with the change applied (layers shrunk, re-encoded, slimmed, another registry or
  client), cold pull + start, docker client unless said otherwise.  Without a workload (the gate)
  there are no seconds, only bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgopt.analyze.result import AnalysisResult
    from imgopt.lint.model import LintResult
    from imgopt.simulate.workload import Workload

MB = 1_000_000
MIN_BYTES = 1 * MB  # a saving this big is always worth a recommendation...


def _min_bytes(a) -> int:
    """...and so is 1 % of a small image (at least 64 kB)."""
    return min(MIN_BYTES, max(64_000, a.summary.final_bytes // 100))


@dataclass
class DockerfileLine:
    file: str
    line: int
    end_line: int
    instruction: str


@dataclass
class Recommendation:
    """One change, where it applies, and what it is estimated to save."""

    id: str  # stable: junk.apt-lists.L1, waste.L3, slim, compress.zstd, endpoint.vpc, lazy, layers, duplicates
    kind: str  # junk.<class> | waste | slim | compress | endpoint | lazy | layers | duplicates
    title: str
    action: str  # what to do, in a sentence
    command: str  # the Dockerfile change or the imgopt command that does it
    bytes_saved: int  # image bytes (uncompressed) the change removes
    download_bytes_saved: int  # bytes a pull no longer downloads
    seconds_saved: dict[str, float]  # simulator registry profile -> seconds of cold pull + start saved
    layer: int | None
    dockerfile: DockerfileLine | None
    lint_rule: str | None  # the lint rule that flags it, when one applies
    basis: str  # how the figures were estimated

    @property
    def best_seconds(self) -> float:
        return max(self.seconds_saved.values(), default=0.0)

    @property
    def where(self) -> str:
        """``layer 1 (Dockerfile:5)`` / ``Dockerfile:5`` / ``layer 1`` / ``the image``."""
        parts = []
        if self.layer is not None:
            parts.append(f"layer {self.layer}")
        if self.dockerfile is not None:
            d = f"{self.dockerfile.file}:{self.dockerfile.line}"
            parts.append(f"({d})" if parts else d)
        return " ".join(parts) or "the image"


# --------------------------------------------------------------- what to do, per junk class

@dataclass(frozen=True)
class Fix:
    action: str
    change: str  # what to write in the Dockerfile
    rules: tuple[str, ...] = ()  # lint rules that flag it, most specific first


JUNK_FIXES: dict[str, Fix] = {
    "apt-lists": Fix("Clean the apt lists in the same RUN that installs the packages",
                     "&& rm -rf /var/lib/apt/lists/*", ("DL3009", "IMG104")),
    "apt-archives": Fix("Clean apt's downloaded packages in the same RUN",
                        "&& apt-get clean && rm -rf /var/cache/apt/archives/*.deb", ("IMG104",)),
    "dpkg-leftovers": Fix("Remove dpkg's leftover config copies in the same RUN",
                          "&& find /etc -name '*.dpkg-old' -o -name '*.dpkg-dist' -delete"),
    "apk-cache": Fix("Install without keeping apk's cache", "apk add --no-cache ...", ("DL3019", "IMG104")),
    "rpm-cache": Fix("Clean the dnf/yum cache in the same RUN", "&& dnf clean all (or yum clean all)",
                     ("DL3040", "DL3032", "IMG104")),
    "pip-cache": Fix("Install Python packages without pip's cache", "pip install --no-cache-dir ...",
                     ("DL3042", "IMG104")),
    "npm-cache": Fix("Clean npm's cache in the same RUN", "&& npm cache clean --force", ("IMG104", "DL3060")),
    "gem-cache": Fix("Install gems without documentation and cache", "gem install --no-document ...",
                     ("IMG104",)),
    "docs": Fix("Do not install documentation and man pages",
                "a dpkg path-exclude file before apt-get install: "
                "path-exclude=/usr/share/doc/* path-exclude=/usr/share/man/* path-exclude=/usr/share/info/*",
                ("IMG102",)),
    "locales": Fix("Keep only the locales the app uses",
                   "a dpkg path-exclude file before apt-get install: path-exclude=/usr/share/locale/* "
                   "(with path-include for the ones needed)", ("IMG102",)),
    "toolchain": Fix("Build in a separate stage and copy only the result (multi-stage build)",
                     "FROM ... AS build (compilers there), then COPY --from=build the built files",
                     ("IMG103",)),
    "leftover-archives": Fix("Delete archives and installers in the same RUN that unpacks them, or COPY them "
                             "from a build stage", "&& rm -f the archive after extracting or installing it",
                             ("IMG106",)),
    "pycache-unimportable": Fix("Do not ship stale bytecode", "ENV PYTHONDONTWRITEBYTECODE=1, or remove the "
                                "__pycache__ directories in the same RUN"),
    "vcs": Fix("Keep version-control directories out of the build context", "add .git to .dockerignore",
               ("IMG109",)),
    "package-tests": Fix("Remove the test suites installed packages ship",
                         "&& find / -path '*/site-packages/*/tests' -prune -exec rm -rf {} + in the same RUN"),
    "logs-tmp": Fix("Remove logs and temporary files in the same RUN that writes them",
                    "&& rm -rf /tmp/* /var/log/*.log"),
}
GENERIC_JUNK_FIX = Fix("Remove it in the same RUN that creates it", "&& rm -rf the paths in the same RUN")


def junk_fix(class_id: str) -> Fix:
    return JUNK_FIXES.get(class_id, GENERIC_JUNK_FIX)


# ------------------------------------------------------------------ evidence and estimates


@dataclass
class Evidence:
    """What the recommendations are made from; everything but ``analysis`` is optional."""

    analysis: AnalysisResult
    image: str  # the reference as the user wrote it (for the commands)
    dockerfile: str | None = None
    lint: LintResult | None = None
    estimator: "Estimator | None" = None
    slim: AnalysisResult | None = None  # the slim image's analysis (--slim)
    slim_image: str | None = None
    profile_path: str | None = None  # the trace profile (startup set)


class Estimator:
    """Seconds saved by a change: the simulator on the image's workload, before and after.

    ``registries``/``clients``/``host`` are loaded simulator profiles; ``startup`` the
    :class:`~imgopt.simulate.model.Startup`; ``startup_files`` [(path, size)] for the slim what-if.
    """

    def __init__(self, workload: Workload, registries: list, clients: dict[str, Any], host, startup,
                 startup_files: list[tuple[str, int]] | None = None, slim_workload: Workload | None = None):
        from imgopt.simulate.model import simulate

        self.workload, self.registries, self.clients, self.host = workload, registries, clients, host
        self.slim_workload = slim_workload
        self.startup, self.startup_files = startup, startup_files or []
        self._simulate = simulate
        self.base = {(r.name, c): self.total(workload, r, c) for r in registries for c in clients}

    def total(self, w: Workload, reg, client: str) -> float:
        return self._simulate(w, reg, self.clients[client], self.host, self.startup).total

    def saved(self, w: Workload, client: str = "docker") -> dict[str, float]:
        """Seconds ``w`` saves over the image's workload, per registry."""
        return {r.name: round(self.base[(r.name, client)] - self.total(w, r, client), 3) for r in self.registries}

    def shrunk(self, changes: dict[int, tuple[int, int]]) -> Workload:
        """The workload with ``changes`` {layer: (bytes, files)} removed from its layers."""
        from imgopt.simulate.workload import TAR_HEADER

        layers = []
        for l in self.workload.layers:
            b, n = changes.get(l.index, (0, 0))
            nl = replace(l)
            nl.sizes = dict(getattr(l, "sizes", {}))  # type: ignore[attr-defined]
            if b or n:
                ratio = l.ratio
                nl.uncompressed = max(0, l.uncompressed - b - n * TAR_HEADER)
                nl.files = max(0, l.files - n)
                nl.entries = max(0, l.entries - n)
                nl.compressed = int(nl.uncompressed * ratio)
            layers.append(nl)
        return replace(self.workload, layers=layers, variant="shrunk")

    def ratio(self, layer: int) -> float:
        for l in self.workload.layers:
            if l.index == layer:
                return l.ratio
        return 1.0


def _layer_line(ev: Evidence, layer: int | None) -> DockerfileLine | None:
    if layer is None or ev.dockerfile is None or layer >= len(ev.analysis.layers):
        return None
    ref = ev.analysis.layers[layer].dockerfile
    if ref is None:
        return None
    return DockerfileLine(ev.dockerfile, ref.line, ref.end_line, ref.instruction)


def _lint_rule(ev: Evidence, line: DockerfileLine | None, rules: tuple[str, ...]) -> str | None:
    """The first of ``rules`` lint found on ``line``'s instruction; without lint, the first that applies."""
    if not rules:
        return None
    if ev.lint is None or line is None:
        return rules[0]
    found = {f.code for f in ev.lint.findings() if line.line <= f.line <= max(line.end_line, line.line)}
    return next((r for r in rules if r in found), None)


def _instruction(ev: Evidence, layer: int | None) -> str:
    if layer is None or layer >= len(ev.analysis.layers):
        return ""
    l = ev.analysis.layers[layer]
    return " ".join((l.instruction or l.created_by or "").split())[:120]


def _estimates(ev: Evidence, changes: dict[int, tuple[int, int]]) -> tuple[int, dict[str, float], str]:
    """(download bytes saved, seconds saved per registry, basis) for removing ``changes`` from layers."""
    est = ev.estimator
    if est is None:
        down = sum(int(b * (ev.analysis.layers[i].compressed_bytes / ev.analysis.layers[i].uncompressed_bytes
                            if ev.analysis.layers[i].uncompressed_bytes else 1.0)) for i, (b, _) in changes.items())
        return down, {}, "bytes from the analysis"
    down = sum(int(b * est.ratio(i)) for i, (b, _) in changes.items())
    return down, est.saved(est.shrunk(changes)), ("bytes from the analysis; download bytes scaled by the layer's "
                                                  "measured compression ratio; seconds simulated (docker client)")


# ------------------------------------------------------------------ the recommendations


def recommend(ev: Evidence) -> list[Recommendation]:
    """Every recommendation for the image, ranked by estimated seconds saved, then bytes."""
    recs: list[Recommendation] = []
    recs += _junk(ev)
    recs += _waste(ev)
    recs += _duplicates(ev)
    recs += _slim(ev)
    recs += _compress(ev)
    recs += _endpoint(ev)
    recs += _lazy(ev)
    recs.sort(key=lambda r: (-round(r.best_seconds, 2), -r.bytes_saved, r.id))
    return recs


def _junk(ev: Evidence) -> list[Recommendation]:
    out = []
    for c in ev.analysis.junk:
        if not c.files or not c.safe_to_remove and c.id != "toolchain":
            continue
        fix = junk_fix(c.id)
        for layer_s, b in sorted(c.layers.items(), key=lambda kv: -kv[1]):
            layer = int(layer_s)
            if b < _min_bytes(ev.analysis):
                continue
            files = max(1, round(c.files * b / c.bytes)) if c.bytes else 0
            down, secs, basis = _estimates(ev, {layer: (b, files)})
            line = _layer_line(ev, layer)
            base = line is not None and line.instruction.upper().startswith("FROM")
            action = fix.action if not base else f"{fix.action} -- it comes with the base image: use a base " \
                                                 "without it, or a slim variant"
            if not c.safe_to_remove:
                action += " (review first: not every image can do without it)"
            out.append(Recommendation(
                id=f"junk.{c.id}.L{layer}", kind=f"junk.{c.id}", title=f"{c.title}: {_human(b)} in layer {layer}",
                action=action, command=fix.change if line is None or not base else "FROM a slimmer base",
                bytes_saved=b, download_bytes_saved=down, seconds_saved=secs, layer=layer, dockerfile=line,
                lint_rule=_lint_rule(ev, line, fix.rules), basis=basis))
    return out


def _waste(ev: Evidence) -> list[Recommendation]:
    out = []
    hiders: dict[int, dict[int, int]] = {}
    for h in ev.analysis.waste.top:
        hiders.setdefault(h.layer, {}).setdefault(h.hidden_by, 0)
        hiders[h.layer][h.hidden_by] += h.size
    deleted = {h.layer for h in ev.analysis.waste.top if h.reason in ("deleted", "opaque")}
    for l in ev.analysis.layers:
        b = l.hidden_later_bytes
        if b < _min_bytes(ev.analysis):
            continue
        by = sorted(hiders.get(l.index, {}).items(), key=lambda kv: -kv[1])
        by_txt = ", ".join(f"layer {j}" for j, _ in by[:3]) or "an upper layer"
        by_line = _layer_line(ev, by[0][0]) if by else None
        files = sum(1 for h in ev.analysis.waste.top if h.layer == l.index) or 1
        down, secs, basis = _estimates(ev, {l.index: (b, files)})
        line = _layer_line(ev, l.index)
        where = f" (line {by_line.line})" if by_line else ""
        out.append(Recommendation(
            id=f"waste.L{l.index}", kind="waste", title=f"{_human(b)} stored in layer {l.index} and hidden by "
                                                          f"{by_txt}",
            action=f"Delete or overwrite these files in the same RUN that creates them, not in {by_txt}{where}; "
                   "or rewrite the layers without the hidden bytes",
            command=f"imgopt minify {ev.image} --keep-all --layout original -o DEST",
            bytes_saved=b, download_bytes_saved=down, seconds_saved=secs, layer=l.index, dockerfile=line,
            lint_rule=_lint_rule(ev, by_line, ("IMG105",)) if l.index in deleted else None, basis=basis))
    return out


def _duplicates(ev: Evidence) -> list[Recommendation]:
    d = ev.analysis.duplicates
    if d.visible_duplicate_bytes < 5 * MB:
        return []
    changes: dict[int, tuple[int, int]] = {}
    for g in d.groups:
        visible = [c for c in g.copies if c.visible]
        for c in visible[1:]:
            b, n = changes.get(c.layer, (0, 0))
            changes[c.layer] = (b + g.size, n + 1)
    down, secs, basis = _estimates(ev, changes)
    layer = max(changes, key=lambda k: changes[k][0]) if changes else None
    return [Recommendation(
        id="duplicates", kind="duplicates", title=f"{_human(d.visible_duplicate_bytes)} in identical files at "
                                                  "different paths",
        action="Keep one copy and hardlink or symlink the others (or install them once)",
        command="ln -f / ln -s instead of copying in the RUN that makes the copies",
        bytes_saved=d.visible_duplicate_bytes, download_bytes_saved=down, seconds_saved=secs, layer=layer,
        dockerfile=_layer_line(ev, layer), lint_rule=None, basis=basis + " (largest groups)")]


def _slim(ev: Evidence) -> list[Recommendation]:
    a = ev.analysis
    cmd = (f"imgopt minify {ev.image} --profile {ev.profile_path} -o oci:slim:latest" if ev.profile_path
           else f"imgopt slim {ev.image} -o oci:slim:latest")
    est = ev.estimator
    if ev.slim is not None:
        b = a.summary.uncompressed_bytes - ev.slim.summary.uncompressed_bytes
        down = a.summary.compressed_bytes - ev.slim.summary.compressed_bytes
        secs: dict[str, float] = {}
        basis = "measured: the slim image's analysis"
        if est is not None and est.slim_workload is not None:
            secs = est.saved(est.slim_workload)
            basis += "; seconds simulated on the slim image (docker client)"
        title = f"Slim the image: {_human(max(b, 0))} less, measured"
    elif est is not None and est.startup_files:
        from imgopt.simulate.workload import apply_what_if

        w = apply_what_if(est.workload, {"slim": "profile"}, est.startup_files)
        b = est.workload.uncompressed - w.uncompressed
        down = est.workload.compressed - w.compressed
        secs = est.saved(w)
        basis = "simulator what-if slim (the traced startup files kept; imgopt slim keeps more: the static closure)"
        title = f"Slim the image to what starts it: about {_human(max(b, 0))} less"
    else:
        if a.summary.final_bytes < 20 * MB:
            return []
        return [Recommendation(
            id="slim", kind="slim", title="Slim the image to what it uses (not measured: no trace profile)",
            action="Trace the app to learn its startup set, then write a slim image keeping what it needs",
            command=cmd, bytes_saved=0, download_bytes_saved=0, seconds_saved={}, layer=None, dockerfile=None,
            lint_rule=None, basis="run imgopt trace (or pass --profile / --slim) to estimate it")]
    if b < _min_bytes(a):
        return []
    return [Recommendation(id="slim", kind="slim", title=title,
                           action="Write a slim image keeping the files the app uses, verified with its probes",
                           command=cmd, bytes_saved=max(b, 0), download_bytes_saved=max(down, 0),
                           seconds_saved=secs, layer=None, dockerfile=None, lint_rule=None, basis=basis)]


def _compress(ev: Evidence) -> list[Recommendation]:
    est = ev.estimator
    if est is None or "containerd" not in est.clients:
        return []
    sizes = [getattr(l, "sizes", {}).get("zstd") for l in est.workload.layers]
    if any(s is None for s in sizes) or all(l.codec == "zstd" for l in est.workload.layers):
        return []
    from imgopt.simulate.workload import apply_what_if

    w = apply_what_if(est.workload, {"compress": "zstd"}, None)
    down = est.workload.compressed - w.compressed
    secs = est.saved(w, client="containerd")
    if max(secs.values(), default=0) <= 0.05 and down < _min_bytes(ev.analysis):
        return []
    return [Recommendation(
        id="compress.zstd", kind="compress", title=f"Recompress the layers with zstd: {_human(max(down, 0))} less "
                                                   "to download",
        action="Re-encode every layer as zstd (containerd and Docker 23+ pull it; Docker 20.10 cannot)",
        command=f"imgopt copy --compress zstd {ev.image} DEST", bytes_saved=0, download_bytes_saved=max(down, 0),
        seconds_saved=secs, layer=None, dockerfile=None, lint_rule=None,
        basis="zstd -3 size measured by compressing each layer; seconds simulated with the containerd client "
              "(gzip vs zstd)")]


def _endpoint(ev: Evidence) -> list[Recommendation]:
    est = ev.estimator
    if est is None:
        return []
    names = [r.name for r in est.registries]
    if "public" not in names or "vpc" not in names:
        return []
    gain = est.base[("public", "docker")] - est.base[("vpc", "docker")]
    if gain <= 0.05:
        return []
    rule = _lint_rule(ev, None, ("IMG101",)) if ev.lint is None else \
        ("IMG101" if any(f.code == "IMG101" for f in ev.lint.findings()) else None)
    return [Recommendation(
        id="endpoint.vpc", kind="endpoint", title="Pull from a registry endpoint in the same region/VPC",
        action="Mirror the image (and its base) to a registry next to the nodes and pull from there",
        command=f"imgopt copy {ev.image} docker://REGISTRY.internal/REPO:TAG", bytes_saved=0,
        download_bytes_saved=0, seconds_saved={"public": round(gain, 3)}, layer=None, dockerfile=None,
        lint_rule=rule, basis="simulated: public vs vpc registry profile, docker client")]


def _lazy(ev: Evidence) -> list[Recommendation]:
    est = ev.estimator
    if est is None or "lazy" not in est.clients or not est.startup_files:
        return []
    secs = {r.name: round(est.base[(r.name, "docker")] - est.base[(r.name, "lazy")], 3) for r in est.registries}
    if max(secs.values(), default=0) <= 0.05:
        return []
    cmd = (f"imgopt minify {ev.image} --profile {ev.profile_path} --compress estargz -o DEST" if ev.profile_path
           else f"imgopt slim {ev.image} --compress estargz -o DEST")
    return [Recommendation(
        id="lazy", kind="lazy", title="Pull lazily: start before the whole image is downloaded",
        action="Write the layers as eStargz with the startup files first and run nodes with a lazy-pulling "
               "snapshotter (stargz-snapshotter)", command=cmd, bytes_saved=0, download_bytes_saved=0,
        seconds_saved=secs, layer=None, dockerfile=None, lint_rule=None,
        basis="simulated: lazy client (startup files fetched first) vs docker client")]


# ------------------------------------------------------------------ advice for the gate's checks

#: gate check -> the recommendation kinds that address it
CHECK_KINDS = {
    "max-size": ("junk.", "waste", "duplicates", "slim"),
    "max-compressed-size": ("junk.", "waste", "duplicates", "slim", "compress"),
    "max-junk": ("junk.",),
    "max-exact-waste": ("waste",),
    "lowest-efficiency": ("waste",),
    "highest-wasted-bytes": ("waste",),
    "highest-user-wasted-percent": ("waste",),
    "max-growth": ("junk.", "waste", "duplicates", "slim"),
    "max-compressed-growth": ("junk.", "waste", "duplicates", "slim", "compress"),
    "max-cold-start": ("endpoint", "lazy", "compress", "slim", "junk.", "waste"),
}

FIXED_ADVICE = {
    "max-layers": ("Combine consecutive RUN instructions (DL3059) and COPY what belongs together in one "
                   "instruction; or rewrite the image as fewer layers",
                   "imgopt minify IMAGE --keep-all --layout single -o DEST"),
    "max-lint": ("Fix the findings at or above the limit", "imgopt lint DOCKERFILE"),
    "no-new-lint-errors": ("Fix the new lint errors", "imgopt lint DOCKERFILE"),
}


def for_check(check_id: str, recs: list[Recommendation], image: str = "IMAGE", n: int = 3
              ) -> tuple[str, str]:
    """(advice, command) for a gate check: the top ``n`` recommendations that address it."""
    base = check_id.split(".")[0]
    if base in FIXED_ADVICE:
        advice, command = FIXED_ADVICE[base]
        return advice, command.replace("IMAGE", image)
    if base in ("max-junk-class", "no-new-junk-class"):
        class_id = check_id.split(".", 1)[1] if "." in check_id else ""
        picked = [r for r in recs if r.kind == f"junk.{class_id}"]
        fix = junk_fix(class_id)
        if not picked:
            return fix.action, fix.change
        r = picked[0]
        return f"{fix.action}: {r.where}" + (f" ({r.lint_rule})" if r.lint_rule else ""), fix.change
    kinds = CHECK_KINDS.get(base, ())
    picked = [r for r in recs if any(r.kind == k or (k.endswith(".") and r.kind.startswith(k)) for k in kinds)]
    if base not in ("max-cold-start",):
        picked.sort(key=lambda r: (-r.bytes_saved, -r.download_bytes_saved, r.id))
    picked = picked[:n]
    if not picked:
        return "", ""
    advice = "; ".join(f"{r.action} ({r.where}{', ' + _human(r.bytes_saved) if r.bytes_saved else ''}"
                       f"{f', -{r.best_seconds:.2f} s' if r.best_seconds >= 0.005 else ''}"
                       f"{', ' + r.lint_rule if r.lint_rule else ''})" for r in picked)
    return advice, picked[0].command


def _human(n: float) -> str:
    from imgopt.progress import human

    return human(n)


__all__ = ["Recommendation", "DockerfileLine", "Evidence", "Estimator", "recommend", "for_check", "junk_fix",
           "JUNK_FIXES", "Fix", "CHECK_KINDS"]
