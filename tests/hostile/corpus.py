"""The hostile corpus: images built to break imgopt, and what each command must do with them.

Every case is built lazily (the first run that needs it) into a cache
directory, small on disk even when it declares 100 GB (sizes are lies, bombs
are compressed streams).  A case names the commands it concerns and the
outcome each must have:

* ``error``: exit 2 with one line ``imgopt: error: INPUT: PROBLEM`` (naming the
  problem: ``needle``), and nothing written;
* ``ok``: exit 0 with a correct output (an image written must pass
  ``imgopt inspect --deep``; ``checks`` look at what was written);
* ``ran``: an evil entrypoint ran in the sandbox: exit 0 or 1 (its probe may
  fail), the profile written, nothing changed outside.

The runner (``runner.py``) adds what every run must satisfy: no traceback,
peak RSS under 500 MB, a time limit, nothing written outside the output and
scratch directories, scratch removed.  ``tests/hostile/test_corpus.py`` runs it
in ``make test``; ``scripts/hardening_report.py`` writes reports/hardening.md.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tarlib import (
    END, OCI, OCI_GZIP, OCI_INDEX, OCI_MANIFEST, OCI_TAR, OCI_ZSTD, Blob, busybox_layer, chardev, blockdev,
    config_doc, dir_, docker_archive, fifo, gz, gzip_stream, hardlink, hash_stream, header, pad, pax,
    reg, sha, symlink, tar, write_stream, zeros, zst,
)

# commands a case may concern; the runner knows how to run each
DEFAULT_COMMANDS = ("inspect", "analyze", "copy", "minify")
PARSE_COMMANDS = ("inspect", "analyze", "copy")  # documents fail before any layer is read: one path for all
BLOB_COMMANDS = ("inspect", "analyze", "copy", "copy-keep", "minify")  # layer bytes: both copy paths
ALL_COMMANDS = ("inspect", "analyze", "analyze-text", "analyze-md", "copy", "copy-keep", "copy-archive", "minify",
                "trace")


@dataclass
class Ctx:
    """What builders need from the session: where the canary lives (absolute host paths)."""

    canary: Path
    _base: bytes | None = None

    @property
    def base(self) -> bytes:
        """The busybox base layer (so trace has an entrypoint to run)."""
        if self._base is None:
            self._base = busybox_layer()
        return self._base


Check = Callable[[Path], list[str]]  # given the run's output dir: failures


@dataclass
class Case:
    name: str
    cls: str
    what: str  # one line: what the case tries
    build: Callable[[Path, Ctx], str]  # writes the input below the path, returns the image reference
    expect: str = "ok"  # for every command it concerns, unless overridden
    commands: tuple[str, ...] = DEFAULT_COMMANDS
    overrides: dict[str, str] = field(default_factory=dict)  # command -> expectation
    needle: str = ""  # the error line must contain it (case-insensitive)
    checks: dict[str, Check] = field(default_factory=dict)  # command -> check of the output
    timeout: float = 180.0
    trace_timeout: float = 20.0  # imgopt trace --timeout

    def expectation(self, command: str) -> str:
        return self.overrides.get(command, self.expect)


CASES: list[Case] = []


def case(name: str, cls: str, what: str, *, expect: str = "ok", commands: tuple[str, ...] = DEFAULT_COMMANDS,
         extra: tuple[str, ...] = (), overrides: dict[str, str] | None = None, needle: str = "",
         checks: dict[str, Check] | None = None, timeout: float = 180.0, trace_timeout: float = 20.0):
    if commands is DEFAULT_COMMANDS and cls in ("json", "types"):
        commands = PARSE_COMMANDS
    if commands is DEFAULT_COMMANDS and cls == "blob":
        commands = BLOB_COMMANDS
    def deco(fn: Callable[[Path, Ctx], str]) -> Callable[[Path, Ctx], str]:
        CASES.append(Case(name, cls, what, fn, expect, tuple(commands) + tuple(extra), dict(overrides or {}),
                          needle, dict(checks or {}), timeout, trace_timeout))
        return fn
    return deco


# ---------------------------------------------------------------- helpers


def with_base(ctx: Ctx, *layers: bytes) -> list[bytes]:
    return [ctx.base, *layers]


def archive(p: Path, ctx: Ctx, *layers: bytes, config: dict | None = None, base: bool = True, **kw) -> str:
    ls = with_base(ctx, *layers) if base else list(layers)
    if config is not None and "rootfs" not in config:
        config = config_doc([sha(l) for l in ls], config)
    return docker_archive(p / "image.tar", ls, config, **kw)


def layout(p: Path, ctx: Ctx, *blobs: Blob, base: bool = True, **kw) -> str:
    bl = ([gz(ctx.base)] if base else []) + list(blobs)
    return OCI(bl, **kw).write(p / "layout")


def raw_config_layout(p: Path, ctx: Ctx, cfg: bytes) -> str:
    return OCI([gz(ctx.base)], raw_config=cfg).write(p / "layout")


def config_with(ctx: Ctx, **fields) -> dict:
    doc = config_doc([sha(ctx.base)])
    for k, v in fields.items():
        if k.startswith("config_"):
            doc["config"][k[len("config_"):]] = v
        else:
            doc[k] = v
    return doc


def deep_json(depth: int, inner: str = "0") -> str:
    return "[" * depth + inner + "]" * depth


def layer_tree(out: Path, layer: int = -1) -> dict[str, tuple[str, str]]:
    """path -> (kind, linkname) of the merged tree of the image in ``out`` (the case's output)."""
    from imgopt.image.filetree import from_image
    from imgopt.image.transports import open_image

    with open_image(str(out)) as img:
        t = from_image(img)
    return {p: (n.kind.value, n.linkname) for p, n in t.walk()}


def slim_tree(out: Path) -> dict[str, tuple[str, str]]:
    return layer_tree(Path(f"oci:{out / 'slim'}:v1"))


def expect_paths(present: dict[str, str] | None = None, absent: tuple[str, ...] = ()) -> Check:
    """A check of minify's output: these paths have these kinds, those are absent."""
    def check(out: Path) -> list[str]:
        tree = slim_tree(out)
        fails = []
        for p, kind in (present or {}).items():
            got = tree.get(p)
            if got is None or got[0] != kind:
                fails.append(f"{p}: expected a {kind} in the slim image, got {got}")
        for p in absent:
            if p in tree:
                fails.append(f"{p}: must not be in the slim image, is {tree[p]}")
        return fails
    return check


def analysis_problem(*words: str) -> Check:
    """A check of analyze's JSON: some reported problem mentions all ``words``."""
    def check(out: Path) -> list[str]:
        doc = json.loads((out / "analysis.json").read_text())
        for p in doc.get("problems") or []:
            text = json.dumps(p).lower()
            if all(w.lower() in text for w in words):
                return []
        return [f"analysis reports no problem mentioning {words}: {doc.get('problems')}"]
    return check


# ======================================================================= json

@case("json-deep-manifest-json", "json", "docker-archive manifest.json nested 100,000 deep", expect="error",
      needle="nested deeper")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, raw_manifest=deep_json(100_000).encode())


@case("json-deep-config", "json", "image config with a label value nested 100,000 deep", expect="error",
      needle="nested deeper")
def _(p: Path, ctx: Ctx) -> str:
    doc = json.dumps(config_doc([sha(ctx.base)])).encode()
    return raw_config_layout(p, ctx, doc[:-1] + b',"x":' + deep_json(100_000).encode() + b"}")


@case("json-deep-index", "json", "OCI index.json nested 100,000 deep", expect="error", needle="nested deeper")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, raw_index=('{"schemaVersion":2,"manifests":' + deep_json(100_000, "{}") + "}").encode())


@case("json-deep-manifest-blob", "json", "OCI manifest nested 100,000 deep", expect="error", needle="nested deeper")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, raw_manifest=('{"schemaVersion":2,"layers":' + deep_json(100_000) + "}").encode())


@case("json-depth-65", "json", "a config annotation nested 65 deep (just over the limit)", expect="error",
      needle="nested deeper than 64")
def _(p: Path, ctx: Ctx) -> str:
    doc = config_doc([sha(ctx.base)])
    doc["x"] = json.loads(deep_json(64))
    return raw_config_layout(p, ctx, json.dumps(doc).encode())


@case("json-huge-config", "json", "a 10 MB image config", expect="error", needle="config")
def _(p: Path, ctx: Ctx) -> str:
    doc = config_doc([sha(ctx.base)])
    doc["config"]["Labels"] = {"pad": "x" * (10 << 20)}
    return raw_config_layout(p, ctx, json.dumps(doc).encode())


@case("json-huge-manifest-json", "json", "a 24 MB manifest.json", expect="error", needle="manifest.json")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, raw_manifest=b'[{"Config":"config.json","Layers":["l0/layer.tar"],"X":"'
                   + b"x" * (24 << 20) + b'"}]')


@case("json-nan", "json", "NaN and Infinity in a config (not JSON)", expect="error", needle="not valid JSON")
def _(p: Path, ctx: Ctx) -> str:
    doc = json.dumps(config_doc([sha(ctx.base)])).encode()
    return raw_config_layout(p, ctx, doc[:-1] + b',"x":NaN,"y":Infinity}')


@case("json-bom", "json", "a config starting with a UTF-8 byte order mark", expect="error", needle="not valid JSON")
def _(p: Path, ctx: Ctx) -> str:
    return raw_config_layout(p, ctx, b"\xef\xbb\xbf" + json.dumps(config_doc([sha(ctx.base)])).encode())


@case("json-latin1", "json", "a config that is not UTF-8", expect="error", needle="not valid JSON")
def _(p: Path, ctx: Ctx) -> str:
    doc = json.dumps(config_doc([sha(ctx.base)], {"Entrypoint": ["/bin/true"], "Labels": {"a": "X"}})).encode()
    return raw_config_layout(p, ctx, doc.replace(b'"X"', b'"\xe9t\xe9"'))


@case("json-duplicate-keys", "json", "a config with Entrypoint twice (the last wins, as in Go)")
def _(p: Path, ctx: Ctx) -> str:
    doc = json.dumps(config_doc([sha(ctx.base)])).encode()
    return raw_config_layout(p, ctx, doc.replace(b'"config": {', b'"config": {"Entrypoint": 5, ', 1))


@case("json-lone-surrogate", "json", "a label holding an escaped lone surrogate (\\udcff)")
def _(p: Path, ctx: Ctx) -> str:
    doc = json.dumps(config_doc([sha(ctx.base)], {"Entrypoint": ["/bin/true"], "Labels": {"a": "Q"}})).encode()
    return raw_config_layout(p, ctx, doc.replace(b'"Q"', b'"\\udcff\\ud800"'))


@case("index-nested-6", "json", "an index inside an index ... 6 deep", expect="error", needle="nested")
def _(p: Path, ctx: Ctx) -> str:
    path = p / "layout"
    ref = OCI([gz(ctx.base)]).write(path)
    b = path / "blobs" / "sha256"
    index = json.loads((path / "index.json").read_text())
    desc = index["manifests"][0]
    desc["platform"] = {"os": "linux", "architecture": "amd64"}
    for _ in range(6):
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}).encode()
        (b / sha(raw)[7:]).write_bytes(raw)
        desc = {"mediaType": OCI_INDEX, "digest": sha(raw), "size": len(raw),
                "platform": {"os": "linux", "architecture": "amd64"}}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return ref


@case("index-nested-2", "json", "an index inside an index (2 deep): fine")
def _(p: Path, ctx: Ctx) -> str:
    path = p / "layout"
    ref = OCI([gz(ctx.base)]).write(path)
    b = path / "blobs" / "sha256"
    index = json.loads((path / "index.json").read_text())
    desc = index["manifests"][0]
    desc["platform"] = {"os": "linux", "architecture": "amd64"}
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}).encode()
    (b / sha(raw)[7:]).write_bytes(raw)
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": sha(raw), "size": len(raw)}]}))
    return ref


# ====================================================================== types

def _types_case(name: str, what: str, needle: str, **fields):
    @case(name, "types", what, expect="error", needle=needle)
    def _(p: Path, ctx: Ctx) -> str:
        return raw_config_layout(p, ctx, json.dumps(config_with(ctx, **fields)).encode())


_types_case("type-entrypoint-int", "config Entrypoint is an integer", "config.Entrypoint", config_Entrypoint=5)
_types_case("type-env-ints", "config Env holds integers", "config.Env[1]", config_Env=["A=1", 2])
_types_case("type-config-list", "the config section is a list", "field config", config=[1, 2])
_types_case("type-architecture-int", "architecture is an integer", "architecture", architecture=64)
_types_case("type-labels-int", "a label value is an integer", "config.Labels.version", config_Labels={"version": 3})
_types_case("type-history-object", "history is an object", "history", history={"created_by": "x"})
_types_case("type-history-entry", "a history entry's empty_layer is a string", "empty_layer",
            history=[{"created_by": "x", "empty_layer": "yes"}])
_types_case("type-workdir-list", "WorkingDir is a list", "config.WorkingDir", config_WorkingDir=["/"])
_types_case("type-ports-list", "ExposedPorts is a list", "config.ExposedPorts", config_ExposedPorts=["80/tcp"])


@case("type-diff-id-int", "types", "rootfs.diff_ids holds an integer", expect="error", needle="diff_ids")
def _(p: Path, ctx: Ctx) -> str:
    doc = config_doc([sha(ctx.base)])
    doc["rootfs"]["diff_ids"] = [7]
    return raw_config_layout(p, ctx, json.dumps(doc).encode())


@case("type-entrypoint-string", "types", "Entrypoint given as one string (Docker's StrSlice takes it)",
      extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return raw_config_layout(p, ctx, json.dumps(config_with(ctx, config_Entrypoint="/bin/true")).encode())


def _manifest_json_case(name: str, what: str, needle: str, entry: dict):
    @case(name, "types", what, expect="error", needle=needle)
    def _(p: Path, ctx: Ctx) -> str:
        e = {"Config": "config.json", "RepoTags": ["hostile:latest"], "Layers": ["l0/layer.tar"]}
        e.update(entry)
        return archive(p, ctx, raw_manifest=json.dumps([e]).encode())


_manifest_json_case("type-manifest-json-config-int", "manifest.json Config is 5", "Config", {"Config": 5})
_manifest_json_case("type-manifest-json-layers-str", "manifest.json Layers is a string", "Layers",
                    {"Layers": "l0/layer.tar"})
_manifest_json_case("type-manifest-json-layers-int", "manifest.json Layers is [0]", "Layers[0]", {"Layers": [0]})
_manifest_json_case("type-manifest-json-tags-int", "manifest.json RepoTags is 1", "RepoTags", {"RepoTags": 1})


@case("type-manifest-json-not-objects", "types", "manifest.json is a list of numbers", expect="error",
      needle="manifest.json")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, raw_manifest=b"[1, 2, 3]")


@case("type-index-annotations-list", "types", "index annotations given as a list", expect="error",
      needle="annotations")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, index_extra={"annotations": [["a", "b"]]})


@case("type-manifest-annotations-list", "types", "manifest annotations given as a list", expect="error",
      needle="annotations")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, manifest_extra={"annotations": ["a=b"]})


@case("type-descriptor-size-string", "types", "a layer descriptor's size is a string", expect="error",
      needle="size")
def _(p: Path, ctx: Ctx) -> str:
    b = gz(ctx.base)
    return layout(p, ctx, b, base=False, manifest_extra={"layers": [
        {"mediaType": OCI_GZIP, "digest": b.digest, "size": str(b.size)}]})


@case("type-descriptor-size-bool", "types", "the config descriptor's size is true", expect="error", needle="size")
def _(p: Path, ctx: Ctx) -> str:
    path = p / "layout"
    OCI([gz(ctx.base)]).write(path)
    b = path / "blobs" / "sha256"
    index = json.loads((path / "index.json").read_text())
    man = json.loads((b / index["manifests"][0]["digest"][7:]).read_text())
    man["config"]["size"] = True
    raw = json.dumps(man).encode()
    (b / sha(raw)[7:]).write_bytes(raw)
    index["manifests"][0].update(digest=sha(raw), size=len(raw))
    (path / "index.json").write_text(json.dumps(index))
    return f"oci:{path}"


@case("type-descriptor-size-negative", "types", "the manifest descriptor's size is -1", expect="error",
      needle="size")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, desc_extra={"size": -1})


@case("type-platform-string", "types", "an index entry's platform is a string", expect="error", needle="platform")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, desc_extra={"platform": "linux/amd64"})


@case("type-media-type-int", "types", "the manifest's mediaType is an integer", expect="error",
      needle="mediaType")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, manifest_extra={"mediaType": 7})


@case("type-schema-version-string", "types", "schemaVersion is the string \"2\"", expect="error",
      needle="schemaVersion")
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, manifest_extra={"schemaVersion": "2"})


@case("type-urls-string", "types", "a layer's urls is a string", expect="error", needle="urls")
def _(p: Path, ctx: Ctx) -> str:
    b = gz(ctx.base)
    return layout(p, ctx, b, base=False, manifest_extra={"layers": [
        {"mediaType": OCI_GZIP, "digest": b.digest, "size": b.size, "urls": "http://x"}]})


# ================================================================ tar headers

def _one_layer(ctx: Ctx, p: Path, t: bytes, *, gzip_it: bool = False) -> str:
    if gzip_it:
        return layout(p, ctx, gz(t))
    return archive(p, ctx, t)


@case("tar-pax-mtime-inf", "tar-header", "PAX mtime=inf", extra=("trace",),
      checks={"analyze": analysis_problem("mtime")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"mtime": "inf"}), reg("app/inf", b"x")))


@case("tar-pax-mtime-nan", "tar-header", "PAX mtime=nan", checks={"analyze": analysis_problem("mtime")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"mtime": "nan"}), reg("app/nan", b"x")))


@case("tar-pax-mtime-huge", "tar-header", "PAX mtime=1e30 (and a base-256 mtime of 2^80)", extra=("trace",),
      checks={"analyze": analysis_problem("mtime", "clamped")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"mtime": "1e30"}), reg("app/huge", b"x"), reg("app/b256", b"y", mtime=2**80)))


@case("tar-pax-mtime-garbage", "tar-header", "PAX mtime that is not a number",
      checks={"analyze": analysis_problem("mtime")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"mtime": "yesterday"}), reg("app/when", b"x")))


@case("tar-pax-uid-2e70", "tar-header", "PAX uid 2^70", expect="error", needle="out of range", extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"uid": str(2**70)}), reg("app/owned", b"x")))


@case("tar-gid-negative", "tar-header", "base-256 gid -1", expect="error", needle="out of range")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/g", b"x", gid=-1)))


@case("tar-pax-uid-garbage", "tar-header", "PAX uid '1_000' (Python's int() would take it)", expect="error",
      needle="PAX uid")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"uid": "1_000"}), reg("app/u", b"x")))


@case("tar-size-negative", "tar-header", "base-256 size -1024", expect="error", needle="negative size")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(header("app/neg", b"0", -1024), reg("app/after", b"y")))


@case("tar-pax-size-negative", "tar-header", "PAX size -5", expect="error", needle="size")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"size": "-5"}), reg("app/neg", b"x")))


@case("tar-devmajor-2e50", "tar-header", "a character device with major 2^50", expect="error",
      needle="device number", extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(chardev("dev/huge", 2**50, 1)))


@case("tar-bad-checksum", "tar-header", "a header whose checksum is off by one", expect="error", needle="checksum")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/a", b"x"), header("app/b", b"0", 0, checksum_delta=1)))


@case("tar-size-100g", "tar-header", "a member declaring 100 GB in a small layer", expect="error",
      needle="truncated")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(header("app/big", b"0", 100 << 30), b"x" * 4096, end=False))


@case("tar-pax-size-100g", "tar-header", "PAX size of 100 GB, gzip layer", expect="error", needle="truncated")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"size": str(100 << 30)}), reg("app/big", b"x" * 100), end=False),
                      gzip_it=True)


@case("tar-name-4k", "tar-header", "a 4 KB file name (PAX path)", expect="error", needle="PATH_MAX",
      extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    name = "/".join(["d" * 200] * 21)
    return _one_layer(ctx, p, tar(pax({"path": name}), reg("placeholder", b"x")))


@case("tar-component-300", "tar-header", "a 300-byte path component", expect="error", needle="NAME_MAX")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"path": "app/" + "n" * 300}), reg("placeholder", b"x")))


@case("tar-symlink-80k", "tar-header", "an 80 KB symlink target (GNU long link)", expect="error",
      needle="link target", extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    target = "t/" * 40_000
    longlink = header("././@LongLink", b"K", len(target) + 1) + target.encode() + b"\0" + pad(len(target) + 1)
    return _one_layer(ctx, p, tar(longlink, symlink("app/link", "x")))


@case("tar-pax-huge", "tar-header", "a 2 MB PAX header (one huge xattr)", expect="error",
      needle="extension header")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"SCHILY.xattr.user.big": "x" * (2 << 20)}), reg("app/x", b"x")),
                      gzip_it=True)


@case("tar-pax-global-flood", "tar-header", "3,000 PAX global headers of 700 bytes each", expect="error",
      needle="global")
def _(p: Path, ctx: Ctx) -> str:
    gs = b"".join(pax({f"comment{i}": "g" * 700}, typ=b"g") for i in range(3000))
    return _one_layer(ctx, p, tar(gs, reg("app/x", b"x")), gzip_it=True)


@case("tar-pax-bad-length", "tar-header", "a PAX record whose length field is garbage", expect="error",
      needle="PAX")
def _(p: Path, ctx: Ctx) -> str:
    body = b"zz path=app/x\n"
    return _one_layer(ctx, p, tar(header("PaxHeader", b"x", len(body)) + body + pad(len(body)), reg("app/x", b"x")))


@case("tar-unknown-type", "tar-header", "an entry of unknown type 'Z' and a GNU sparse 'S'",
      checks={"analyze": analysis_problem("unsupported")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(header("app/z", b"Z", 3) + b"zzz" + pad(3), header("app/s", b"S", 0)))


@case("tar-no-end-marker", "tar-header", "a layer without end-of-archive blocks (Docker accepts it)")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/a", b"hello"), end=False))


@case("tar-empty-layer", "tar-header", "a layer of zero bytes")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, b"")


# ====================================================================== names

NON_UTF8 = b"app/caf\xe9-\xff\xfe.txt"


def _names_layer() -> bytes:
    return tar(dir_("app"), reg(NON_UTF8, b"latin-1 name"), reg(b"app/\x1b[31mred\x1b[0m", b"escape codes"),
               reg(b"app/new\nline", b"a newline"), reg("app/日本語.txt", b"utf-8"), dir_(b"app/d\xe9j\xe0"),
               reg(b"app/d\xe9j\xe0/inner", b"x"))


@case("names-non-utf8", "names", "non-UTF-8 names, escape codes and newlines, through every output",
      commands=("inspect", "analyze", "analyze-text", "analyze-md", "copy", "copy-keep", "copy-archive", "minify",
                "trace"),
      checks={"minify": expect_paths({"app/caf\udce9-\udcff\udcfe.txt": "file", "app/new\nline": "file"})})
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, _names_layer())


@case("names-non-utf8-gzip", "names", "non-UTF-8 names in a gzip OCI layer",
      commands=("inspect", "analyze", "analyze-text", "analyze-md", "copy", "minify"))
def _(p: Path, ctx: Ctx) -> str:
    return layout(p, ctx, gz(_names_layer()))


@case("names-newline-in-error", "names", "a bad header on an entry named with a newline: still one error line",
      expect="error", needle="out of range")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg(b"app/evil\nimgopt: error: fake second line", b"x", gid=-7)))


@case("names-nul-in-pax", "names", "a PAX path holding a NUL byte", checks={"analyze": analysis_problem("NUL")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(pax({"path": "app/a\0b"}), reg("placeholder", b"x")))


@case("names-dot-forms", "names", "'./', '.', '//' and trailing-slash name forms")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(dir_("./"), dir_("./app/"), reg("./app//a", b"1"), reg("app/./b", b"2"),
                                  dir_("app/c/"), reg("app/c/d/", b"3")))


# ==================================================================== escapes

def _canary_file(ctx: Ctx) -> str:
    return str(ctx.canary / "pwned")


@case("escape-dotdot", "escape", "'../../../..' climbing to the canary directory", extra=("trace",),
      checks={"analyze": analysis_problem("..")})
def _(p: Path, ctx: Ctx) -> str:
    climb = "../" * 12 + str(ctx.canary).lstrip("/") + "/pwned-dotdot"
    return _one_layer(ctx, p, tar(reg(climb, b"pwned"), hardlink("app/hl", climb)))


@case("escape-absolute", "escape", "an absolute path naming the canary directory", extra=("trace",),
      checks={"analyze": analysis_problem("absolute")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg(_canary_file(ctx), b"pwned")))


@case("escape-symlink-same-layer", "escape", "symlink 'escape' to the canary, then 'escape/pwned' (same layer)",
      extra=("trace",),
      checks={"minify": expect_paths({"escape": "symlink"}, ("escape/pwned",)),
              "analyze": analysis_problem("escape/pwned", "symlink")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(symlink("escape", str(ctx.canary)), reg("escape/pwned", b"pwned"),
                                  dir_("escape/sub"), reg("escape/sub/deeper", b"pwned")))


@case("escape-symlink-dotdot", "escape", "relative symlink '../../..' then a file through it (same layer)",
      extra=("trace",), checks={"minify": expect_paths({"up": "symlink"}, ("up/pwned",))})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(symlink("up", "../" * 12 + str(ctx.canary).lstrip("/")), reg("up/pwned", b"x")))


@case("escape-symlink-lower-layer", "escape", "symlink in one layer, a file through it in the next (overlay2: a "
      "real directory)", extra=("trace",), checks={"minify": expect_paths({"escape": "dir", "escape/pwned": "file"})})
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(symlink("escape", str(ctx.canary))), tar(reg("escape/pwned", b"pwned")))


@case("escape-hardlink-host-path", "escape", "hardlink to an absolute host path (the canary file)",
      extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(hardlink("app/steal", str(ctx.canary / "secret"))))


@case("escape-root-symlink", "escape", "the root './' given as a symlink to a host directory", extra=("trace",),
      checks={"analyze": analysis_problem("root")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(symlink("./", str(ctx.canary)), reg("pwned-root", b"x")))


@case("escape-root-file", "escape", "the root given as a regular file", extra=("trace",),
      checks={"analyze": analysis_problem("root")})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("./", b"I am the root"), reg("app/x", b"x")))


@case("escape-symlink-loop", "escape", "symlinks a->b, b->a and an entrypoint through them",
      expect="ok", extra=("trace",), overrides={"trace": "ran"})
def _(p: Path, ctx: Ctx) -> str:
    t = tar(symlink("loop/a", "b"), symlink("loop/b", "a"))
    return archive(p, ctx, t, config={"Entrypoint": ["/loop/a"]})


@case("escape-whiteout-root", "escape", "whiteouts of '/': '.wh.' and an opaque marker at the root (which hides "
      "the base, entrypoint included: trace's probe fails)", extra=("trace",), overrides={"trace": "ran"})
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(reg(".wh.", b""), reg(".wh..wh..opq", b""), reg("app/x", b"x")))


@case("escape-whiteout-dotdot", "escape", "whiteouts '.wh...' and 'app/.wh..'",
      checks={"analyze": analysis_problem("whiteout")})
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(reg(".wh...", b""), reg("app/.wh..", b""), reg("app/y", b"y")))


@case("escape-blob-symlink-out", "escape", "an OCI layout whose layer blob is a symlink to a host file",
      expect="error", needle="out of the layout")
def _(p: Path, ctx: Ctx) -> str:
    secret = ctx.canary / "secret"
    bl = Blob(OCI_TAR, sha(secret.read_bytes()), digest=sha(secret.read_bytes()), size=secret.stat().st_size)
    ref = OCI([gz(ctx.base), bl]).write(p / "layout")
    os.symlink(secret, p / "layout" / "blobs" / "sha256" / bl.digest[7:])
    return ref


@case("escape-blob-dev-zero", "escape", "a layer blob that is a symlink to /dev/zero", expect="error",
      needle="out of the layout")
def _(p: Path, ctx: Ctx) -> str:
    fake = "sha256:" + "0" * 64
    ref = OCI([gz(ctx.base), Blob(OCI_GZIP, fake, digest=fake, size=1 << 30)]).write(p / "layout")
    os.symlink("/dev/zero", p / "layout" / "blobs" / "sha256" / ("0" * 64))
    return ref


@case("escape-blob-fifo", "escape", "a layer blob that is a FIFO (must not hang)", expect="error",
      needle="not a regular file")
def _(p: Path, ctx: Ctx) -> str:
    fake = "sha256:" + "1" * 64
    ref = OCI([gz(ctx.base), Blob(OCI_GZIP, fake, digest=fake, size=1024)]).write(p / "layout")
    os.mkfifo(p / "layout" / "blobs" / "sha256" / ("1" * 64))
    return ref


@case("escape-archive-layer-path", "escape", "manifest.json naming '../../../etc/passwd' as a layer",
      expect="error", needle="missing")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, raw_manifest=json.dumps([{"Config": "config.json", "Layers": ["l0/layer.tar",
                                                                                     "../../../../etc/passwd"]}]).encode(),
                   config=config_doc([sha(ctx.base), sha(b"")]))


# ================================================================== hardlinks

def _hardlink_case(name: str, what: str, members: Callable[[], bytes], checks: dict | None = None):
    @case(name, "hardlink", what, extra=("trace",), checks=checks or {"analyze": analysis_problem("hardlink")})
    def _(p: Path, ctx: Ctx) -> str:
        return _one_layer(ctx, p, members())


_hardlink_case("hardlink-later-entry", "a hardlink to an entry that comes later in the layer",
               lambda: tar(hardlink("app/early", "app/late"), reg("app/late", b"late content")))
_hardlink_case("hardlink-self", "a hardlink to itself",
               lambda: tar(hardlink("app/self", "app/self")))
_hardlink_case("hardlink-self-after-file", "a file, then a hardlink of that path to itself",
               lambda: tar(reg("app/f", b"content"), hardlink("app/f", "app/f")),
               checks={"minify": expect_paths({"app/f": "file"})})
_hardlink_case("hardlink-cycle", "hardlinks a->b and b->a",
               lambda: tar(hardlink("app/a", "app/b"), hardlink("app/b", "app/a")))
_hardlink_case("hardlink-to-dir", "a hardlink to a directory",
               lambda: tar(dir_("app/d"), hardlink("app/l", "app/d")))
_hardlink_case("hardlink-to-symlink", "a hardlink to a symlink",
               lambda: tar(symlink("app/s", "/bin/busybox"), hardlink("app/l", "app/s")))
_hardlink_case("hardlink-outside", "a hardlink to '../../../etc/shadow' (normalized into the image)",
               lambda: tar(hardlink("app/l", "../../../../etc/shadow")))
_hardlink_case("hardlink-chain-3000", "a chain of 3,000 hardlinks, each to the one before",
               lambda: tar(reg("app/h0", b"chained"), *[hardlink(f"app/h{i}", f"app/h{i - 1}") for i in range(1, 3000)]),
               checks={"minify": expect_paths({"app/h2999": "file"})})


@case("hardlink-target-deleted", "hardlink", "a hardlink whose target a later layer deletes", extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(reg("app/f", b"data"), hardlink("app/l", "app/f")), tar(reg("app/.wh.f", b"")))


# ====================================================================== bombs

@case("bomb-gzip-256m-zeros", "bomb", "a 256 KB gzip layer holding a 256 MB file of zeros",
      commands=("inspect", "analyze", "copy", "copy-keep", "minify"), timeout=300)
def _(p: Path, ctx: Ctx) -> str:
    n = 256 << 20

    def chunks():
        yield header("app/zeros", b"0", n)
        yield from zeros(n)
        yield END

    path = p / "blob"
    digest, size = write_stream(path, gzip_stream(chunks(), 6))
    diff, _ = hash_stream(chunks())
    return layout(p, ctx, Blob(OCI_GZIP, diff, path=path, digest=digest, size=size))


@case("bomb-zstd-256m-zeros", "bomb", "a zstd layer holding 256 MB of zeros", commands=("inspect", "analyze", "copy-keep"),
      timeout=300)
def _(p: Path, ctx: Ctx) -> str:
    import zstandard

    n = 256 << 20
    t = header("app/zeros", b"0", n) + bytes(n) + END
    return layout(p, ctx, Blob(OCI_ZSTD, sha(t), zstandard.ZstdCompressor(level=3).compress(t)))


@case("bomb-entries-100k", "bomb", "100,000 empty files in one gzip layer (entry-count bomb)", timeout=400,
      commands=("inspect", "analyze", "copy-keep", "minify"))
def _(p: Path, ctx: Ctx) -> str:
    def chunks():
        yield dir_("many")
        for i in range(100):
            yield dir_(f"many/{i}")
            yield b"".join(header(f"many/{i}/f{j}", b"0", 0) for j in range(1000))
        yield END

    path = p / "blob"
    digest, size = write_stream(path, gzip_stream(chunks(), 6))
    diff, _ = hash_stream(chunks())
    return layout(p, ctx, Blob(OCI_GZIP, diff, path=path, digest=digest, size=size), base=False)


@case("bomb-10000-layers", "bomb", "10,000 layers", commands=("inspect", "analyze"), timeout=400)
def _(p: Path, ctx: Ctx) -> str:
    layers = [tar(reg(f"l/{i}", b"")) for i in range(10_000)]
    return archive(p, ctx, *layers, base=False, config={"Entrypoint": ["/bin/true"]})


@case("bomb-deep-10000", "bomb", "directories nested 10,000 deep (paths beyond PATH_MAX)", expect="error",
      needle="PATH_MAX", extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(*[dir_("a/" * i) for i in range(1, 10_001)]), gzip_it=True)


@case("bomb-deep-2000", "bomb", "directories nested 2,000 deep (more than Python's recursion limit)",
      extra=("trace",), timeout=300)
def _(p: Path, ctx: Ctx) -> str:
    ms = [dir_("a/" * i) for i in range(1, 2001)] + [reg("a/" * 2000 + "leaf", b"bottom")]
    return _one_layer(ctx, p, tar(*ms, reg(("a/" * 1000) + ".wh..wh..opq", b"")), gzip_it=True)


@case("bomb-gzip-members", "bomb", "a layer of 20,000 gzip members (one per 512-byte block)")
def _(p: Path, ctx: Ctx) -> str:
    t = tar(*[reg(f"app/m{i}", b"") for i in range(10_000)])
    blob = b"".join(gzip.compress(t[i:i + 512], 1, mtime=0) for i in range(0, len(t), 512))
    return layout(p, ctx, Blob(OCI_GZIP, sha(t), blob))


@case("bomb-symlink-hops", "bomb", "an entrypoint behind 60 chained symlinks", extra=("trace",),
      overrides={"trace": "ran"})
def _(p: Path, ctx: Ctx) -> str:
    ms = [symlink(f"hop/{i}", f"/hop/{i + 1}") for i in range(60)] + [symlink("hop/60", "/bin/true")]
    return archive(p, ctx, tar(*ms), config={"Entrypoint": ["/hop/0"]})


@case("bomb-non-tar-1g", "bomb", "a 1 MB gzip of 1 GB of non-tar bytes with a matching (fake) diffID",
      expect="error", needle="corrupt tar header", timeout=300)
def _(p: Path, ctx: Ctx) -> str:
    n = 1 << 30
    a = b"A" * (1 << 20)

    def chunks():
        for _ in range(n >> 20):
            yield a

    path = p / "blob"
    digest, size = write_stream(path, gzip_stream(chunks(), 6))
    diff, _ = hash_stream(chunks())
    return layout(p, ctx, Blob(OCI_GZIP, diff, path=path, digest=digest, size=size))


# ===================================================================== devices

@case("device-host-disk", "device", "block device 8,0 (a host disk) and char device 1,1 (/dev/mem)",
      extra=("trace",))
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(dir_("dev"), blockdev("dev/sda", 8, 0), chardev("dev/mem", 1, 1),
                                  fifo("dev/pipe")))


@case("device-max", "device", "device numbers at the largest a ustar header holds")
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(chardev("dev/max", 0o7777777, 0o7777777)))


# ================================================================== duplicates

@case("dup-same-file", "duplicate", "the same path three times in one layer (the last wins)", extra=("trace",),
      checks={"minify": expect_paths({"app/dup": "file"})})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/dup", b"1"), reg("app/dup", b"22"), reg("app/dup", b"333")))


@case("dup-file-then-dir", "duplicate", "a file, then a directory at the same path", extra=("trace",),
      checks={"minify": expect_paths({"app/x": "dir"})})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/x", b"file"), dir_("app/x"), reg("app/x/in", b"in")))


@case("dup-dir-then-file", "duplicate", "a directory with children, then a file at its path", extra=("trace",),
      checks={"minify": expect_paths({"app/x": "file"}, ("app/x/in",))})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(dir_("app/x"), reg("app/x/in", b"in"), reg("app/x", b"file")))


@case("dup-file-in-the-way", "duplicate", "a file 'a', then 'a/b' below it in the same layer", extra=("trace",),
      checks={"minify": expect_paths({"app/a": "dir", "app/a/b": "file"})})
def _(p: Path, ctx: Ctx) -> str:
    return _one_layer(ctx, p, tar(reg("app/a", b"file"), reg("app/a/b", b"below")))


@case("dup-whiteout-and-file", "duplicate", "a whiteout and a file of the same name in one layer")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(reg("app/f", b"old")), tar(reg("app/.wh.f", b""), reg("app/f", b"new")))


# ====================================================================== blobs

def _gz_base_layout(p: Path, ctx: Ctx, victim: Blob) -> str:
    return layout(p, ctx, victim)


APP = tar(dir_("app"), reg("app/hello", b"hello world\n" * 100), reg("app/bin", os.urandom(50_000)))


@case("blob-truncated-gzip", "blob", "a gzip layer cut in half (digest and size made to match)", expect="error",
      needle="truncated", commands=DEFAULT_COMMANDS + ("copy-archive",))
def _(p: Path, ctx: Ctx) -> str:
    g = gz(APP).data
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, sha(APP), g[: len(g) // 2]))


@case("blob-wrong-diffid", "blob", "a gzip layer whose diffID is another layer's", expect="error",
      needle="digest mismatch", commands=DEFAULT_COMMANDS + ("copy-archive",))
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, gz(APP, diff_id=sha(b"something else")))


@case("blob-gzip-in-gzip", "blob", "gzip of a gzip of a tar (diffID of the inner gzip)", expect="error",
      needle="corrupt tar header")
def _(p: Path, ctx: Ctx) -> str:
    inner = gzip.compress(APP, mtime=0)
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, sha(inner), gzip.compress(inner, mtime=0)))


@case("blob-trailing-garbage", "blob", "a gzip layer followed by garbage bytes", expect="error", needle="gzip")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, sha(APP), gz(APP).data + b"GARBAGE!" * 100))


@case("blob-trailing-zeros", "blob", "a gzip layer followed by zero padding (gzip(1) accepts it)")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, sha(APP), gz(APP).data + bytes(4096)))


@case("blob-bad-checksum-in-gzip", "blob", "a gzip layer whose tar has a bad header checksum (diffID matches)",
      expect="error", needle="checksum")
def _(p: Path, ctx: Ctx) -> str:
    t = tar(reg("app/a", b"x"), header("app/b", b"0", 0, checksum_delta=3))
    return _gz_base_layout(p, ctx, gz(t))


@case("blob-100g-in-gzip", "blob", "a gzip layer whose tar declares a 100 GB member", expect="error",
      needle="truncated")
def _(p: Path, ctx: Ctx) -> str:
    t = tar(header("app/big", b"0", 100 << 30), b"x" * 1000, end=False)
    return _gz_base_layout(p, ctx, gz(t))


@case("blob-negative-size-in-gzip", "blob", "a gzip layer whose tar declares a negative size", expect="error",
      needle="negative size")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, gz(tar(header("app/neg", b"0", -1), reg("app/b", b"b"))))


@case("blob-truncated-zstd", "blob", "a zstd layer cut short", expect="error", needle="zstd")
def _(p: Path, ctx: Ctx) -> str:
    z = zst(APP).data
    return _gz_base_layout(p, ctx, Blob(OCI_ZSTD, sha(APP), z[: len(z) - 100]))


@case("blob-zstd-wrong-diffid", "blob", "a zstd layer with a wrong diffID", expect="error",
      needle="digest mismatch")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, zst(APP, diff_id=sha(b"other")))


@case("blob-plain-wrong-diffid", "blob", "an uncompressed layer whose diffID is not its digest", expect="error",
      needle="diffID")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, Blob(OCI_TAR, sha(b"other"), APP))


@case("blob-digest-mismatch", "blob", "a layer blob whose bytes changed under its digest", expect="error",
      needle="digest mismatch", commands=DEFAULT_COMMANDS + ("copy-archive",))
def _(p: Path, ctx: Ctx) -> str:
    g = gz(APP)
    ref = _gz_base_layout(p, ctx, g)
    f = p / "layout" / "blobs" / "sha256" / g.digest[7:]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    return ref


@case("blob-size-lies", "blob", "a descriptor size smaller than the blob", expect="error", needle="size")
def _(p: Path, ctx: Ctx) -> str:
    g = gz(APP)
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, g.diff_id, g.data, size=g.size - 10))


@case("blob-media-type-lies", "blob", "media type says gzip, the bytes are zstd (sniffed, as readers do)")
def _(p: Path, ctx: Ctx) -> str:
    z = zst(APP)
    return _gz_base_layout(p, ctx, Blob(OCI_GZIP, z.diff_id, z.data))


@case("blob-tar-trailing-garbage", "blob", "a tar followed by garbage after its end-of-archive (covered by "
      "the diffID; engines stop at the end marker)")
def _(p: Path, ctx: Ctx) -> str:
    return _gz_base_layout(p, ctx, gz(APP + b"garbage after the end" * 50))


@case("blob-missing", "blob", "a layer blob named by the manifest is missing", expect="error", needle="missing")
def _(p: Path, ctx: Ctx) -> str:
    g = gz(APP)
    ref = _gz_base_layout(p, ctx, g)
    (p / "layout" / "blobs" / "sha256" / g.digest[7:]).unlink()
    return ref


@case("blob-not-tar-plain", "blob", "an uncompressed layer of random bytes, digest and diffID consistent",
      expect="error", needle="corrupt tar header")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, os.urandom(5000))


# ==================================================================== archives

@case("archive-truncated", "archive", "a docker archive cut off in the middle of a layer", expect="error",
      needle="end of data")
def _(p: Path, ctx: Ctx) -> str:
    ref = archive(p, ctx, APP)
    f = p / "image.tar"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) * 2 // 3])
    return ref


@case("archive-gzipped", "archive", "a gzip-compressed docker save archive")
def _(p: Path, ctx: Ctx) -> str:
    archive(p, ctx, APP)
    (p / "image.tar.gz").write_bytes(gzip.compress((p / "image.tar").read_bytes(), 1))
    (p / "image.tar").unlink()
    return f"docker-archive:{p / 'image.tar.gz'}"


@case("archive-two-images", "archive", "an archive holding two images and no tag asked for", expect="error",
      needle="holds 2 images")
def _(p: Path, ctx: Ctx) -> str:
    e = {"Config": "config.json", "Layers": ["l0/layer.tar", "l1/layer.tar"]}
    return archive(p, ctx, APP, raw_manifest=json.dumps([{**e, "RepoTags": ["a:1"]}, {**e, "RepoTags": ["b:1"]}]).encode())


@case("archive-layer-symlink", "archive", "a layer stored as a symlink to an identical layer (docker save dedup)")
def _(p: Path, ctx: Ctx) -> str:
    ti = tarfile.TarInfo("l2/layer.tar")
    ti.type, ti.linkname = tarfile.SYMTYPE, "../l1/layer.tar"
    ids = [sha(ctx.base), sha(APP), sha(APP)]
    return archive(p, ctx, APP, config=config_doc(ids), extra=[(ti, None)],
                   raw_manifest=json.dumps([{"Config": "config.json", "RepoTags": ["x:1"],
                                             "Layers": ["l0/layer.tar", "l1/layer.tar", "l2/layer.tar"]}]).encode())


@case("archive-layer-is-dir", "archive", "manifest.json naming a directory as a layer", expect="error",
      needle="missing")
def _(p: Path, ctx: Ctx) -> str:
    ti = tarfile.TarInfo("ldir")
    ti.type = tarfile.DIRTYPE
    return archive(p, ctx, config=config_doc([sha(ctx.base), sha(b"")]), extra=[(ti, None)],
                   raw_manifest=json.dumps([{"Config": "config.json", "Layers": ["l0/layer.tar", "ldir"]}]).encode())


@case("archive-member-100g", "archive", "an archive member declaring 100 GB", expect="error",
      needle="not a readable tar archive")
def _(p: Path, ctx: Ctx) -> str:
    archive(p, ctx, APP)
    data = (p / "image.tar").read_bytes()
    bad = header("junk", b"0", 100 << 30) + b"x" * 4096
    (p / "image.tar").write_bytes(data[: len(data) - 2 * 512 * 5] + bad)  # drop the end blocks, append a liar
    return f"docker-archive:{p / 'image.tar'}"


# ============================================================= evil entrypoints

def _evil(p: Path, ctx: Ctx, script: str, **cfg) -> str:
    config = {"Entrypoint": ["/bin/sh", "-c", script], **cfg}
    return archive(p, ctx, tar(dir_("app"), reg("app/x", b"x")), config=config)


@case("entrypoint-writes-host-path", "entrypoint", "the entrypoint writes to the canary's host path",
      commands=("trace",), expect="ran")
def _(p: Path, ctx: Ctx) -> str:
    return _evil(p, ctx, f"echo pwned > {ctx.canary}/pwned; mkdir -p {ctx.canary}/d; echo pwned > /pwned-root; true")


@case("entrypoint-fills-tmp", "entrypoint", "the entrypoint writes 50 MB into /tmp (scratch must go)",
      commands=("trace",), expect="ran")
def _(p: Path, ctx: Ctx) -> str:
    return _evil(p, ctx, "i=0; while [ $i -lt 50 ]; do head -c 1048576 /bin/busybox > /tmp/f$i; i=$((i+1)); done")


@case("entrypoint-sleeps", "entrypoint", "the entrypoint sleeps past the trace timeout", commands=("trace",),
      expect="ran", timeout=120, trace_timeout=4)
def _(p: Path, ctx: Ctx) -> str:
    return _evil(p, ctx, "sleep 3600")


@case("entrypoint-missing", "entrypoint", "the entrypoint does not exist in the image (a failed probe: exit 1)",
      commands=("trace",), expect="ran")
def _(p: Path, ctx: Ctx) -> str:
    return archive(p, ctx, tar(reg("app/x", b"x")), config={"Entrypoint": ["/no/such/binary"]})


def by_name() -> dict[str, Case]:
    names = [c.name for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, f"duplicate case names: {dup}"
    return {c.name: c for c in CASES}


__all__ = ["CASES", "Case", "Ctx", "by_name", "ALL_COMMANDS", "DEFAULT_COMMANDS", "OCI_MANIFEST", "OCI_TAR"]
