"""Minify's side of issue 10 on the sample image: served and listed directories kept whole (bounded,
reported), module directories left to the language closure, digests that do not depend on trace
timing, and slim images that never carry the source's tags."""

from __future__ import annotations

import shutil

import pytest

from conftest import SAMPLE_TAR
from imgopt.analyze.scan import scan_image
from imgopt.image.filetree import Node
from imgopt.image.transports import SinkOptions, write_image
from imgopt.image.transports import open_image
from imgopt.image.tarstream import Kind
from imgopt.minify import MinifyOptions, keep, new_workdir, plan_and_build
from imgopt.minify.naming import slim_tags, written_names
from imgopt.trace.profile import AccessProfile, DirUse, FileAccess

TRACED = ["bin/busybox", "var/www/index.html", "var/www/cgi-bin/status", "app/config.txt"]


def _profile(paths: list[str], times: list[float], ready: float, served=(), listed=()) -> AccessProfile:
    files = [FileAccess(path="/" + p, first_access=t, kinds=["open"], exists=True, type="file",
                        before_ready=t <= ready) for p, t in zip(paths, times)]
    return AccessProfile(image="x", image_digest="", config_digest="", backend="native", argv=[], env=[],
                         workdir="/", user="", started_at="", duration=2.0, ready_time=ready, exit_code=None,
                         files=files, served_dirs=[DirUse(p, r, ["http GET :8080/"]) for p, r in served],
                         listed_dirs=[DirUse(p, "listed") for p in listed])


@pytest.fixture(scope="module")
def scan():
    img = open_image(str(SAMPLE_TAR))
    s = scan_image(img)
    yield s
    s.close()
    img.close()


def test_a_document_root_is_kept_whole(scan):
    plan = keep.plan_keep(scan, _profile(TRACED, [0.1, 0.2, 0.3, 0.4], 1.0,
                                         served=[("/var/www", "document root")], listed=["/app"]))
    assert plan.keep["var/www/style.css"] == "served directory"  # never traced, served from the root
    assert plan.keep["var/www/index-copy.html"] == "served directory"
    assert plan.keep["app/config.txt"] == "traced" and plan.keep.get("app/data/fresh.txt") == "listed directory"
    (www,) = [d for d in plan.dirs if d.path == "/var/www"]
    assert www.kept and www.reason == "document root" and www.files >= 4 and "http GET :8080/" in www.why
    # without the profile's directories, the untraced page goes
    bare = keep.plan_keep(scan, _profile(TRACED, [0.1, 0.2, 0.3, 0.4], 1.0))
    assert "var/www/style.css" not in bare.keep and bare.dirs == []


def test_a_directory_over_the_cap_keeps_only_what_was_traced(scan, monkeypatch):
    monkeypatch.setattr(keep, "DIR_MAX_FILES", 2)
    plan = keep.plan_keep(scan, _profile(TRACED, [0.1, 0.2, 0.3, 0.4], 1.0, served=[("/var/www", "document root")]))
    (www,) = plan.dirs
    assert not www.kept and "over the cap" in www.why and "--include /var/www" in www.why
    assert "var/www/style.css" not in plan.keep and plan.keep["var/www/index.html"] == "traced"


def _dir(name: str, *children: tuple[str, bool]) -> Node:
    n = Node(name, Kind.DIR, 0)
    for child, is_dir in children:
        n.children[child] = Node(child, Kind.DIR if is_dir else Kind.FILE, 0)
    return n


def test_python_module_directories_are_recognized():
    assert keep._python_module_dir(_dir("json", ("__init__.py", False), ("decoder.py", False)))
    assert keep._python_module_dir(_dir("python3.11", ("os.py", False), ("__pycache__", True), ("LICENSE.txt", False)))
    assert keep._python_module_dir(_dir("lib-dynload", ("_ssl.cpython-311-x86_64-linux-gnu.so", False),
                                        ("_json.abi3.so", False)))
    assert keep._python_module_dir(_dir("site-packages", ("flask", True)))
    assert not keep._python_module_dir(_dir("gstreamer-1.0", ("libgstcoreelements.so", False)))  # plugins
    assert not keep._python_module_dir(_dir("templates", ("index.html", False), ("macros.py", False),
                                            ("base.html", False)))
    assert not keep._python_module_dir(_dir("conf.d", ("a.conf", False)))


def _digest(scan, profile, tmp_path, name: str) -> tuple[str, list]:
    wd = new_workdir(str(tmp_path / name))
    try:
        slim = plan_and_build(scan, profile, MinifyOptions(codec="gzip"), wd)
        res = write_image(slim.image, f"oci:{tmp_path / name}:v1", SinkOptions(compress="keep"))
        return res.manifest_digest, [l.digest for l in slim.image.layers]
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def test_layers_do_not_depend_on_trace_timing(scan, tmp_path):
    """The same files, seen in another order and on the other side of 'ready': the same image."""
    a = _profile(TRACED, [0.1, 0.2, 0.3, 0.4], ready=0.25)  # two files before ready, two after
    b = _profile(list(reversed(TRACED)), [0.05, 0.06, 0.07, 0.9], ready=0.08)  # reversed; three before
    da, la = _digest(scan, a, tmp_path, "a")
    db, lb = _digest(scan, b, tmp_path, "b")
    assert da == db and la == lb and len(la) == 2
    c = _profile(TRACED[:3], [0.1, 0.2, 0.3], ready=0.25)  # another set of files: another first layer
    dc, lc = _digest(scan, c, tmp_path, "c")
    assert lc[0] != la[0]


def test_slim_images_are_named_after_the_source_never_with_its_tags(scan, tmp_path):
    assert scan.image.repo_tags == ["imgopt-sample:latest"]
    wd = new_workdir(str(tmp_path / "x"))
    try:
        slim = plan_and_build(scan, _profile(TRACED, [0.1, 0.2, 0.3, 0.4], 1.0), MinifyOptions(), wd)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    assert slim.image.repo_tags == ["imgopt-sample:latest-slim"] == slim_tags(scan.image)
    assert written_names("docker-archive:/tmp/o.tar", slim.image) == ["imgopt-sample:latest-slim"]
    assert written_names("docker-archive:/tmp/o.tar:me/app:v2", slim.image) == ["me/app:v2"]
    assert written_names("docker-daemon:me/app", slim.image) == ["me/app:latest"]
    assert written_names("oci:/tmp/layout", slim.image) == []


def test_verification_matches_probes_that_share_a_name_in_order():
    """postonly's probe file asks POST /predict twice (a good body: 200, a bad one: 400)."""
    from imgopt.minify.verify import compare
    from imgopt.trace.profile import ProbeResult

    orig = _profile([], [], 0.5)
    orig.probes = [ProbeResult("http POST :8040/predict", "http", True, status=200),
                   ProbeResult("http POST :8040/predict", "http", True, status=400),
                   ProbeResult("http GET :8040/", "http", True, status=501)]
    same = [ProbeResult(r.name, r.type, True, status=r.status) for r in orig.probes]
    assert compare(orig, same) == []
    swapped = [same[1], same[0], same[2]]
    assert compare(orig, swapped) == ["probe 'http POST :8040/predict': HTTP status 400, original 200",
                                      "probe 'http POST :8040/predict': HTTP status 200, original 400"]
    assert compare(orig, same[2:]) == []  # a replay of a subset lines up by name
