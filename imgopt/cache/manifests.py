"""What a registry said last time: the manifest digest each tag pointed at, and manifests by digest.

A re-scan of an unchanged registry still has to ask for every tag (tags move),
but with the digest it knew (``If-None-Match``) the registry answers
``304 Not Modified`` without a body, and a manifest named by digest (an index's
platform manifest) is immutable, so it is not asked for at all.  Both live in
the layer cache's results table, so they are bounded and pruned with everything
else: a ``tag:`` document holds the digest the tag named *and* that manifest (one
read per tag on a re-scan), a ``manifest:`` document a manifest named by digest.
Nothing read from here is trusted blindly: a manifest is verified against its
digest again where it is used (:func:`imgopt.image.transports.registry.fetch_manifest`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any


class ManifestMemo:
    def __init__(self, cache: Any):
        self.cache = cache  # an imgopt.cache.store.LayerCache

    def tag(self, host: str, repo: str, tag: str) -> tuple[str, bytes, str] | None:
        """(digest, manifest bytes, media type) the tag named last time, or None."""
        doc = self.cache.get_result(_tag_key(host, repo, tag))
        if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
            return None
        m = _manifest_of(doc)
        return None if m is None else (doc["digest"], *m)

    def manifest(self, digest: str) -> tuple[bytes, str] | None:
        return _manifest_of(self.cache.get_result(f"manifest:{digest}"))

    def remember_manifest(self, digest: str, raw: bytes, media_type: str) -> None:
        self.cache.put_result(f"manifest:{digest}", _doc(raw, media_type))

    def remember_tag(self, host: str, repo: str, tag: str, digest: str, raw: bytes, media_type: str) -> None:
        self.cache.put_result(_tag_key(host, repo, tag), {"digest": digest, **_doc(raw, media_type)})


def _doc(raw: bytes, media_type: str) -> dict[str, str]:
    return {"raw": base64.b64encode(raw).decode(), "media_type": media_type}


def _manifest_of(doc: Any) -> tuple[bytes, str] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("raw"), str):
        return None
    try:
        return base64.b64decode(doc["raw"], validate=True), str(doc.get("media_type") or "")
    except ValueError:
        return None


def _tag_key(host: str, repo: str, tag: str) -> str:
    return "tag:" + hashlib.sha256(f"{host}/{repo}:{tag}".encode()).hexdigest()


__all__ = ["ManifestMemo"]
