"""Merges that reuse what images share (tree_stats' subtree memo, dive's per-chain path tables) against
the analyses from scratch, on real images.

The oracle is the straightforward code: find_junk's walk with its per-path assignment, directory_sizes over
every file, and a sort of every regular file for the largest.  The memo is checked where it matters: images
that share a base and change it in the ways that move junk (a whiteout of a junk file, an opaque directory,
a second Python interpreter that makes other bytecode importable, the source of a cached .pyc deleted) are
merged one after another in one process, as a scan worker merges, and each must equal its analysis from
the scan of its blobs (no memo at all) and with every memo empty (the merged tree's snapshots, tree_stats' subtrees, dive's layer trees, stacks and path
tables, the duplicates of chains of lower layers).
"""

from __future__ import annotations

import importlib
import io
import json
import tarfile

import pytest

from conftest import SAMPLE_TAR

from imgopt.analyze import AnalyzeOptions, analyze_summaries, build_result
from imgopt.analyze import merge as merge_mod
from imgopt.analyze import duplicates
from imgopt.analyze.directories import directory_sizes
from imgopt.analyze.junk import find_junk
from imgopt.analyze.layers import image_summaries
from imgopt.analyze.scan import scan_image
from imgopt.analyze.treestats import MEMO, tree_stats
from imgopt.cache.store import LayerCache
from imgopt.image.codecs import Compression
from imgopt.image.mutate import layer_from_tar, with_layer
from imgopt.image.tarstream import Kind
from imgopt.image.transports import open_image

dive_mod = importlib.import_module("imgopt.analyze.dive_compat")  # the package exports its function


def _oracle(tree, env, top):
    junk = find_junk(tree, env)
    files = [(p, n) for p, n in tree.walk() if n.kind is not Kind.DIR]
    largest = sorted(((p, n) for p, n in files if n.kind is Kind.FILE), key=lambda x: (-x[1].size, x[0]))[:top]
    return {
        "junk": [(c.id, c.bytes, c.files, dict(sorted(c.layers.items())), [(e.path, e.size, e.layer) for e in c.examples])
                 for c in junk.classes],
        "dirs": directory_sizes(tree, junk.assignment),
        "largest": [(p, n.size, n.layer, junk.assignment.get(p)) for p, n in largest],
        "bytes": sum(n.size for _, n in files if n.kind is Kind.FILE),
        "entries": sum(1 for _ in tree.walk()),
    }


def _ours(tree, env, top, memo):
    s = tree_stats(tree, env, top=top, memo=memo)
    return {
        "junk": [(c.id, c.bytes, c.files, dict(sorted(c.layers.items())), [(e.path, e.size, e.layer) for e in c.examples])
                 for c in s.junk],
        "dirs": s.directories, "largest": s.largest, "bytes": s.final_bytes, "entries": s.final_entries,
    }


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    """A layer: (path, content) files, (path, None) directories; ``.wh.`` names are whiteouts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in members:
            ti = tarfile.TarInfo(path)
            ti.mtime = 1700000000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o755
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _parents(path: str) -> list[tuple[str, None]]:
    parts = path.split("/")[:-1]
    return [("/".join(parts[: i + 1]), None) for i in range(len(parts))]


def test_one_walk_equals_the_separate_analyses_on_a_real_image(app_archive):
    for ref in (f"docker-archive:{SAMPLE_TAR}", f"docker-archive:{app_archive('pyweb')}"):
        with open_image(ref) as img:
            scan = scan_image(img)
            try:
                env = img.config.env_dict
                for top in (1, 20):
                    assert _ours(scan.tree, env, top, None) == _oracle(scan.tree, env, top), ref
            finally:
                scan.close()


def _forget() -> None:
    merge_mod._PREFIXES.snaps.clear()
    MEMO.clear()
    dive_mod._MEMO.clear()
    duplicates.MEMO.clear()


@pytest.fixture
def fresh_memos():
    _forget()
    yield
    _forget()


def test_images_sharing_a_base_merge_to_their_fresh_analysis(app_archive, tmp_path, fresh_memos):
    """Variants of a real app merged in one process (memo warm) equal each one's analysis from scratch."""
    cache = LayerCache(str(tmp_path / "cache"))
    with open_image(f"docker-archive:{app_archive('pyweb')}") as base:
        scan_tree = merge_mod.merged_scan(base, image_summaries(base, cache=cache)).tree
        env = base.config.env_dict
        junk = find_junk(scan_tree, env)
        a_junk_file = next(p for p, c in sorted(junk.assignment.items()) if c and "/" in p)
        def source(pyc: str) -> str:
            d, _, name = pyc.rpartition("/__pycache__/")
            return f"{d}/{name.split('.')[0]}.py"

        pyc = next((p for p, _ in scan_tree.files() if p.endswith(".pyc") and "/__pycache__/" in p
                    and scan_tree.get(source(p)) is not None), None)
        locale = next((p for p, n in scan_tree.walk() if p.startswith("usr/share/locale/") and p.count("/") == 3
                       and n.is_dir), None)
        python = next((p for p, _ in scan_tree.walk() if p.startswith("usr/bin/python3.")), "usr/bin/python3.11")
        minor = int(python.rsplit(".", 1)[1])
        variants = [
            [("app", None), ("app/main.py", b"print('hello')\n")],
            [*_parents(a_junk_file), (a_junk_file.rsplit("/", 1)[0] + "/.wh." + a_junk_file.rsplit("/", 1)[1], b"")],
            [("usr", None), ("usr/bin", None), (f"usr/bin/python3.{minor + 1}", b"\x7fELF fake interpreter")],
            [("app", None), ("app/other.py", b"x = 1\n"), ("app/data.bin", b"\0" * 300_000)],
        ]
        if locale:
            variants.append([*_parents(locale + "/x"), (locale + "/.wh..wh..opq", b"")])
        assert pyc is not None, "pyweb has Python bytecode beside its sources"
        d, _, src = source(pyc).rpartition("/")
        variants.append([*_parents(f"{d}/x"), (f"{d}/added_beside.py", b"pass\n")])  # its directory changed
        variants.append([*_parents(f"{d}/x"), (f"{d}/.wh.{src}", b"")])  # its source deleted: the .pyc is junk
        dups = duplicates.find_duplicates(merge_mod.merged_scan(base, image_summaries(base, cache=cache)))
        group = next(g for g in dups.groups if sum(c.visible for c in g.copies) >= 2 and "/" in g.copies[0].path)
        gone, over = [c.path for c in group.copies if c.visible][:2]
        variants += [
            [*_parents(gone), (gone.rsplit("/", 1)[0] + "/.wh." + gone.rsplit("/", 1)[1], b"")],  # a copy deleted
            [*_parents(over), (over, b"y" * group.size)],  # a copy overwritten: same size, other bytes
            [("app", None), ("app/a.bin", b"z" * 4096), ("app/b.bin", b"z" * 4096)],  # a new group
        ]
        # one layer shared by all variants (a prefix the merge snapshots), then each variant's own on top: its
        # changes are the final tree's own directories, their untouched children the memo's entries
        shared = with_layer(base, layer_from_tar(_tar([("app", None), ("app/requirements.txt", b"flask\n")]),
                                                 Compression.GZIP, str(tmp_path)), "shared")
        images = [base, shared]
        for i, members in enumerate(variants):
            images.append(with_layer(shared, layer_from_tar(_tar(members), Compression.GZIP, str(tmp_path)),
                                     f"variant {i}"))
        # another branch of the same base (another middle layer): its merges start from the base's memo state
        other = with_layer(base, layer_from_tar(_tar([("app", None), ("app/requirements.txt", b"django\n")]),
                                                Compression.GZIP, str(tmp_path)), "other shared")
        images += [other, with_layer(other, layer_from_tar(_tar([*_parents(over), (over, b"w" * group.size)]),
                                                           Compression.GZIP, str(tmp_path)), "other variant")]
        summaries = [image_summaries(img, cache=cache) for img in images]

        opts = AnalyzeOptions(cache=False, top=7)
        warm = [json.dumps(analyze_summaries(img, s, opts).to_json(), sort_keys=True)
                for img, s in zip(images, summaries)]
        assert MEMO.hits > 0 and dive_mod._MEMO.paths and duplicates.MEMO.states, \
            "the images share a base: the memos must have been used"
        _forget()  # a variant alone, as a scan meets it first: the base's own chain is kept for other branches
        analyze_summaries(images[2], summaries[2], opts)
        assert any(len(chain) == len(base.layers) for chain, _ in duplicates.MEMO.states), \
            "the duplicates of the base chain itself are kept, for the branches on it"
        for img, s, got in zip(images, summaries, warm):
            _forget()  # from scratch: the merge with empty memos, and the scan of the blobs (no memo at all)
            assert json.loads(got) == analyze_summaries(img, s, opts).to_json()
            direct = scan_image(img)
            try:
                assert json.loads(got) == build_result(direct, opts).to_json()
            finally:
                direct.close()
        # and the memo's figures agree with the oracle on the last variant's merged tree
        tree = merge_mod.merged_scan(images[-1], summaries[-1]).tree
        assert _ours(tree, env, 7, MEMO) == _oracle(tree, env, 7)
