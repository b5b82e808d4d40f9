"""The pieces under the hostile corpus: bounds, typed fields, scratch, output text, verified layers.

The corpus (tests/hostile/) runs whole commands; these pin the behaviour of
each piece where a whole command cannot reach (a mount inside a stale scratch
directory, a live owner's scratch, the tree's entry ceiling).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import SAMPLE_TAR, run_imgopt
from imgopt.errors import BadInput, printable
from imgopt.image import limits
from imgopt.image.jsonfields import Fields
from imgopt.scratch import clean_stale, make_scratch, owner_tag, remove_tree, temp_path

# ----------------------------------------------------------------- limits


def test_load_json_bounds():
    assert limits.load_json(b'{"a": [1, {"b": 2}]}', "x") == {"a": [1, {"b": 2}]}
    cases = {
        b"[" * 100_000 + b"]" * 100_000: "nested deeper",
        json.dumps(json.loads("[" * 65 + "]" * 65)).encode(): "nested deeper than 64",
        b'{"a": NaN}': "NaN is not valid JSON",
        b'{"a": -Infinity}': "Infinity is not valid JSON",
        b"\xef\xbb\xbf{}": "byte order mark",
        '{"a": 1}'.encode("utf-16"): "not UTF-8",
        b'{"a": "\xe9"}': "not UTF-8",
        b"x" * (5 << 20): "more than the 4 MiB",
    }
    for raw, needle in cases.items():
        with pytest.raises(BadInput) as e:
            limits.load_json(raw, "doc.json")
        assert needle in str(e.value) and str(e.value).startswith("doc.json: "), (needle, str(e.value)[:200])
    # exactly the limit: accepted
    assert limits.load_json(json.dumps(json.loads("[" * 64 + "]" * 64)).encode(), "x") is not None


def test_clamp_mtime():
    assert limits.clamp_mtime(1700000000) == (1700000000, None)
    assert limits.clamp_mtime(1.5e9)[0] == 1500000000
    for bad in (float("inf"), float("nan"), 1e30, 2**80, -(2**70)):
        value, note = limits.clamp_mtime(bad)
        assert limits.MTIME_MIN <= value <= limits.MTIME_MAX and note, bad
        os.utime(__file__, ns=(os.stat(__file__).st_atime_ns, os.stat(__file__).st_mtime_ns))  # untouched


def test_fields_name_the_field():
    f = Fields({"config": {"Env": ["A=1", 2], "Entrypoint": "x", "Labels": {"v": 3}}, "size": True}, "img")
    c = f.obj("config")
    assert c is not None
    assert c.str_list("Entrypoint", allow_string=True) == ["x"]
    expectations = [
        (lambda: c.str_list("Env"), "img: field config.Env[1] is an integer (2), expected a string"),
        (lambda: c.str_map("Labels"), "img: field config.Labels.v is an integer (3), expected a string"),
        (lambda: f.int("size"), "img: field size is a boolean (true), expected an integer"),
        (lambda: f.objs("config"), "img: field config is an object, expected a list"),
        (lambda: Fields([1], "img"), "img: document is a list of 1, expected a JSON object"),
    ]
    for fn, msg in expectations:
        with pytest.raises(BadInput) as e:
            fn()
        assert str(e.value) == msg
    assert f.str("missing", "dflt") == "dflt" and f.str_list("missing") == [] and f.obj("missing") is None


def test_error_messages_stay_one_short_line():
    msg = str(BadInput("layer 0", "bad name 'a\nb\x1b[2J" + "x" * 100_000 + "\udcff'"))
    assert "\n" not in msg and "\x1b" not in msg and len(msg) < 1000
    assert "\\n" in msg and "\\x1b" in msg and "\\xff" in msg
    assert printable("short") == "short"


def test_tree_entry_ceiling(monkeypatch):
    """An entry-count bomb beyond the ceiling is a clean error, not an unbounded tree."""
    from imgopt.image import filetree
    from imgopt.image.tarstream import Entry, Kind

    monkeypatch.setattr(filetree, "MAX_TREE_ENTRIES", 1000)
    t = filetree.FileTree()
    t.apply(0, ((Entry(f"f{i}", Kind.FILE), None) for i in range(600)))
    with pytest.raises(BadInput) as e:
        t.apply(1, ((Entry(f"g{i}", Kind.FILE), None) for i in range(600)))
    assert "more than 1,000 tar entries" in str(e.value)


# ----------------------------------------------------------------- scratch


def _deep(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    cur = fd
    for i in range(depth):
        os.mkdir("d", dir_fd=cur)
        os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=cur))
        nxt = os.open("d", os.O_RDONLY, dir_fd=cur)
        if i % 50 == 0:
            os.fchmod(cur, 0o500)  # read-only directories must not stop the cleanup
        if cur != fd:
            os.close(cur)
        cur = nxt
    os.close(cur)
    os.close(fd)


def test_remove_tree_deeper_than_recursion_and_path_max(tmp_path):
    top = tmp_path / "scratch"
    top.mkdir()
    _deep(top, 2500)  # 2 * 2500 bytes of path: beyond PATH_MAX, beyond Python's recursion limit
    os.symlink("/etc", top / "to-etc")  # never followed
    assert remove_tree(str(top))
    assert not top.exists() and os.path.exists("/etc/passwd")


def test_remove_tree_never_crosses_a_mount(tmp_path):
    """A stale sandbox's scratch with a bind mount inside: nothing removed (its own cleanup unmounts)."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep me")
    scratch = tmp_path / "scratch"
    (scratch / "rootfs" / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(scratch / "rootfs" / "mnt")], check=True)
    try:
        assert not remove_tree(str(scratch))
        assert (precious / "data").read_text() == "keep me"
    finally:
        subprocess.run(["umount", str(scratch / "rootfs" / "mnt")], check=True)
    assert remove_tree(str(scratch)) and not scratch.exists()


def test_clean_stale_removes_only_dead_owners(tmp_path):
    base = tmp_path
    boot = owner_tag().rsplit("-", 1)[1]
    dead = base / f"imgopt-trace-pid999999999-12345-{boot}-abc"  # no such pid
    (dead / "rootfs").mkdir(parents=True)
    rebooted = base / f".x.tar.imgopt-pid{os.getpid()}-1-00000000-xyz.part"  # another boot
    rebooted.write_text("half")
    reused = base / f"imgopt-work-pid{os.getpid()}-1-{boot}-reused"  # our pid, another start time
    reused.mkdir()
    foreign = base / "imgopt-something-else"  # no owner tag: not ours to judge
    foreign.mkdir()
    removed = clean_stale(str(base))
    assert sorted(removed) == sorted(map(str, (dead, rebooted, reused)))
    mine = Path(make_scratch("imgopt-work-", str(base)))  # live: ours
    assert clean_stale(str(base)) == []
    assert mine.exists() and foreign.exists()
    t = temp_path(str(base / "report.json"))
    assert owner_tag() in t and os.path.exists(t)


def test_scratch_of_a_killed_process_is_cleaned_by_the_next(tmp_path):
    code = ("import os, sys; sys.path.insert(0, %r); from imgopt.scratch import make_scratch;"
            "d = make_scratch('imgopt-work-', %r); open(os.path.join(d, 'x'), 'w').write('x');"
            "os.kill(os.getpid(), 9)") % (str(Path(__file__).parent.parent), str(tmp_path))
    subprocess.run([sys.executable, "-c", code])
    left = [n for n in os.listdir(tmp_path) if n.startswith("imgopt-work-")]
    assert len(left) == 1
    mine = make_scratch("imgopt-work-", str(tmp_path))
    assert os.listdir(tmp_path) == [os.path.basename(mine)]


# ------------------------------------------------------------------ output


def test_output_keeps_undecodable_bytes():
    """Names that are not UTF-8 come out as their bytes; other lone surrogates as escapes; nothing fails."""
    from imgopt.atomic import write_text
    from imgopt.outtext import ERRORS

    text = "caf\udce9 \ud800 ok"
    assert text.encode("utf-8", ERRORS) == b"caf\xe9 \\ud800 ok"
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "r.txt")
        write_text(p, text)
        assert Path(p).read_bytes() == b"caf\xe9 \\ud800 ok"


# ---------------------------------------------------------- verified layers


def test_verified_layers_are_remembered_and_bad_ones_never(tmp_path, monkeypatch):
    """A copy that checked a layer remembers (digest, diffID); a layer that failed is not remembered."""
    from imgopt.image.transports import open_image
    from imgopt.image.verify_write import _marker, is_verified

    cache = tmp_path / "cache"
    env = {"IMGOPT_CACHE": str(cache)}
    run_imgopt("copy", "-q", "--compress", "gzip", str(SAMPLE_TAR), f"oci:{tmp_path / 'gz'}:v1", check=True, env=env)
    monkeypatch.setenv("IMGOPT_CACHE", str(cache))
    # the markers are read in this process too
    with open_image(f"oci:{tmp_path / 'gz'}:v1") as img:
        assert not any(os.path.exists(_marker(l.digest, l.diff_id)) for l in img.layers)  # made here, not read
    run_imgopt("copy", "-q", "--compress", "keep", f"oci:{tmp_path / 'gz'}:v1", f"oci:{tmp_path / 'k'}:v1",
               check=True, env=env)
    with open_image(f"oci:{tmp_path / 'gz'}:v1") as img:
        assert all(is_verified(l) for l in img.layers)
    # a lying diffID: the copy fails and nothing is remembered for that pair
    from layoututil import Layout, sha

    lay = Layout(tmp_path / "gz")
    blob = lay.blob(lay.manifest["layers"][0]["digest"]).read_bytes()
    lay.replace_layer(0, blob, diff_id=sha(b"not the content"))
    p = run_imgopt("copy", "-q", "--compress", "keep", f"oci:{tmp_path / 'gz'}", f"oci:{tmp_path / 'bad'}",
                   env=env)
    assert p.returncode == 2 and "digest mismatch" in p.stderr and not (tmp_path / "bad").exists()
    with open_image(f"oci:{tmp_path / 'gz'}") as img:
        assert not is_verified(img.layers[0])
