"""Where the data rules live, and reading them: ``rules/`` beside the package.

Junk classes (rules/junk), keep rules (rules/keep) and simulator profiles
(rules/simulate) are YAML files, one mapping each, read in file-name order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import yaml

from imgopt.errors import BadInput

RULES_ROOT = Path(__file__).resolve().parent.parent / "rules"


def yaml_rules(directory: Path | str, required: set[str], what: str) -> Iterator[tuple[Path, dict]]:
    """(file, mapping) for every ``*.yaml`` in ``directory``; one-line errors for bad files."""
    for f in sorted(Path(directory).glob("*.yaml")):
        try:
            doc = yaml.safe_load(f.read_text())
        except yaml.YAMLError as e:
            raise BadInput(str(f), f"not valid YAML: {e}") from None
        if not isinstance(doc, dict):
            raise BadInput(str(f), f"a {what} must be a YAML mapping")
        missing = required - set(doc)
        if missing:
            raise BadInput(str(f), f"{what} lacks {', '.join(sorted(missing))}")
        yield f, doc
