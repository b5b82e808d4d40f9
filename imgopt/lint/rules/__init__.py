"""The lint rules: one module per rule, listed here once.

``RULES`` is the registry: module names in ``imgopt.lint.rules``, each
defining ``RULE`` (an instance of a :class:`imgopt.lint.rule.Rule` subclass).
To add a rule, write its module (id, severity, title, docs, check) and its
tests, add its name here, and regenerate docs/lint-rules.md
(``python -m imgopt.lint.docs``).
"""

from __future__ import annotations

import importlib

RULES: tuple[str, ...] = (
    # ShellCheck on RUN scripts: first, so that its process starts before the other rules are loaded
    "shellcheck",
    # parser diagnostics (imgopt's own ids; IMG002 is reported as DL3061, IMG007 as DL3024)
    "img001", "img003", "img004", "img005", "img006", "img008",
    # hadolint 2.15.1, same ids and default severities
    "dl1001",
    "dl3000", "dl3001", "dl3002", "dl3003", "dl3004", "dl3006", "dl3007", "dl3008", "dl3009",
    "dl3010", "dl3011", "dl3012", "dl3013", "dl3014", "dl3015", "dl3016", "dl3018", "dl3019",
    "dl3020", "dl3021", "dl3022", "dl3023", "dl3024", "dl3025", "dl3026", "dl3027", "dl3028", "dl3029",
    "dl3030", "dl3032", "dl3033", "dl3034", "dl3035", "dl3036", "dl3037", "dl3038",
    "dl3040", "dl3041", "dl3042", "dl3043", "dl3044", "dl3045", "dl3046", "dl3047", "dl3048", "dl3049",
    "dl3050", "dl3051", "dl3052", "dl3053", "dl3054", "dl3055", "dl3056", "dl3057", "dl3058", "dl3059",
    "dl3060", "dl3061", "dl3062", "dl3063", "dl3064", "dl3065", "dl3066", "dl3067",
    "dl4000", "dl4001", "dl4003", "dl4004", "dl4005", "dl4006",
    # cold start: what makes images big and slow to pull
    "img101", "img102", "img103", "img104", "img105", "img106", "img107", "img108", "img109", "img110",
    "img111",
)


def load(names: tuple[str, ...] = RULES) -> list:
    """The rule objects, in registry order."""
    return list(iter_rules(names))


def iter_rules(names: tuple[str, ...] = RULES):
    """The rule objects, each imported when it is reached (so a caller can start one's work while
    the others load)."""
    for n in names:
        yield importlib.import_module(f"{__name__}.{n}").RULE


def load_one(rule_id: str):
    """The rule with this id, or None."""
    name = rule_id.lower()
    return importlib.import_module(f"{__name__}.{name}").RULE if name in RULES else None


__all__ = ["RULES", "load", "load_one"]
