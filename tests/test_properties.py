"""Property tests (hypothesis): the parsers hold for inputs nobody wrote by hand.

* tar streams -> merged tree: for random layers (files, dirs, symlinks,
  hardlinks, whiteouts, opaque markers over a small name alphabet, so paths
  collide), building the tree never fails but with a one-line error; the last
  layer's surviving entries are in the tree with their kind; whiteouts remove;
  the tree is deterministic; a copy-on-write fork never changes its original
  and ends as the tree built without forking; and ``unpack`` writes exactly
  the tree to disk.
* manifests and configs: generated valid documents parse and serialize back
  to the same thing; one field of the wrong type is an error naming it;
  arbitrary JSON is only ever a one-line error.
* the Dockerfile parser (imgopt.dockerfile after the lint move, else
  imgopt.dockerfile): never raises; generated Dockerfiles come back
  instruction by instruction, with their line numbers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import tempfile

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgopt.errors import BadInput
from imgopt.image.filetree import FileTree
from imgopt.image.model import Descriptor, ImageConfig, Manifest, canonical_json
from imgopt.image.tarstream import Kind, iter_entries

# In `make test` the examples are derandomized (the same every run: CI never flakes on a new example);
# `make fuzz` sets IMGOPT_FUZZ_RANDOM=1 and many more examples, to search.
RANDOM = os.environ.get("IMGOPT_FUZZ_RANDOM") == "1"
EXAMPLES = int(os.environ.get("IMGOPT_FUZZ_EXAMPLES", "120"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------ tar -> tree

NAMES = st.sampled_from(["a", "b", "c", "a/b", "a/c", "b/a", "a/b/c", "c/a/b"])


@st.composite
def entry(draw):
    kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink", "whiteout", "opaque"]))
    path = draw(NAMES)
    if kind == "whiteout":
        head, _, base = path.rpartition("/")
        return ("whiteout", f"{head}/.wh.{base}" if head else f".wh.{base}", "")
    if kind == "opaque":
        return ("opaque", f"{path}/.wh..wh..opq", "")
    if kind in ("symlink", "hardlink"):
        return (kind, path, draw(NAMES))
    return (kind, path, draw(st.binary(max_size=40)) if kind == "file" else b"")


LAYERS = st.lists(st.lists(entry(), max_size=8), min_size=1, max_size=4)


def layer_tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, arg in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = 1700000000, 0o755
            data = None
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            else:
                data = arg if kind == "file" else b""
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def build_tree(tars: list[bytes]) -> FileTree:
    tree = FileTree()
    for i, t in enumerate(tars):
        tree.apply(i, ((e, None) for e, _m, _r in iter_entries(io.BytesIO(t), f"layer {i}")))
    return tree


def _below_same_layer_symlink(entries, idx: int, path: str) -> bool:
    """Is ``path`` (entry ``idx``) below a symlink made earlier in the same layer (dropped by design)?"""
    parts = path.split("/")
    for j in range(1, len(parts)):
        prefix = "/".join(parts[:j])
        for kind, name, _ in reversed(entries[:idx]):
            if name == prefix:
                if kind == "symlink":
                    return True
                break
    return False


def _whiteout_hits(whiteout: str, name: str) -> bool:
    """Does the whiteout entry ``whiteout`` (``dir/.wh.x``) remove ``name`` (``dir/x`` or below it)?
    Tar order, as the engines apply a layer: a later whiteout removes what the same layer made before it."""
    d, _, base = whiteout.rpartition("/")
    target = f"{d}/{base[len('.wh.'):]}" if d else base[len(".wh."):]
    return name == target or name.startswith(target + "/")


@SETTINGS
@given(LAYERS)
def test_tree_from_tar_layers(layers):
    tars = [layer_tar(l) for l in layers]
    try:
        tree = build_tree(tars)
    except BadInput as e:
        assert "\n" not in str(e)
        return
    walk = [(p, n.kind, n.size, n.layer) for p, n in tree.walk()]
    assert walk == [(p, n.kind, n.size, n.layer) for p, n in build_tree(tars).walk()]  # deterministic
    paths = [p for p, *_ in walk]
    assert paths == sorted(set(paths), key=paths.index) and len(paths) == len(set(paths))  # each path once
    for p, kind, _size, layer in walk:
        node = tree.get(p)
        assert node is not None and 0 <= layer < len(layers)
        parent = tree.get(p.rpartition("/")[0])
        assert parent is not None and parent.is_dir  # everything hangs below directories
    # the last layer's last word on a path holds, unless something later in that layer removed it
    last = layers[-1]
    for idx, (kind, name, arg) in enumerate(last):
        if kind in ("whiteout", "opaque") or _below_same_layer_symlink(last, idx, name):
            continue
        later = last[idx + 1:]
        if any(n == name or n.startswith(name + "/") or name.startswith(n + "/") or
               (k == "whiteout" and _whiteout_hits(n, name) or
                (k == "opaque" and name.startswith(n.rsplit("/", 1)[0] + "/")))
               for k, n, _ in later):
            continue
        node = tree.get(name)
        want = {"file": Kind.FILE, "dir": Kind.DIR, "symlink": Kind.SYMLINK, "hardlink": Kind.HARDLINK}[kind]
        assert node is not None and node.kind is want, (name, kind, node)
        if kind == "file":
            assert node.size == len(arg)
    # a whiteout in the last layer, with nothing at or below that path after it anywhere, removes it
    for idx, (kind, name, _) in enumerate(last):
        if kind != "whiteout":
            continue
        target = name.replace(".wh.", "")
        if not any(n == target or n.startswith(target + "/") for _, n, _ in last[idx + 1:]) and \
                not any(n == target or n.startswith(target + "/") for _, n, _ in last[:idx]):
            assert tree.get(target) is None, target


def _tree_state(tree: FileTree) -> list:
    return [(p, n.kind, n.size, n.mode, n.layer, n.added, n.linkname, n.src) for p, n in tree.walk()] + \
        [(h.path, h.origin, h.by, h.size, h.reason) for h in tree.hidden] + \
        [(c.index, c.added, c.modified, c.removed, c.problems) for c in tree.layers] + [tree.entries]


@SETTINGS
@given(LAYERS, LAYERS)
def test_a_fork_is_the_tree_built_without_forking(lower, upper):
    """FileTree.fork (copy on write, the scan's merge memo): applying upper layers to a fork leaves the
    original as it was (every mutation path -- opaque walks, whiteouts, displaced files, hardlinks,
    same-layer symlinks, the root -- copies what it changes) and gives the tree built in one go."""
    lo, up = [layer_tar(l) for l in lower], [layer_tar(l) for l in upper]
    try:
        plain = build_tree(lo + up)
    except BadInput:
        return
    base = build_tree(lo)
    before = _tree_state(base)
    fork = base.fork()
    for i, t in enumerate(up, len(lo)):
        fork.apply(i, ((e, None) for e, _m, _r in iter_entries(io.BytesIO(t), f"layer {i}")))
    assert _tree_state(base) == before
    assert _tree_state(fork) == _tree_state(plain)
    again = base.fork()  # a second fork of the same snapshot sees the snapshot
    assert _tree_state(again) == before


@settings(max_examples=max(40, EXAMPLES // 3), deadline=None, derandomize=not RANDOM,
          suppress_health_check=[HealthCheck.too_slow])
@given(LAYERS)
def test_unpack_writes_exactly_the_tree(layers):
    """What ``unpack`` (trace's rootfs) writes to disk is the merged tree: same paths, same kinds, same sizes."""
    from layoututil import docker_archive

    from imgopt.image.transports import open_image
    from imgopt.image.unpack import unpack

    with tempfile.TemporaryDirectory() as d:
        archive = docker_archive(os.path.join(d, "img.tar"), [layer_tar(l) for l in layers])
        try:
            with open_image(f"docker-archive:{archive}") as img:
                res = unpack(img, os.path.join(d, "rootfs"), owners=False, devices=False)
        except BadInput as e:
            assert "\n" not in str(e)
            return
        root = os.path.join(d, "rootfs")
        on_disk = {}
        for dirpath, dirs, files in os.walk(root):
            for n in dirs + files:
                p = os.path.join(dirpath, n)
                on_disk[os.path.relpath(p, root)] = ("symlink" if os.path.islink(p) else
                                                     "dir" if os.path.isdir(p) else "file")
        want = {p: {Kind.DIR: "dir", Kind.SYMLINK: "symlink"}.get(n.kind, "file") for p, n in res.tree.walk()}
        assert on_disk == want
        for p, n in res.tree.walk():
            if n.kind is Kind.FILE:
                assert os.path.getsize(os.path.join(root, p)) == n.size
            if n.kind is Kind.SYMLINK:
                assert os.readlink(os.path.join(root, p)) == n.linkname


# ------------------------------------------------------ manifests and configs

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
DIGEST = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def config_doc(draw):
    n = draw(st.integers(0, 4))
    return {
        "architecture": draw(st.sampled_from(["amd64", "arm64"])), "os": "linux",
        "config": {"Entrypoint": draw(st.lists(TEXT, max_size=3)), "Cmd": draw(st.lists(TEXT, max_size=3)),
                   "Env": [f"K{i}={v}" for i, v in enumerate(draw(st.lists(TEXT, max_size=4)))],
                   "WorkingDir": draw(TEXT), "User": draw(TEXT),
                   "Labels": draw(st.dictionaries(TEXT, TEXT, max_size=3)),
                   "ExposedPorts": {f"{p}/tcp": {} for p in draw(st.lists(st.integers(1, 65535), max_size=3))}},
        "rootfs": {"type": "layers", "diff_ids": [draw(DIGEST) for _ in range(n)]},
        "history": [{"created_by": draw(TEXT), "empty_layer": draw(st.booleans())} for _ in range(n)],
    }


@SETTINGS
@given(config_doc())
def test_config_round_trip(doc):
    cfg = ImageConfig.parse(canonical_json(doc), "cfg")
    c = doc["config"]
    assert (cfg.entrypoint, cfg.cmd, cfg.env, cfg.workdir, cfg.user, cfg.labels) == \
        (c["Entrypoint"], c["Cmd"], c["Env"], c["WorkingDir"], c["User"], c["Labels"])
    assert cfg.exposed_ports == sorted(c["ExposedPorts"]) and cfg.diff_ids == doc["rootfs"]["diff_ids"]
    assert ImageConfig.parse(cfg.serialize(), "again").raw == cfg.raw


WRONG = st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), min_size=1),
                  st.dictionaries(TEXT, st.integers(), min_size=1))
FIELDS = [("config.Entrypoint", lambda v: not isinstance(v, (str, list)) or (isinstance(v, list) and v)),
          ("config.Env", lambda v: True), ("config.Labels", lambda v: not isinstance(v, dict) or v),
          ("config.WorkingDir", lambda v: True), ("architecture", lambda v: True), ("rootfs.diff_ids", lambda v: True),
          ("config.User", lambda v: True)]


@SETTINGS
@given(config_doc(), st.sampled_from(FIELDS), WRONG)
def test_config_field_of_the_wrong_type_is_named(doc, field, value):
    path, applies = field
    if not applies(value) or (isinstance(value, dict) and path == "config.Labels" and
                              all(isinstance(v, str) for v in value.values())):
        return
    target = doc
    *parents, key = path.split(".")
    for p in parents:
        target = target[p]
    target[key] = value
    try:
        ImageConfig.parse(canonical_json(doc), "cfg")
    except BadInput as e:
        assert key in str(e) or path.split(".")[0] in str(e), (path, str(e))
        return
    raise AssertionError(f"{path} = {value!r} was accepted")


@st.composite
def manifest_doc(draw):
    def desc(media):
        d = {"mediaType": media, "digest": draw(DIGEST), "size": draw(st.integers(0, 1 << 40))}
        if draw(st.booleans()):
            d["annotations"] = draw(st.dictionaries(TEXT, TEXT, max_size=2))
        return d
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json"),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip") for _ in range(draw(st.integers(0, 4)))],
            **({"annotations": draw(st.dictionaries(TEXT, TEXT, min_size=1, max_size=2))} if draw(st.booleans()) else {})}


@SETTINGS
@given(manifest_doc())
def test_manifest_round_trip(doc):
    m = Manifest.parse(canonical_json(doc), "man")
    assert m.config == Descriptor.from_json(doc["config"], "c")
    rebuilt = Manifest(m.media_type, m.config, m.layers, m.annotations)
    again = Manifest.parse(rebuilt.serialize(), "again")
    assert again.to_json() == rebuilt.to_json() == m.to_json()
    assert [l.digest for l in again.layers] == [l["digest"] for l in doc["layers"]]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4), max_leaves=30)


@SETTINGS
@given(st.one_of(JSON, st.fixed_dictionaries({"schemaVersion": st.just(2), "config": JSON, "layers": JSON,
                                              "mediaType": st.sampled_from(["application/vnd.oci.image.manifest.v1+json", "x"])}),
                 st.fixed_dictionaries({"rootfs": st.fixed_dictionaries({"diff_ids": JSON}), "config": JSON,
                                        "history": JSON})))
def test_arbitrary_documents_are_only_ever_bad_input(doc):
    from imgopt.image.model import Index

    raw = json.dumps(doc).encode()
    for parse in (lambda: Manifest.parse(raw, "m"), lambda: Index.parse(raw, "i", "application/vnd.oci.image.index.v1+json"),
                  lambda: ImageConfig.parse(raw, "c")):
        try:
            parsed = parse()
        except BadInput as e:
            assert "\n" not in str(e)
            continue
        if isinstance(parsed, ImageConfig):
            for attr in ("entrypoint", "cmd", "env", "env_dict", "labels", "exposed_ports", "history", "workdir"):
                getattr(parsed, attr)


# ------------------------------------------------------------- Dockerfiles

def _parse_dockerfile(text: str):
    from imgopt.dockerfile import parse_dockerfile

    return parse_dockerfile(text)


@SETTINGS
@given(st.text(max_size=400))
def test_dockerfile_parser_never_raises(text):
    df = _parse_dockerfile(text)
    lines = text.count("\n") + 1
    prev = 0
    for ins in df.instructions:
        assert 1 <= ins.start_line <= ins.end_line <= lines + 1
        assert ins.start_line > prev or ins.start_line == prev  # in order
        prev = ins.start_line


WORD = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-_./"), min_size=1,
               max_size=12)
IMAGE_NAME = WORD.filter(lambda w: not w.startswith("-"))  # `FROM --x` is a flag, not an image


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["RUN", "ENV", "WORKDIR", "USER", "LABEL", "EXPOSE"]),
                          st.lists(WORD, min_size=1, max_size=4)), max_size=8), IMAGE_NAME)
def test_generated_dockerfiles_come_back(body, base):
    lines = [f"FROM {base}"] + [f"{kw} {' '.join(args)}" for kw, args in body]
    df = _parse_dockerfile("\n".join(lines) + "\n")
    got = [(i.keyword, i.start_line) for i in df.instructions]
    assert got == [(line.split()[0], n + 1) for n, line in enumerate(lines)]
    assert len(df.stages) == 1 and df.stages[0].base == base


@dataclasses.dataclass
class _Leaf:
    name: str
    value: Any


@dataclasses.dataclass
class _Node:
    leaves: list
    extra: dict
    pair: tuple
    child: Any = None


_NODES = st.recursive(
    st.builds(_Leaf, TEXT, JSON),
    lambda kids: st.builds(_Node, st.lists(kids, max_size=3), st.dictionaries(TEXT, kids | JSON, max_size=3),
                           st.tuples(kids, JSON), st.none() | kids), max_leaves=12)


@SETTINGS
@given(_NODES)
def test_plain_is_asdict_without_the_deep_copies_of_containers(node):
    from imgopt.schema import plain

    got = plain(node)
    assert got == dataclasses.asdict(node) and json.dumps(got) == json.dumps(dataclasses.asdict(node))
    if isinstance(node, _Node):  # the containers are new: changing them leaves the result object alone
        got["leaves"].append("x")
        got["extra"][("not", "json")] = 1
        assert len(node.leaves) == len(got["leaves"]) - 1 and ("not", "json") not in node.extra
