"""Media types of Docker schema 2 and OCI v1 (image-spec 1.1)."""

from __future__ import annotations

from imgopt.image.codecs import Compression

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"  # not in schema 2; accepted on read
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_ND_LAYER_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_ND_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_ND_LAYER_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_LAYOUT_VERSION = "1.0.0"

MANIFESTS = {DOCKER_MANIFEST, OCI_MANIFEST}
INDEXES = {DOCKER_MANIFEST_LIST, OCI_INDEX}
CONFIGS = {DOCKER_CONFIG, OCI_CONFIG}

LAYER_CODEC: dict[str, Compression] = {
    DOCKER_LAYER_GZIP: Compression.GZIP,
    DOCKER_LAYER_TAR: Compression.NONE,
    DOCKER_LAYER_ZSTD: Compression.ZSTD,
    DOCKER_FOREIGN_LAYER_GZIP: Compression.GZIP,
    OCI_LAYER_TAR: Compression.NONE,
    OCI_LAYER_GZIP: Compression.GZIP,
    OCI_LAYER_ZSTD: Compression.ZSTD,
    OCI_ND_LAYER_TAR: Compression.NONE,
    OCI_ND_LAYER_GZIP: Compression.GZIP,
    OCI_ND_LAYER_ZSTD: Compression.ZSTD,
}
LAYERS = set(LAYER_CODEC)

# The format a manifest is written in decides the media types of its parts.
FORMATS = ("oci", "docker")


def manifest_format(media_type: str) -> str:
    return "docker" if media_type in (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST) else "oci"


def layer_media_type(fmt: str, codec: Compression) -> str:
    """Media type for a layer of ``codec`` in a manifest of format ``fmt``."""
    if fmt == "docker":
        if codec is Compression.ZSTD:
            raise ValueError("Docker schema 2 has no zstd layer type; use the OCI format")
        return DOCKER_LAYER_GZIP if codec is Compression.GZIP else DOCKER_LAYER_TAR
    return {Compression.GZIP: OCI_LAYER_GZIP, Compression.ZSTD: OCI_LAYER_ZSTD, Compression.NONE: OCI_LAYER_TAR}[codec]


def config_media_type(fmt: str) -> str:
    return DOCKER_CONFIG if fmt == "docker" else OCI_CONFIG


def manifest_media_type(fmt: str) -> str:
    return DOCKER_MANIFEST if fmt == "docker" else OCI_MANIFEST
