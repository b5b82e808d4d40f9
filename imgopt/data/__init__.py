"""The data imgopt ships with, and reading it: YAML files inside the package.

``imgopt/data/junk/`` (junk classes, :mod:`imgopt.analyze.junk`),
``imgopt/data/keep/`` (keep rules, :mod:`imgopt.minify.keep`) and
``imgopt/data/simulate/`` (registry, client and host profiles,
:mod:`imgopt.simulate.profiles`) are read with :mod:`importlib.resources`,
so an installed wheel (pip, pipx) finds them exactly as a checkout does.
Each is a directory of YAML files, one mapping each, read in file-name order.

Users override them where the loaders take a directory or a file: junk classes
(``AnalyzeOptions.rules`` / :func:`imgopt.analyze.junk.load_rules`), keep
rules (:func:`imgopt.minify.keep.load_keep_rules`), simulator profiles (a
path, ``$IMGOPT_SIMULATE_PROFILES`` or ``~/.config/imgopt/simulate/``).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Iterator

from imgopt.errors import BadInput


def data_dir(name: str) -> Traversable:
    """The built-in data directory ``name`` (junk, keep, simulate)."""
    return files(__name__) / name


def parse_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load`` through libyaml when PyYAML has it (5-10x faster: every command reads its rules).

    The same safe constructor either way: plain data only.  Raises ``yaml.YAMLError``.
    """
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def yaml_rules(directory: Traversable | Path | str, required: set[str],
               what: str) -> Iterator[tuple[Traversable, dict]]:
    """(file, mapping) for every ``*.yaml`` in ``directory``; one-line errors for bad files."""
    import yaml  # here: finding a data directory should not cost the YAML parser's import

    d = Path(directory) if isinstance(directory, str) else directory
    if not d.is_dir():
        raise BadInput(str(d), f"no such directory of {what}s")
    for f in sorted((f for f in d.iterdir() if f.name.endswith(".yaml") and f.is_file()), key=lambda f: f.name):
        try:
            doc = parse_yaml(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise BadInput(str(f), f"not valid YAML: {e}") from None
        if not isinstance(doc, dict):
            raise BadInput(str(f), f"a {what} must be a YAML mapping")
        missing = required - set(doc)
        if missing:
            raise BadInput(str(f), f"{what} lacks {', '.join(sorted(missing))}")
        yield f, doc


__all__ = ["data_dir", "yaml_rules", "parse_yaml"]
