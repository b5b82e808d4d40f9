#!/usr/bin/env python3
"""Coverage-guided fuzzing of imgopt's parsers with atheris (libFuzzer).

    .venv/bin/python tests/fuzz/fuzz.py TARGET [libFuzzer flags...] [CORPUS_DIR...]
    make fuzz                      # every target, FUZZ_TIME seconds each (default 600)

TARGET is one of tests/fuzz/targets.py's TARGETS (layer, documents,
dockerfile).  Seeds are in tests/fuzz/seeds/TARGET/.  A crash is written by
libFuzzer as crash-<sha1> (``-artifact_prefix=DIR/``); copy it into
tests/fuzz/crashes/TARGET/ and tests/test_fuzz.py replays it from then on.
"""

from __future__ import annotations

import os
import sys

import atheris

with atheris.instrument_imports(include=["imgopt"]):
    import targets  # noqa: E402  (instrumented: imgopt is imported through it)
    import imgopt.image.codecs  # noqa: F401
    import imgopt.image.fasttar  # noqa: F401
    import imgopt.image.filetree  # noqa: F401
    import imgopt.image.jsonfields  # noqa: F401
    import imgopt.image.limits  # noqa: F401
    import imgopt.image.model  # noqa: F401
    import imgopt.image.transports.docker_archive  # noqa: F401
    import imgopt.image.transports.oci_layout  # noqa: F401
    import imgopt.image.tarstream  # noqa: F401
    import imgopt.dockerfile.parser  # noqa: F401


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(targets.TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    name = sys.argv.pop(1)

    def one(data: bytes) -> None:
        targets.run_one(name, data)

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
