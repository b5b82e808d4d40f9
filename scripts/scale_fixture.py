#!/usr/bin/env python3
"""The scan scale fixture: push N tags built from the real app images into a registry.

    .venv/bin/python scripts/scale_fixture.py --registry 127.0.0.1:5077 --tags 200

Every tag is one of the real app images of fixtures/build_apps.py (cached
docker-save archives of pyweb, nodeweb, nginx, ffmpegjob, pynumeric, javaweb,
plus fixtures/sample.tar), so tags share Debian base layers as real fleets
do, with two generated layers on top, made with imgopt's own image model
(:func:`imgopt.image.mutate.with_layer`):

* a *dependency* layer, one of ``VARIANTS`` per app (``/opt/deps/``): shared by
  every ``VARIANTS``-th tag of the app, as dependency versions are;
* an *app code* layer unique to the tag (``/app/``), which also, on every
  seventh tag, overwrites and deletes files of the base (exact waste) and
  carries a stray ``__pycache__`` and a copy of a base file (junk, duplicates).

Repositories are ``PREFIX/APP`` (default prefix ``imgopt-scan``), tags
``vNNN``; config ``created`` times increase with the tag number, so "newest
N" is well defined.  Everything is deterministic: the same command pushes the
same digests.  The app images are gzip-compressed once (cached under
``$IMGOPT_FIXTURE_CACHE/scan-bases``); pushes skip blobs the registry has.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["pyweb", "nodeweb", "nginx", "ffmpegjob", "pynumeric", "javaweb", "sample"]
SMALL_APPS = ["sample", "nginx", "pyweb"]  # what the tests use (smaller, quicker)
VARIANTS = 4
EPOCH = 1767225600  # 2026-01-01T00:00:00Z
MTIME = 1700000000


@dataclass(frozen=True)
class TagSpec:
    index: int
    app: str
    repository: str
    tag: str
    variant: int


def cache_dir() -> Path:
    return Path(os.environ.get("IMGOPT_FIXTURE_CACHE", "/var/cache/imgopt-fixtures")) / "scan-bases"


def _builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_apps", ROOT / "fixtures" / "build_apps.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_apps", mod)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def archive(app: str) -> Path:
    if app == "sample":
        return ROOT / "fixtures" / "sample.tar"
    return _builder().ensure_app(app)


def base_image(app: str) -> Path:
    """The app image with gzip layers, as an OCI layout (made once, cached; file-locked)."""
    from imgopt.image.transports import SinkOptions, open_image, write_image

    src = archive(app)
    out = cache_dir() / f"{app}-{src.stat().st_size}-{int(src.stat().st_mtime)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{app}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "index.json").exists():
            with open_image(f"docker-archive:{src}") as img:
                write_image(img, f"oci:{out}:base", SinkOptions(compress="gzip"))
    return out


def plan(n: int, apps: list[str], prefix: str, start: int = 0) -> list[TagSpec]:
    out = []
    for k in range(start, start + n):
        app = apps[k % len(apps)]
        v = k // len(apps)
        out.append(TagSpec(k, app, f"{prefix}/{app}", f"v{v:03d}", v % VARIANTS))
    return out


def _tar(files: list[tuple[str, bytes | None]]) -> bytes:
    """A deterministic tar: (path, content) regular files; content None is a whiteout of that path."""
    from imgopt.image.mutate import tar_of

    return tar_of(sorted(files), mtime=MTIME)


def _text(rng: random.Random, n: int) -> bytes:
    words = ["import", "def", "return", "self", "value", "config", "request", "handler", "data", "cache",
             "result", "items", "for", "in", "if", "else", "None", "True", "print", "json", "path"]
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        out.append(line)
        size += len(line) + 1
    return ("\n".join(out) + "\n").encode()


def deps_layer(app: str, variant: int) -> bytes:
    rng = random.Random(f"deps/{app}/{variant}")
    files = [(f"opt/deps/{app}/pkg{j:02d}/module.py", _text(rng, rng.randint(2000, 12000))) for j in range(24)]
    files.append((f"opt/deps/{app}/VERSION", f"{app} dependencies, variant {variant}\n".encode()))
    return _tar(files)


def app_layer(spec: TagSpec) -> bytes:
    rng = random.Random(f"app/{spec.repository}/{spec.tag}")
    files: list[tuple[str, bytes | None]] = [
        (f"app/src/part{j:02d}.py", _text(rng, rng.randint(1500, 6000))) for j in range(8)]
    files.append(("app/RELEASE", f"{spec.repository}:{spec.tag} build {spec.index}\n".encode()))
    if spec.index % 7 == 0:  # waste, junk and a duplicate: overwrite and delete base files
        files.append(("etc/motd", f"overwritten by {spec.tag}\n".encode() * 40))
        files.append(("etc/issue.net", None))
        files.append(("app/src/__pycache__/stale.cpython-39.pyc", _text(rng, 3000)))
        files.append(("app/copy-of-os-release", b"PRETTY_NAME=imgopt scale fixture\n" * 20))
        files.append(("app/copy-of-os-release-2", b"PRETTY_NAME=imgopt scale fixture\n" * 20))
    return _tar(files)


def build(spec: TagSpec, workdir: str):
    """The tag's image: its app's base plus the dependency and app code layers."""
    from imgopt.image.codecs import Compression
    from imgopt.image.mutate import layer_from_tar, with_layer
    from imgopt.image.transports import open_image

    img = open_image(f"oci:{base_image(spec.app)}:base")
    t = EPOCH + 60 * spec.index
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    deps = layer_from_tar(deps_layer(spec.app, spec.variant), Compression.GZIP, workdir,
                          subject=f"deps variant {spec.variant}")
    img = with_layer(img, deps, f"COPY deps/{spec.app}/variant-{spec.variant} /opt/deps/{spec.app}", when)
    code = layer_from_tar(app_layer(spec), Compression.GZIP, workdir, subject=f"{spec.tag} app code")
    return with_layer(img, code, f"COPY app/ /app/  # {spec.repository}:{spec.tag}", when)


def push(registry: str, specs: list[TagSpec], log=print) -> list[str]:
    """Push every tag; returns their docker:// references."""
    import tempfile

    from imgopt.image.transports import SinkOptions, write_image

    refs = []
    with tempfile.TemporaryDirectory(prefix="imgopt-scale-") as work:
        for n, spec in enumerate(specs, 1):
            ref = f"docker://{registry}/{spec.repository}:{spec.tag}"
            img = build(spec, work)
            try:
                write_image(img, ref, SinkOptions(compress="keep"))
            finally:
                img.close()
            refs.append(ref)
            if log and (n % 25 == 0 or n == len(specs)):
                log(f"scale fixture: pushed {n}/{len(specs)} tags")
    return refs


def push_extra(registry: str, prefix: str, app: str = "sample", name: str = "extra") -> tuple[str, str]:
    """One new tag with exactly one new layer (on a base every other tag has): (reference, its new layer's digest)."""
    import tempfile

    from imgopt.image.codecs import Compression
    from imgopt.image.mutate import layer_from_tar, with_layer
    from imgopt.image.transports import SinkOptions, open_image, write_image

    spec = TagSpec(10_000, app, f"{prefix}/{app}", name, 0)
    with tempfile.TemporaryDirectory(prefix="imgopt-scale-") as work:
        img = open_image(f"oci:{base_image(app)}:base")
        layer = layer_from_tar(app_layer(spec), Compression.GZIP, work, subject="extra")
        img = with_layer(img, layer, f"COPY app/ /app/  # {name}",
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH + 60 * spec.index)))
        ref = f"docker://{registry}/{spec.repository}:{name}"
        try:
            write_image(img, ref, SinkOptions(compress="keep"))
        finally:
            img.close()
    return ref, layer.digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True, help="HOST:PORT to push to")
    ap.add_argument("--tags", type=int, default=200)
    ap.add_argument("--start", type=int, default=0, help="first tag number (to grow a fixture)")
    ap.add_argument("--apps", default=",".join(APPS))
    ap.add_argument("--prefix", default="imgopt-scan")
    args = ap.parse_args()
    specs = plan(args.tags, args.apps.split(","), args.prefix, args.start)
    t0 = time.monotonic()
    push(args.registry, specs)
    print(f"scale fixture: {len(specs)} tags in {time.monotonic() - t0:.0f} s on {args.registry}")


if __name__ == "__main__":
    main()
