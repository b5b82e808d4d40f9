"""Same-origin links and asset references in HTML, CSS and JSON responses.

Zero-config probing crawls what a server's pages point to, as SlimToolkit's
http-probe crawl does (``a[href]``, ``link[href]`` except ``dns-prefetch``,
``preconnect`` and ``alternate``, ``script/img/source[src]``, ``srcset``,
``[data-src]``), plus what a slim image most often loses on a static site:
stylesheet ``url(...)`` and ``@import`` references (fonts, background
images) and paths in JSON documents (web manifests, API indexes).  Only
links to the same server are kept (relative, or absolute to the loopback
address and port the request went to); fragments are dropped.  The caller
bounds depth and count (:data:`MAX_DEPTH`, :data:`MAX_PAGES`).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, urldefrag, urljoin, urlsplit

MAX_DEPTH = 3  # links followed from GET / (SlimToolkit's default crawl depth)
MAX_PAGES = 150  # requests per port, common paths included
MAX_SECONDS = 30.0  # per port: a crawl never holds a trace longer than this
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
MAX_PORTS = 16  # ports probed per app (a hostile image may listen on thousands)
_SAFE = "/%:@!$&'()*+,;=~-._"  # kept as they are in a request path; anything else is percent-encoded

_SKIP_REL = {"dns-prefetch", "preconnect", "alternate"}
_URL_ATTRS = {
    "a": ("href",), "area": ("href",), "link": ("href",), "script": ("src",), "img": ("src", "srcset", "data-src"),
    "source": ("src", "srcset", "data-src"), "iframe": ("src",), "frame": ("src",), "embed": ("src",),
    "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "object": ("data",), "input": ("src",),
}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")\s]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.base: str | None = None
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v for k, v in attrs if v is not None}
        if tag == "base" and "href" in a and self.base is None:
            self.base = a["href"]
            return
        if tag == "style":
            self._style = True
        if tag == "link" and set((a.get("rel") or "").lower().split()) & _SKIP_REL:
            return
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            m = re.search(r"url\s*=\s*['\"]?([^'\";]+)", a.get("content") or "", re.I)
            if m:
                self.links.append(m.group(1).strip())
            return
        for attr in dict.fromkeys(_URL_ATTRS.get(tag, ()) + ("data-src",)):
            v = a.get(attr)
            if not v:
                continue
            if attr == "srcset":
                self.links += [part.strip().split()[0] for part in v.split(",") if part.strip()]
            else:
                self.links.append(v.strip())
        if "style" in a:
            self.links += css_links(a["style"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.links += css_links(data)


def html_links(text: str) -> tuple[list[str], str | None]:
    """References in an HTML document, in document order, and its ``<base href>`` (or None)."""
    p = _Links()
    try:
        p.feed(text)
        p.close()
    except Exception:  # noqa: BLE001 - html.parser copes with most junk; a page it cannot read has no links
        pass
    return p.links, p.base


def css_links(text: str) -> list[str]:
    """``url(...)`` and ``@import "..."`` references of a stylesheet, in order."""
    out = []
    for m in _CSS_URL.finditer(text):
        ref = m.group(2) or m.group(4)
        if ref and not ref.startswith("data:"):
            out.append(ref)
    return out


def json_links(text: str) -> list[str]:
    """String values of a JSON document that look like paths on this server (``/...``) or URLs."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    out: list[str] = []
    stack = [doc]
    while stack and len(out) < 1000:
        v = stack.pop(0)
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and 1 < len(v) < 512 and not any(c.isspace() for c in v):
            if (v.startswith("/") and not v.startswith("//")) or v.startswith(("http://", "https://")):
                out.append(v)
    return out


def links_in(body: str, content_type: str) -> tuple[list[str], str | None]:
    """References in a response by its content type (HTML, CSS, JSON), and the HTML base if any."""
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct in ("text/html", "application/xhtml+xml"):
        return html_links(body)
    if ct == "text/css":
        return css_links(body), None
    if ct == "application/json" or ct.endswith("+json") or ct == "application/manifest+json":
        return json_links(body), None
    return [], None


def same_origin_path(ref: str, page_path: str, port: int, base: str | None = None,
                     scheme: str = "http") -> str | None:
    """The request path (with query) ``ref`` points to on this server, or None if it points elsewhere."""
    ref = ref.strip()
    if not ref or ref.startswith(("#", "javascript:", "mailto:", "tel:", "data:", "blob:")):
        return None
    page = f"{scheme}://127.0.0.1:{port}{page_path}"
    if base:
        page = urljoin(page, base)
    url, _frag = urldefrag(urljoin(page, ref))
    parts = urlsplit(url)
    if parts.scheme != scheme:
        return None
    host = (parts.hostname or "").lower()
    try:
        same_port = (parts.port or (443 if scheme == "https" else 80)) == port
    except ValueError:
        return None
    if host not in LOCAL_HOSTS or not same_port:
        return None
    path = quote(parts.path or "/", safe=_SAFE)
    query = quote(parts.query, safe=_SAFE + "=&?")
    return path + (f"?{query}" if query else "")


__all__ = ["html_links", "css_links", "json_links", "links_in", "same_origin_path", "MAX_DEPTH", "MAX_PAGES",
           "MAX_SECONDS", "MAX_PORTS"]
