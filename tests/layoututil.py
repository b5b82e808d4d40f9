"""Helpers to build and tamper with OCI layouts in tests (real files, no mocks)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI layout directory whose single manifest can be edited."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def blob(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / digest.split(":", 1)[1]

    @property
    def index(self) -> dict:
        return json.loads((self.path / "index.json").read_text())

    @property
    def manifest_desc(self) -> dict:
        return self.index["manifests"][0]

    @property
    def manifest(self) -> dict:
        return json.loads(self.blob(self.manifest_desc["digest"]).read_bytes())

    @property
    def config(self) -> dict:
        return json.loads(self.blob(self.manifest["config"]["digest"]).read_bytes())

    def put(self, data: bytes) -> str:
        d = sha(data)
        self.blob(d).parent.mkdir(parents=True, exist_ok=True)
        self.blob(d).write_bytes(data)
        return d

    def write_manifest(self, manifest: dict) -> None:
        raw = json.dumps(manifest).encode()
        d = self.put(raw)
        index = self.index
        index["manifests"][0]["digest"] = d
        index["manifests"][0]["size"] = len(raw)
        (self.path / "index.json").write_text(json.dumps(index))

    def replace_layer(self, i: int, blob: bytes, diff_id: str | None = None) -> None:
        """Swap layer i's blob, fixing the digests that name it (and the diffID)."""
        m = self.manifest
        m["layers"][i]["digest"] = self.put(blob)
        m["layers"][i]["size"] = len(blob)
        if diff_id:
            cfg = self.config
            cfg["rootfs"]["diff_ids"][i] = diff_id
            raw = json.dumps(cfg).encode()
            m["config"]["digest"] = self.put(raw)
            m["config"]["size"] = len(raw)
        self.write_manifest(m)


def copy_layout(src: Path, dst: Path) -> Layout:
    shutil.copytree(src, dst)
    return Layout(dst)


def make_tar(entries: list[tuple]) -> bytes:
    """entries: (name, kind, data_or_target, mode) with kind file|dir|symlink|hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime = mode, 1700000000
            payload = None
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
            else:
                payload = data
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def docker_archive(path: Path, layers: list[bytes], config: dict | None = None,
                   tags: list[str] | None = None, diff_ids: list[str] | None = None) -> Path:
    """A classic `docker save` archive of hand-made layer tars (config: the image's `config` section).

    ``diff_ids``: for compressed layers, the digests of their uncompressed tars."""
    diff_ids = diff_ids or [sha(t) for t in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config or {},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        add("config.json", cfg)
        for i, t in enumerate(layers):
            add(f"l{i}/layer.tar", t)
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": tags,
                                          "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode())
    return Path(path)
