"""docs/lint-rules.md is what `python -m imgopt.lint.docs` makes of the rules."""

from __future__ import annotations

from pathlib import Path

from imgopt.lint.docs import main, render
from imgopt.lint.rules import load

DOC = Path(__file__).resolve().parent.parent / "docs" / "lint-rules.md"


def test_rules_doc_is_current():
    assert main(["--check", str(DOC)]) == 0, "run: python -m imgopt.lint.docs"


def test_every_rule_has_an_anchor_and_a_section():
    text = render(load())
    for r in load():
        assert f'<a id="{r.id.lower()}"></a>' in text and f"### {r.id}: " in text
    assert text.count("```dockerfile") >= 2 * (len(load()) - 1)


def test_check_notices_a_stale_file(tmp_path):
    p = tmp_path / "lint-rules.md"
    p.write_text("old\n")
    assert main(["--check", str(p)]) == 1
    assert main([str(p)]) == 0 and main(["--check", str(p)]) == 0
