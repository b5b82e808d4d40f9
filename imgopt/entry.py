"""The ``imgopt`` program: ``imgopt lint`` without click when its arguments allow, else the click CLI.

A one-file ``imgopt lint`` spends about half its start-up importing click (reports/
lint-vs-hadolint.md), so the entry point hands ``lint`` arguments to :func:`imgopt.lint.cli.parse_fast`
first and only falls back to :mod:`imgopt.cli` (click) for everything else, ``--help`` and
arguments it does not take.  Errors are reported as :func:`imgopt.cli.handle_errors` does: one line,
``imgopt: error: INPUT: PROBLEM``, and the error's exit code.
"""

from __future__ import annotations

import sys


def _fast_lint(argv: list[str]) -> int | None:
    from imgopt.lint.cli import parse_fast, run

    params = parse_fast(argv)
    if params is None:
        return None
    from imgopt.errors import ImgoptError, printable

    try:
        return run(params)
    except ImgoptError as e:
        sys.stderr.write(f"imgopt: error: {printable(str(e), 1200)}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("imgopt: error: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        sys.stderr.write(f"imgopt: error: {e.filename or 'I/O'}: {e.strerror or e}\n")
        return 2


def _tolerant_streams() -> None:
    """File names from images may hold bytes that are not UTF-8 (kept as surrogates): write them back as the
    same bytes, never fail on them (:mod:`imgopt.outtext`)."""
    from imgopt.outtext import ERRORS

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors=ERRORS)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def main() -> None:
    _tolerant_streams()
    if len(sys.argv) > 1 and sys.argv[1] == "lint":
        code = _fast_lint(sys.argv[2:])
        if code is not None:
            sys.stdout.flush()
            sys.exit(code)
    from imgopt.cli import main as click_main

    click_main()


__all__ = ["main"]
