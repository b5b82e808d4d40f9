"""The gate's thresholds: the ``gate:`` section of imgopt's configuration, and dive's ``.dive-ci``.

Every key is optional; a key set to ``off`` / ``disabled`` / ``false`` / ``null`` switches its check
off (dive's spelling works for every key).  Without any configuration the gate checks what is wrong
in any image (:data:`DEFAULTS`): exact waste over 10 % of the stored bytes and over 10 MB, lint
errors (with ``--dockerfile``), and with ``--baseline`` growth over 10 % and 10 MB, a new junk
class, new lint errors.  Everything else is measured and shown, not limited, until a key sets it.

Sizes are written ``500MB`` / ``1.5GiB`` / ``300MiB`` (:func:`imgopt.config.parse_size`: decimal kB/MB/GB,
binary KiB/MiB/GiB, as dive reads them); a byte limit may also be ``{bytes: 50MB, percent: 5,
floor: 10MB}`` -- each limit given is a limit, and the percent one fails only above ``floor`` bytes
so a small image is not failed for a few kB.

dive's three keys are taken as dive 0.13.1 takes them (``cmd/dive/cli/internal/command/ci/rules.go``):
``lowest-efficiency`` (a ratio 0-1; fails when the efficiency is lower), ``highest-wasted-bytes``
(a size; fails when more bytes are wasted), ``highest-user-wasted-percent`` (a ratio 0-1 despite
its name; fails when wasted / bytes added above the base layer is higher).  A ``.dive-ci`` file
(``--dive-ci FILE``, the ``dive-ci:`` key, or ``./.dive-ci`` when neither the section nor the flag
sets dive's keys, as dive itself reads it) holds them under ``rules:`` in camelCase
(``lowestEfficiency``...); a key the file leaves out gets dive's default (0.9, disabled, 0.1),
exactly as in dive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from imgopt.config import Keys
from imgopt.errors import BadInput

MB = 1_000_000
OFF = ("off", "disabled", "false", "none", "")

#: dive 0.13.1's defaults for a key a .dive-ci file leaves out (options/ci_rules.go: DefaultCIRules)
DIVE_DEFAULTS = {"lowest-efficiency": 0.9, "highest-wasted-bytes": None, "highest-user-wasted-percent": 0.1}
DIVE_KEYS = tuple(DIVE_DEFAULTS)
DIVE_CAMEL = {"lowestEfficiency": "lowest-efficiency", "highestWastedBytes": "highest-wasted-bytes",
              "highestUserWastedPercent": "highest-user-wasted-percent"}
DIVE_FILE = ".dive-ci"


@dataclass
class ByteLimit:
    """At most ``bytes``, and/or at most ``percent`` % of a whole (only failing above ``floor`` bytes)."""

    bytes: int | None = None
    percent: float | None = None
    floor: int = 0

    def exceeded(self, measured: int, whole: int) -> list[str]:
        """Which limits ``measured`` (of ``whole``) is over: [] when within all."""
        out = []
        if self.bytes is not None and measured > self.bytes:
            out.append("bytes")
        if self.percent is not None and whole > 0 and measured * 100 > self.percent * whole \
                and measured > self.floor:
            out.append("percent")
        return out


@dataclass
class ColdStartLimit:
    registry: str  # simulator registry profile (vpc, public, or a YAML path)
    client: str  # simulator client profile (docker, containerd, lazy, or a YAML path)
    seconds: float


@dataclass
class GateConfig:
    """Every threshold the gate knows (None: not limited), and where each came from."""

    max_size: int | None = None
    max_compressed_size: int | None = None
    max_layers: int | None = None
    max_junk: ByteLimit | None = None
    max_junk_class: dict[str, int] = field(default_factory=dict)
    max_exact_waste: ByteLimit | None = None
    lowest_efficiency: float | None = None
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = None
    max_cold_start: list[ColdStartLimit] = field(default_factory=list)
    max_lint: str | None = None  # severity: findings at or above it fail
    max_growth: ByteLimit | None = None
    max_compressed_growth: ByteLimit | None = None
    no_new_junk_class: bool = False
    no_new_lint_errors: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # key -> "default" | config path | .dive-ci path
    dive_ci: str | None = None  # the .dive-ci file read
    path: str | None = None  # the configuration file read (None: none found)

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")


KEYS = ("max-size", "max-compressed-size", "max-layers", "max-junk", "max-junk-class", "max-exact-waste",
        *DIVE_KEYS, "dive-ci", "max-cold-start", "max-lint", "max-growth", "max-compressed-growth",
        "no-new-junk-class", "no-new-lint-errors")

#: what the gate checks with no configuration (see the module docstring)
DEFAULTS: dict[str, Any] = {
    "max-exact-waste": {"percent": 10, "floor": "10MB"},
    "max-lint": "error",
    "max-growth": {"percent": 10, "floor": "10MB"},
    "no-new-junk-class": True,
    "no-new-lint-errors": True,
}


def _off(v: Any) -> bool:
    return v is None or v is False or (isinstance(v, str) and v.strip().lower() in OFF)


def _byte_limit(keys: Keys, key: str) -> ByteLimit:
    v = keys.get(key)
    if not isinstance(v, dict):
        return ByteLimit(bytes=keys.size(key))
    sub = keys.sub(key)
    sub.known(("bytes", "percent", "floor"))
    if not sub.has("bytes") and not sub.has("percent"):
        raise keys.fail(key, "give bytes, percent or both (e.g. {bytes: 50MB, percent: 10, floor: 5MB})")
    lim = ByteLimit()
    if sub.has("bytes") and not _off(sub.get("bytes")):
        lim.bytes = sub.size("bytes")
    if sub.has("percent") and not _off(sub.get("percent")):
        lim.percent = sub.number("percent", lo=0, hi=100)
    if sub.has("floor"):
        if lim.percent is None:
            raise sub.fail("floor", "a floor applies to percent: give percent too")
        lim.floor = sub.size("floor")
    return lim


def _cold_start(keys: Keys, key: str) -> list[ColdStartLimit]:
    v = keys.get(key)
    items = v if isinstance(v, list) else [v]
    out = []
    for i, item in enumerate(items):
        sub = Keys(item, keys.source, f"{keys.prefix}.{key}" + (f"[{i}]" if isinstance(v, list) else ""))
        sub.known(("registry", "client", "seconds"))
        if not sub.has("seconds"):
            raise sub.fail("seconds", "missing: the most seconds a cold pull + start may take")
        out.append(ColdStartLimit(sub.string("registry") if sub.has("registry") else "public",
                                  sub.string("client") if sub.has("client") else "docker",
                                  sub.number("seconds", lo=0)))
    return out


def _ratio(keys: Keys, key: str) -> float:
    """dive's ratios: a number 0-1 (also written as a string, as dive's config holds them)."""
    v = keys.get(key)
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise keys.fail(key, f"must be a ratio between 0 and 1, not {keys.get(key)!r}") from None
        keys.doc[key] = v
    return keys.number(key, lo=0, hi=1)


def apply(cfg: GateConfig, doc: dict, source: str, prefix: str = "gate") -> None:
    """Apply the mapping ``doc`` (a ``gate:`` section) to ``cfg``."""
    keys = Keys(doc, source, prefix)
    keys.known(KEYS)
    for key in doc:
        v = doc[key]
        attr = key.replace("-", "_")
        cfg.sources[key] = source
        if key == "dive-ci":
            continue  # read by load() before the section's own dive keys
        if _off(v) and key not in ("no-new-junk-class", "no-new-lint-errors"):
            setattr(cfg, attr, [] if key == "max-cold-start" else {} if key == "max-junk-class" else None)
            continue
        if key in ("max-size", "max-compressed-size", "highest-wasted-bytes"):
            setattr(cfg, attr, keys.size(key))
        elif key == "max-layers":
            cfg.max_layers = int(keys.number(key, lo=0, integer=True))
        elif key in ("max-junk", "max-exact-waste", "max-growth", "max-compressed-growth"):
            setattr(cfg, attr, _byte_limit(keys, key))
        elif key == "max-junk-class":
            sub = keys.sub(key)
            _check_junk_classes(sub)
            cfg.max_junk_class = {str(k): sub.size(k) for k in sub.doc if not _off(sub.get(k))}
        elif key in ("lowest-efficiency", "highest-user-wasted-percent"):
            setattr(cfg, attr, _ratio(keys, key))
        elif key == "max-cold-start":
            cfg.max_cold_start = _cold_start(keys, key)
        elif key == "max-lint":
            from imgopt.lint.model import check_severity

            try:
                cfg.max_lint = check_severity(v, "max-lint")
            except ValueError as e:
                raise keys.fail(key, str(e)) from None
            if cfg.max_lint == "ignore":
                cfg.max_lint = None
        elif key in ("no-new-junk-class", "no-new-lint-errors"):
            setattr(cfg, attr, False if _off(v) else keys.boolean(key))


def _check_junk_classes(sub: Keys) -> None:
    from imgopt.analyze.junk import load_rules

    ids = {r.id for r in load_rules()}
    for k in sub.doc:
        if k not in ids:
            raise sub.fail(str(k), f"unknown junk class (known: {', '.join(sorted(ids))})")


def read_dive_ci(path: str, cfg: GateConfig) -> None:
    """dive's ``.dive-ci``: ``rules:`` with camelCase keys; a key left out gets dive's default."""
    from imgopt.config import load_yaml_file

    doc = load_yaml_file(path)
    if doc is None or doc == {}:
        doc = {}
    if not isinstance(doc, dict):
        raise BadInput(path, "a .dive-ci file is a mapping with a rules: section")
    rules = doc.get("rules") or {}
    Keys(doc, path, "").known(("rules",))
    keys = Keys(rules, path, "rules")
    keys.known(tuple(DIVE_CAMEL) + DIVE_KEYS)
    merged: dict[str, Any] = dict(DIVE_DEFAULTS)
    for k, v in rules.items():
        merged[DIVE_CAMEL.get(k, k)] = v
    for k, v in merged.items():
        cfg.sources[k] = path
    apply(cfg, {k: ("off" if v is None else v) for k, v in merged.items()}, path, "rules")
    for k in merged:  # the error messages name the file's own keys; the sources say it was the file
        cfg.sources[k] = path
    cfg.dive_ci = path


def load(config_path: str | None = None, dive_ci: str | None = None, start: str | None = None) -> GateConfig:
    """The gate's configuration: defaults, then ``.dive-ci``, then the ``gate:`` section (later wins)."""
    from imgopt.config import load as load_config

    cfg = GateConfig()
    apply(cfg, DEFAULTS, "default")
    for k in DEFAULTS:
        cfg.sources[k] = "default"
    conf = load_config(config_path, start)
    cfg.path = conf.path
    section = conf.section("gate")
    src = conf.path or "config"
    dive_file = dive_ci
    if dive_file is None and "dive-ci" in section:
        v = section["dive-ci"]
        if not isinstance(v, str) or not v.strip():
            raise BadInput(f"{src}: gate.dive-ci", f"must be a path to a .dive-ci file, not {v!r}")
        dive_file = os.path.join(os.path.dirname(src), v) if conf.path and not os.path.isabs(v) else v
    if dive_file is None and not any(k in section for k in DIVE_KEYS) and os.path.isfile(DIVE_FILE):
        dive_file = DIVE_FILE  # dive reads ./.dive-ci by default; so does the gate
    if dive_file is not None:
        if not os.path.isfile(dive_file):
            raise BadInput(dive_file, "no such .dive-ci file")
        read_dive_ci(dive_file, cfg)
    apply(cfg, section, src)
    cfg.sources.pop("dive-ci", None)
    return cfg


__all__ = ["GateConfig", "ByteLimit", "ColdStartLimit", "load", "apply", "read_dive_ci", "DEFAULTS", "KEYS",
           "DIVE_DEFAULTS"]
