"""The fuzz targets: one function per parser imgopt points at hostile bytes.

Each takes bytes and must either succeed or raise :class:`~imgopt.errors.ImgoptError`
(the one-line error every command turns bad input into); anything else is a
bug.  Used three ways: by atheris (``tests/fuzz/fuzz.py TARGET``: coverage-guided,
``make fuzz`` for long runs, a short run in ``make test``), and by
tests/test_fuzz.py, which replays every saved crash (tests/fuzz/crashes/TARGET/)
as a regression test.
"""

from __future__ import annotations

import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from imgopt.errors import ImgoptError  # noqa: E402


def layer(data: bytes) -> None:
    """A layer blob: codec sniffed, decompressed, tar read, applied to a merged tree."""
    from imgopt.image.codecs import open_decompressed
    from imgopt.image.filetree import FileTree
    from imgopt.image.tarstream import iter_entries

    tree = FileTree()
    problems: list = []
    for i in range(2):  # the same bytes as two layers: whiteouts and replacements meet a lower layer
        _codec, raw = open_decompressed(io.BytesIO(data), "fuzz layer")
        stream = io.BufferedReader(raw, 1 << 16)

        def entries():
            for e, _m, reader in iter_entries(stream, "fuzz layer", lambda n, p: problems.append((n, p))):
                reader.read_member(4096)
                yield e, None

        tree.apply(i, entries())
    for _p, _n in tree.walk():
        pass
    tree.visible_bytes()


def documents(data: bytes) -> None:
    """Manifests, indexes, configs, and a docker-archive manifest.json, from the same bytes."""
    from imgopt.image import mediatypes as mt
    from imgopt.image.model import ImageConfig, Index, Manifest, Platform, canonical_json

    for parse in (lambda: Manifest.parse(data, "fuzz manifest"),
                  lambda: Manifest.parse(data, "fuzz manifest", mt.DOCKER_MANIFEST),
                  lambda: Index.parse(data, "fuzz index", mt.OCI_INDEX),
                  lambda: ImageConfig.parse(data, "fuzz config")):
        try:
            doc = parse()
        except ImgoptError:
            continue
        if isinstance(doc, (Manifest,)):
            again = Manifest.parse(canonical_json(doc.to_json()), "fuzz manifest again")
            assert again.to_json() == doc.to_json()
        elif isinstance(doc, Index):
            try:
                doc.select(Platform("linux", "amd64"), "fuzz")
            except ImgoptError:
                pass
        else:
            for attr in ("entrypoint", "cmd", "env", "env_dict", "workdir", "user", "exposed_ports", "labels",
                         "stop_signal", "diff_ids", "history", "platform"):
                getattr(doc, attr)
            doc.layer_history(3)
            canonical_json(doc.raw)
    _archive_manifest(data)


def _archive_manifest(data: bytes) -> None:
    """manifest.json of a docker save archive, read the way read_docker_archive reads it."""
    import tarfile
    import tempfile

    from imgopt.image.fs import TarFS
    from imgopt.image.transports.docker_archive import read_docker_archive

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.tar")
        with tarfile.open(path, "w") as tf:
            ti = tarfile.TarInfo("manifest.json")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        fs = TarFS(path)
        try:
            read_docker_archive(fs, "", None, None, "fuzz archive")
        except ImgoptError:
            pass
        finally:
            fs.close()


def dockerfile(data: bytes) -> None:
    """The Dockerfile parser: never raises, whatever the text."""
    text = data.decode("utf-8", "surrogateescape")
    df = parse_dockerfile(text)
    lines = text.count("\n") + 1
    for ins in df.instructions:
        assert 1 <= ins.start_line <= ins.end_line <= lines + 1, (ins.start_line, ins.end_line, lines)


def parse_dockerfile(text: str):
    """The public Dockerfile parser."""
    from imgopt.dockerfile import parse_dockerfile as parse

    return parse(text)


TARGETS = {"layer": layer, "documents": documents, "dockerfile": dockerfile}


def run_one(target: str, data: bytes) -> None:
    """Run ``target`` on ``data``: expected errors are fine, anything else propagates."""
    try:
        TARGETS[target](data)
    except ImgoptError:
        pass
