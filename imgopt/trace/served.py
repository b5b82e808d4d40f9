"""Directories an app serves or lists, found in the trace timeline.

Two kinds, recorded in the profile (``served_dirs``, ``listed_dirs``) and kept
whole by ``imgopt minify`` (bounded; see :mod:`imgopt.minify.keep`):

* **document roots**: while a server answered an HTTP request (between the
  request being sent and the answer received) it opened a file whose path
  ends with the request's path -- ``GET /css/site.css`` opening
  ``/srv/www/css/site.css`` makes ``/srv/www`` a document root; ``GET /``
  (or ``/docs/``) opening ``index.*`` in a directory makes that directory
  one, and ``GET /about`` opening ``about.html`` too.  Other pages of that
  root may be asked for later: the slim image must have them all;
* **listed directories**: every directory the app read with ``getdents``.
  One listed while answering a request (an autoindex page, a handler that
  enumerates files) is served; one listed at startup is recorded as listed.

Exec probes' own accesses do not count.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from imgopt.trace.profile import DirUse, ProbeResult

_FILE_KINDS = {"open", "exec", "read", "mmap"}
_CODE_EXT = (".py", ".pyc", ".so", ".rb", ".pm", ".pl", ".class", ".jar", ".node")


def docroot(url_path: str, file_path: str) -> str | None:
    """The directory ``file_path`` is served from if it answers ``url_path`` (else None)."""
    path = unquote(urlsplit(url_path).path or "/")
    uc = [c for c in path.split("/") if c]
    fc = [c for c in file_path.split("/") if c]
    if not fc or any(c in ("..", ".") for c in uc):
        return None
    if path.endswith("/"):  # a directory: its index file
        if not fc[-1].startswith("index.") or len(fc) - 1 < len(uc) or fc[len(fc) - 1 - len(uc):-1] != uc:
            return None
        return "/" + "/".join(fc[:len(fc) - 1 - len(uc)])
    if len(fc) < len(uc):
        return None
    if fc[-len(uc):] == uc:  # the path as it is
        return "/" + "/".join(fc[:-len(uc)])
    # an extension added (/about -> about.html), never to a module the server imports
    stem, _, ext = fc[-1].rpartition(".")
    if stem and stem == uc[-1] and fc[-len(uc):-1] == uc[:-1] and "." + ext not in _CODE_EXT:
        return "/" + "/".join(fc[:-len(uc)])
    return None


class DirCollector:
    """Feed it every access of the trace (:meth:`observe`); read :meth:`result`."""

    def __init__(self, results: list[ProbeResult]):
        # (started, finished, name, url path) of every HTTP request that got an answer, in time order
        self.windows = sorted((r.started, r.finished, r.name, (r.probe or {}).get("path", "/"))
                              for r in results if r.type == "http" and r.passed and r.started and r.finished)
        self.served: dict[str, DirUse] = {}
        self.listed: dict[str, DirUse] = {}

    def _window(self, t: float) -> tuple[float, float, str, str] | None:
        for w in self.windows:
            if w[0] <= t <= w[1]:
                return w
            if w[0] > t:
                break
        return None

    def observe(self, path: str, kind: str, t: float, exists: bool, typ: str | None, by_probe: bool) -> None:
        if by_probe or not exists:
            return
        if kind == "listdir" and typ == "dir":
            w = self._window(t)
            if w is not None:
                self._use(self.served, path, "listed while answering", w[2], t)
            else:
                self._use(self.listed, path, "listed", None, t)
        elif kind in _FILE_KINDS and typ == "file" and self.windows:
            w = self._window(t)
            if w is None:
                return
            root = docroot(w[3], path)
            if root is not None:
                self._use(self.served, root, "document root", w[2], t)

    @staticmethod
    def _use(table: dict[str, DirUse], path: str, reason: str, probe: str | None, t: float) -> None:
        u = table.get(path)
        if u is None:
            u = table[path] = DirUse(path, reason, [], t)
        elif reason == "document root" and u.reason != reason:
            u.reason = reason  # the stronger claim wins
        if probe and probe not in u.probes:
            u.probes.append(probe)
        u.first_access = min(u.first_access, t)

    def result(self, t0: float) -> tuple[list[DirUse], list[DirUse]]:
        """(served dirs, listed dirs), times relative to ``t0``; a listed dir that is served is served only."""
        def rel(us):
            out = []
            for u in sorted(us, key=lambda u: u.path):
                out.append(DirUse(u.path, u.reason, list(u.probes), round(max(0.0, u.first_access - t0), 6)))
            return out

        served = rel(self.served.values())
        listed = rel(u for p, u in self.listed.items() if p not in self.served)
        return served, listed


__all__ = ["DirCollector", "docroot"]
