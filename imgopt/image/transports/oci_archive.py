"""``oci-archive:FILE[:TAG]``: a tar of an OCI image layout (read in place, written atomically)."""

from __future__ import annotations

from imgopt.atomic import atomic_file
from imgopt.image import mediatypes as mt
from imgopt.image.model import Image, canonical_json
from imgopt.image.mutate import convert
from imgopt.image.reference import ImageRef
from imgopt.image.transports.base import Progress, SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.oci_layout import parse_local, read_oci_layout
from imgopt.image.transports.partial import TarOut, manifest_entry, read_tar


class OCIArchive:
    name = "oci-archive"
    prefix = "oci-archive:"

    def parse(self, rest: str, text: str) -> ImageRef:
        return parse_local(self.name, rest, text)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        return read_tar(ref.path, lambda fs: read_oci_layout(fs, ref.name, opts.platform, str(ref)))

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        img = convert(recompress_for(image, opts, "auto-gzip", ref.path), "oci")
        with atomic_file(ref.path) as tmp:
            write_oci_tar(img, tmp, ref.name, opts.progress)
        return img


def write_oci_tar(image: Image, path: str, tag: str, progress: Progress | None = None) -> None:
    out = TarOut(path)
    try:
        out.add_image(image, progress)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [manifest_entry(image, tag)]}
        out.add_bytes("index.json", canonical_json(index))
    finally:
        out.close()


__all__ = ["OCIArchive", "write_oci_tar"]
