"""imgopt trace: bad input gives one line naming the input, exit 2, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SAMPLE_TAR, run_imgopt


def _one_line_error(p, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("imgopt: error: ") and "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _trace_fails(tmp_path: Path, *args: str, needles: tuple[str, ...], image: str = str(SAMPLE_TAR)) -> None:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    p = run_imgopt("trace", image, "-o", str(out / "p.json"), *args, timeout=120)
    _one_line_error(p, *needles)
    assert list(out.iterdir()) == [], "nothing may be written"


def _probe(tmp_path: Path, text: str, name: str = "probe.yaml") -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_missing_image(tmp_path):
    _trace_fails(tmp_path, needles=("nope.tar", "no such file"), image=str(tmp_path / "nope.tar"))


def test_missing_probe_file(tmp_path):
    _trace_fails(tmp_path, "--probe", str(tmp_path / "none.yaml"), needles=("none.yaml", "no such probe file"))


@pytest.mark.parametrize("text,needles", [
    ("probes:\n  - type: http\n    port: [8080\n", ("probe.yaml", "not valid YAML")),
    ("probes:\n  - type: udp\n    port: 8080\n", ("probe 1", "unknown probe type 'udp'")),
    ("probes:\n  - type: tcp\n    port: 11211\n    send: \"\u20ac\"\n", ("probe 1", "send must be latin-1 text")),
    ("probes:\n  - type: tcp\n    port: 11211\n    expect: 5\n", ("expect must be a string",)),
    ("probes:\n  - type: http\n    port: 80\n    address: 10.0.0.1\n", ("address must be 127.0.0.1 or ::1",)),
    ("probes:\n  - type: http\n    port: 0\n", ("probe 1", "port must be an integer between 1 and 65535")),
    ("probes:\n  - type: http\n    port: 70000\n", ("port", "70000")),
    ("probes:\n  - type: http\n    port: web\n", ("port", "'web'")),
    ("probes:\n  - type: http\n    port: 80\n  - type: http\n    port: 80\n    pth: /x\n",
     ("probe 2", "unknown key(s) for a http probe: pth")),
    ("probes:\n  - type: http\n    port: 80\n    timeout: -1\n", ("timeout must be a number of seconds",)),
    ("probes:\n  - type: http\n    port: 80\n    path: no-slash\n", ("path must start with '/'",)),
    ("probes:\n  - type: exit\n    expect_exit: 300\n", ("expect_exit must be an exit code",)),
    ("probes:\n  - type: exec\n", ("command must be a non-empty string or list",)),
    ("probes:\n  - port: 80\n", ("has no 'type'",)),
    ("probes: []\n", ("expected a non-empty list of probes",)),
    ("just a string\n", ("expected a non-empty list of probes",)),
])
def test_malformed_probe_files(tmp_path, text, needles):
    _trace_fails(tmp_path, "--probe", _probe(tmp_path, text), needles=needles)


def test_malformed_json_probe_file(tmp_path):
    _trace_fails(tmp_path, "--probe", _probe(tmp_path, '{"probes": [', "p.json"), needles=("p.json", "not valid JSON"))


def test_output_directory_missing(tmp_path):
    p = run_imgopt("trace", str(SAMPLE_TAR), "-o", str(tmp_path / "no" / "p.json"))
    _one_line_error(p, "p.json", "output directory does not exist")


def test_unknown_user(tmp_path):
    _trace_fails(tmp_path, "--user", "nosuchuser", needles=("nosuchuser", "not in the image's /etc/passwd"))


def test_bad_env_and_volume(tmp_path):
    _trace_fails(tmp_path, "-e", "=x", needles=("-e =x", "KEY=VALUE"))
    _trace_fails(tmp_path, "--backend", "native", "-v", "/tmp:/x", needles=("-v", "docker backend"))
    _trace_fails(tmp_path, "--backend", "docker", "-v", "novolume", needles=("-v novolume", "SRC:DST"))


def test_entrypoint_not_found_fails_the_probe(tmp_path):
    """A missing executable is the app's failure (exit 1 with the reason), not a crash."""
    out = tmp_path / "p.json"
    p = run_imgopt("trace", str(SAMPLE_TAR), "--backend", "native", "--entrypoint", "no-such-binary",
                   "-o", str(out), timeout=120)
    assert p.returncode == 1, p.stderr
    assert "exited (code 127)" in p.stderr and "no-such-binary" in p.stderr
    assert out.exists()
