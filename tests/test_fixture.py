"""The committed sample image is reproducible from its pinned Debian package."""

from __future__ import annotations

import subprocess
import sys

from conftest import FIXTURES


def test_sample_rebuilds_byte_for_byte():
    p = subprocess.run([sys.executable, str(FIXTURES / "make_sample.py"), "--check"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "sample reproduces" in p.stdout
