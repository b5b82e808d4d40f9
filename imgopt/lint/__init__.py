"""``imgopt lint``: Dockerfile linting -- hadolint's rules, ShellCheck, and cold-start rules.

The library under the command::

    from imgopt.lint import lint_paths, lint_text
    result = lint_paths(["Dockerfile"])          # LintResult
    for f in result.findings(): print(f.line, f.code, f.message)

Pieces: :mod:`imgopt.lint.engine` (runs the rules), :mod:`imgopt.lint.rules` (the registry, one
module per rule), :mod:`imgopt.lint.context` (what a rule sees), :mod:`imgopt.lint.config`
(configuration), :mod:`imgopt.lint.pragmas`, :mod:`imgopt.lint.shellcheck`,
:mod:`imgopt.lint.model` (the result).  Output goes through :mod:`imgopt.formats` (kind "lint").
"""

from __future__ import annotations

from imgopt.lint.config import LintConfig
from imgopt.lint.model import Finding, LintResult


def lint_paths(paths: list[str], config: LintConfig | None = None, report_name: str | None = None) -> LintResult:
    """Lint the Dockerfiles at ``paths`` ("-" is standard input); BadInput when one cannot be read
    (nothing is linted then)."""
    from imgopt.lint.engine import lint_sources, read_source

    cfg = config if config is not None else _default_config()
    sources = [read_source(p, report_name if (p == "-" or len(paths) == 1) else None) for p in paths]
    return lint_sources(sources, cfg)


def lint_text(text: str, name: str = "Dockerfile", config: LintConfig | None = None,
              directory: str | None = None) -> LintResult:
    """Lint one Dockerfile given as text (``directory``: where its build context is, if known)."""
    from imgopt.lint.engine import Source, lint_sources

    cfg = config if config is not None else LintConfig()
    return lint_sources([Source(name, text, directory)], cfg)


def _default_config() -> LintConfig:
    from imgopt.lint.config import build

    return build()


__all__ = ["lint_paths", "lint_text", "LintConfig", "LintResult", "Finding"]
