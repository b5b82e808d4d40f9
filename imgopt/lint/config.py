"""``imgopt lint`` configuration: defaults, hadolint's config file, imgopt's, environment, flags.

Later sources win: built-in defaults, then ``.hadolint.yaml`` (hadolint's keys and lookup order,
so an existing setup keeps working), then the ``lint:`` section of imgopt's configuration
(``.imgopt.yaml`` or ``[tool.imgopt.lint]``, see :mod:`imgopt.config`), then ``HADOLINT_*``
environment variables, then command-line options.  ``--config FILE`` names either kind of file:
one with a ``lint:`` section is imgopt's, anything else is read with hadolint's keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from imgopt.errors import BadInput
from imgopt.lint.model import check_severity

LABEL_TYPES = ("text", "url", "spdx", "hash", "rfc3339", "semver", "email", "")


@dataclass
class LintConfig:
    """Everything configurable about a lint run (see the module docstring for where it comes from)."""

    ignored: set[str] = field(default_factory=set)
    overrides: dict[str, str] = field(default_factory=dict)  # code -> severity
    failure_threshold: str = "info"
    no_fail: bool = False
    trusted_registries: list[str] = field(default_factory=list)
    label_schema: dict[str, str] = field(default_factory=dict)  # label -> type
    strict_labels: bool = False
    disable_ignore_pragma: bool = False
    registry_map: dict[str, str] = field(default_factory=dict)  # public prefix -> same-region prefix
    slim_bases: dict[str, str] = field(default_factory=dict)  # repository -> slim variant (extends the table)
    shellcheck: str | bool = True  # False: off; a path: that binary
    docs_url: str = ""
    cost_registries: tuple[str, ...] = ("vpc", "public")  # simulator registry profiles costs are given for
    sources: list[str] = field(default_factory=list)  # files read, in order

    def severity_for(self, code: str, default: str) -> str:
        return self.overrides.get(code, default)

    def enabled(self, code: str, default: str) -> bool:
        return code not in self.ignored and self.severity_for(code, default) != "ignore"


def _codes(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        v = [x for x in v.replace(",", " ").split()]
    if not isinstance(v, list):
        raise BadInput(where, "must be a list of rule codes")
    return [str(x).strip().upper() for x in v]


def _bool(v: Any, where: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return v.lower() in ("1", "true", "yes", "on")
    raise BadInput(where, f"must be true or false, not {v!r}")


def _get(doc: dict, *names: str) -> Any:
    for n in names:
        if n in doc:
            return doc[n]
    return None


def apply_mapping(cfg: LintConfig, doc: dict, source: str) -> None:
    """Apply a mapping with hadolint's keys (and imgopt's kebab-case spellings) to ``cfg``."""
    known = {"ignored", "ignore", "override", "failure-threshold", "failure_threshold", "trustedRegistries",
             "trusted-registries", "label-schema", "labelSchema", "strict-labels", "strictLabels",
             "disable-ignore-pragma", "no-fail", "no-color", "verbose", "format", "formats", "registry-map",
             "slim-bases", "shellcheck", "docs-url", "cost-registries"}
    for k in doc:
        if k not in known:
            raise BadInput(source, f"unknown lint setting {k!r} (known: {', '.join(sorted(known))})")
    cfg.ignored |= set(_codes(_get(doc, "ignored", "ignore"), f"{source}: ignored"))
    ov = doc.get("override")
    if ov is not None:
        if not isinstance(ov, dict):
            raise BadInput(source, "override must map error/warning/info/style to lists of rule codes")
        for sev, codes in ov.items():
            s = _severity(sev, f"{source}: override")
            for c in _codes(codes, f"{source}: override.{sev}"):
                cfg.overrides[c] = s
    ft = _get(doc, "failure-threshold", "failure_threshold")
    if ft is not None:
        cfg.failure_threshold = _severity(ft, f"{source}: failure-threshold")
    tr = _get(doc, "trustedRegistries", "trusted-registries")
    if tr is not None:
        if not isinstance(tr, list):
            raise BadInput(source, "trustedRegistries must be a list of registry names")
        cfg.trusted_registries += [str(x) for x in tr]
    ls = _get(doc, "label-schema", "labelSchema")
    if ls is not None:
        if not isinstance(ls, dict):
            raise BadInput(source, "label-schema must map label names to types")
        for name, typ in ls.items():
            cfg.label_schema[str(name)] = _label_type(typ, f"{source}: label-schema.{name}")
    for key, attr in (("strict-labels", "strict_labels"), ("strictLabels", "strict_labels"),
                      ("disable-ignore-pragma", "disable_ignore_pragma"), ("no-fail", "no_fail")):
        if key in doc:
            setattr(cfg, attr, _bool(doc[key], f"{source}: {key}"))
    rm = doc.get("registry-map")
    if rm is not None:
        if not isinstance(rm, dict):
            raise BadInput(source, "registry-map must map public registry prefixes to same-region ones")
        cfg.registry_map.update({str(a).rstrip("/"): str(b).rstrip("/") for a, b in rm.items()})
    sb = doc.get("slim-bases")
    if sb is not None:
        if not isinstance(sb, dict):
            raise BadInput(source, "slim-bases must map image repositories to their slim variant")
        cfg.slim_bases.update({str(a): str(b) for a, b in sb.items()})
    if "shellcheck" in doc:
        v = doc["shellcheck"]
        cfg.shellcheck = v if isinstance(v, str) and v not in ("true", "false") else _bool(v, f"{source}: shellcheck")
    if "docs-url" in doc:
        cfg.docs_url = str(doc["docs-url"])
    if "cost-registries" in doc:
        cfg.cost_registries = tuple(_codes_plain(doc["cost-registries"]))
    cfg.sources.append(source)


def _codes_plain(v: Any) -> list[str]:
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return [str(x) for x in v or []]


def _severity(v: Any, where: str) -> str:
    try:
        return check_severity(str(v))
    except ValueError as e:
        raise BadInput(where, str(e)) from None


def _label_type(v: Any, where: str) -> str:
    t = "" if v is None else str(v).strip().lower()
    if t not in LABEL_TYPES:
        raise BadInput(where, f"label type must be one of {', '.join(x for x in LABEL_TYPES if x)}, not {v!r}")
    return t or "text"


def hadolint_config_path(cwd: str | None = None) -> str | None:
    """hadolint's lookup: ./.hadolint.yaml, $XDG_CONFIG_HOME/hadolint.yaml, ~/.hadolint/{hadolint,config}.yaml,
    ~/.hadolint.yaml (each also .yml); the first found is used."""
    cwd = cwd or os.getcwd()
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    cands = [os.path.join(cwd, n) for n in (".hadolint.yaml", ".hadolint.yml")]
    cands += [os.path.join(xdg, n) for n in ("hadolint.yaml", "hadolint.yml")]
    cands += [os.path.join(home, ".hadolint", n) for n in ("hadolint.yaml", "hadolint.yml", "config.yaml",
                                                            "config.yml")]
    cands += [os.path.join(home, n) for n in (".hadolint.yaml", ".hadolint.yml")]
    return next((c for c in cands if os.path.isfile(c)), None)


def apply_environment(cfg: LintConfig, env: dict[str, str] | None = None) -> None:
    """hadolint's HADOLINT_* variables."""
    env = dict(os.environ) if env is None else env

    def truthy(name: str) -> bool | None:
        v = env.get(name)
        if v is None:
            return None
        return v.strip().lower() in ("1", "y", "yes", "true", "on")

    for name, attr in (("HADOLINT_NOFAIL", "no_fail"), ("HADOLINT_STRICT_LABELS", "strict_labels"),
                       ("HADOLINT_DISABLE_IGNORE_PRAGMA", "disable_ignore_pragma")):
        v = truthy(name)
        if v is not None:
            setattr(cfg, attr, v)
    for sev in ("error", "warning", "info", "style"):
        for c in _codes(env.get(f"HADOLINT_OVERRIDE_{sev.upper()}"), f"HADOLINT_OVERRIDE_{sev.upper()}"):
            cfg.overrides[c] = sev
    cfg.ignored |= set(_codes(env.get("HADOLINT_IGNORE"), "HADOLINT_IGNORE"))
    tr = env.get("HADOLINT_TRUSTED_REGISTRIES")
    if tr:
        cfg.trusted_registries += [x for x in tr.replace(",", " ").split() if x]
    rl = env.get("HADOLINT_REQUIRE_LABELS")
    if rl:
        for item in rl.replace(",", " ").split():
            name, _, typ = item.partition(":")
            cfg.label_schema[name] = _label_type(typ, "HADOLINT_REQUIRE_LABELS")
    ft = env.get("HADOLINT_FAILURE_THRESHOLD")
    if ft:
        cfg.failure_threshold = _severity(ft, "HADOLINT_FAILURE_THRESHOLD")


def build(config_path: str | None = None, cwd: str | None = None, env: dict[str, str] | None = None) -> LintConfig:
    """The configuration from files and environment (command-line options are applied by the CLI)."""
    from imgopt import config as project

    cfg = LintConfig()
    if config_path:
        if not os.path.isfile(config_path):
            raise BadInput(config_path, "no such configuration file")
        if config_path.endswith(".toml"):
            apply_mapping(cfg, project.load(config_path).section("lint"), config_path)
        else:
            doc = project.load_yaml_file(config_path)
            if not isinstance(doc, dict):
                raise BadInput(config_path, "the configuration must be a mapping")
            if "lint" in doc:
                apply_mapping(cfg, doc.get("lint") or {}, config_path)
            else:
                apply_mapping(cfg, doc, config_path)  # a hadolint configuration
    else:
        hp = hadolint_config_path(cwd)
        if hp:
            doc = project.load_yaml_file(hp)
            if doc and not isinstance(doc, dict):
                raise BadInput(hp, "the configuration must be a mapping")
            apply_mapping(cfg, doc or {}, hp)
        cf = project.load(None, cwd)
        if cf.path:
            apply_mapping(cfg, cf.section("lint"), cf.path)
    apply_environment(cfg, env)
    return cfg


__all__ = ["LintConfig", "build", "apply_mapping", "apply_environment", "hadolint_config_path"]
