"""``oci-archive:FILE[:TAG]``: a tar of an OCI image layout (read in place, written atomically)."""

from __future__ import annotations

from imgopt.atomic import atomic_file
from imgopt.image import mediatypes as mt
from imgopt.image.fs import TarFS
from imgopt.image.model import Image, canonical_json
from imgopt.image.mutate import convert
from imgopt.image.reference import ImageRef
from imgopt.image.transports.base import Progress, SinkOptions, SourceOptions, recompress_for
from imgopt.image.transports.oci_layout import parse_local, read_oci_layout
from imgopt.image.transports.partial import OCI_LAYOUT, TarOut, blob_path, blobs, image_total, manifest_entry


class OCIArchive:
    name = "oci-archive"
    prefix = "oci-archive:"

    def parse(self, rest: str, text: str) -> ImageRef:
        return parse_local(self.name, rest, text)

    def open(self, ref: ImageRef, opts: SourceOptions) -> Image:
        fs = TarFS(ref.path)
        try:
            img = read_oci_layout(fs, ref.name, opts.platform, str(ref))
        except BaseException:
            fs.close()
            raise
        img._closers.append(fs.close)
        return img

    def write(self, image: Image, ref: ImageRef, opts: SinkOptions) -> Image:
        img = convert(recompress_for(image, opts, "auto-gzip", ref.path), "oci")
        with atomic_file(ref.path) as tmp:
            write_oci_tar(img, tmp, ref.name, opts.progress)
        return img


def write_oci_tar(image: Image, path: str, tag: str, progress: Progress | None = None) -> None:
    out = TarOut(path)
    try:
        out.add_bytes("oci-layout", OCI_LAYOUT)
        total = image_total(image)
        for desc, opener in blobs(image):
            out.add_blob(desc, opener, progress, total)
        out.add_bytes(blob_path(image.manifest.digest), image.manifest.serialize())
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [manifest_entry(image, tag)]}
        out.add_bytes("index.json", canonical_json(index))
    finally:
        out.close()


__all__ = ["OCIArchive", "write_oci_tar"]
