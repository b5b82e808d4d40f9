"""A small client for the OCI Distribution API v2 (the ``docker://`` transport).

What it does, and no more:

* picks the scheme: HTTPS with certificate verification; plain HTTP only for
  loopback hosts (after HTTPS failed) or with ``insecure`` (which also skips
  certificate verification);
* authenticates the way Docker does: anonymous, HTTP Basic, or Bearer tokens
  from the realm named by ``WWW-Authenticate`` (cached per scope), with
  credentials from the :class:`~imgopt.image.auth.Keychain` it is given
  (default: the Docker CLI's config.json, credential helpers and stores);
* streams blobs both ways (never a whole layer in memory), following blob
  redirects without sending the registry's credentials to another host;
  a redirect, upload location or token realm must be http(s), and plain HTTP
  only to a loopback host (or with ``insecure``): TLS is never downgraded;
* retries idempotent requests on 502/503/504 and dropped connections;
* waits out HTTP 429 (Too Many Requests) as long as ``Retry-After`` says
  (seconds or an HTTP date; 1, 2, 4... s without it), then asks again;
* lists repositories (``/v2/_catalog``) and tags, page by page through ``Link`` headers;
* turns every failure into an :class:`~imgopt.errors.ImgoptError` with a
  one-line message naming the image.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import socket
import ssl
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from imgopt import __version__
from imgopt.errors import BadInput, ImgoptError, NotFound, RegistryError
from imgopt.image.auth import HUB_ALIASES, CredentialLookup, Keychain, default_keychain
from imgopt.image import mediatypes as mt
from imgopt.image.digest import VerifyingReader
from imgopt.image.limits import MAX_ARCHIVE_JSON, MAX_MANIFEST, load_json  # MAX_MANIFEST: distribution's limit too

DOCKER_HUB_API = "registry-1.docker.io"

MANIFEST_ACCEPT = ", ".join([
    mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST,
    # asked for last so that a schema-1-only image gets a clear error, not "unknown"
    f"{mt.DOCKER_MANIFEST_V1_SIGNED};q=0.1", f"{mt.DOCKER_MANIFEST_V1};q=0.1",
])
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 300.0
RETRIES = 2  # extra attempts for idempotent requests
RETRY_STATUS = {502, 503, 504}
RATE_LIMIT_RETRIES = 8  # 429 answers waited out per request
MAX_RETRY_AFTER = 300.0  # seconds; a registry asking for longer gets an error instead
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
USER_AGENT = f"imgopt/{__version__}"

Progress = Callable[[int, int], None]


# ------------------------------------------------------------------ hosts


def api_host(host: str) -> str:
    """The host that serves the API: Docker Hub's is not ``docker.io``."""
    return DOCKER_HUB_API if host in HUB_ALIASES else host


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1, with or without a port."""
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------- challenges


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: ``bearer`` or ``basic`` and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(value: str | None) -> Challenge | None:
    """``Bearer realm="...",service="...",scope="..."`` -> Challenge (None if unusable)."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {}
    for m in _PARAM_RE.finditer(rest):
        params[m.group(1).lower()] = m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
    return Challenge(scheme, params)


# ----------------------------------------------------------------- errors


def registry_message(resp: requests.Response) -> tuple[str, str]:
    """(code, message) from the registry's ``{"errors": [...]}`` body, or from the raw body."""
    try:
        body = resp.content[:65536] if resp.request.method != "HEAD" else b""
    except (requests.RequestException, OSError):
        body = b""
    try:
        doc = json.loads(body)
        err = (doc.get("errors") or [{}])[0]
        code, msg = str(err.get("code") or ""), str(err.get("message") or "")
        if code or msg:
            return code, msg
    except (ValueError, AttributeError, TypeError, IndexError):
        pass
    text = body.decode(errors="replace").strip().splitlines()
    return "", (text[0][:200] if text else "")


def _reason(exc: BaseException) -> str:
    """A short human reason from a requests/urllib3 exception chain."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    for e in _causes(exc):
        if isinstance(e, socket.gaierror):
            return f"cannot resolve host name ({e.strerror or e})"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(e, (TimeoutError, socket.timeout)):
            return "timed out"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({e.verify_message or e.reason})"
        if isinstance(e, ssl.SSLError):
            return f"TLS error ({e.reason or e})"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (cause, context, urllib3 ``reason``, args)."""
    stack, seen = [exc], set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nxt = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        stack.extend(x for x in nxt if isinstance(x, BaseException))


def _is_connect_failure(exc: BaseException) -> bool:
    """True when no connection was made at all (refused, DNS, connect timeout): not worth retrying."""
    return isinstance(exc, requests.ConnectTimeout) or any(
        isinstance(e, urllib3.exceptions.NewConnectionError) for e in _causes(exc))


def _cert_failure(exc: BaseException) -> bool:
    return "certificate" in _reason(exc).lower()


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (None: absent/unusable)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import email.utils
        from datetime import datetime, timezone

        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ streams


class BlobStream(io.RawIOBase):
    """The raw bytes of a blob response (no content decoding), with progress.

    Reads are full (``read(n)`` returns n bytes until the end), as from a
    file: tarfile's copy loop, for one, takes a short read for EOF.
    :meth:`peek` shows the first bytes without consuming them.
    """

    def __init__(self, resp: requests.Response, subject: str, progress: Progress | None = None, total: int = 0):
        super().__init__()
        self._resp = resp
        self._raw = resp.raw
        self._raw.decode_content = False
        self._subject = subject
        self._progress = progress
        self._total = total
        self._head = b""  # peeked bytes not yet consumed

    def readable(self) -> bool:
        return True

    def _read_raw(self, n: int) -> bytes:
        try:
            return self._raw.read(n, decode_content=False)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
            raise RegistryError(self._subject, f"connection lost while reading a blob: {_reason(e)}") from None

    def peek(self, n: int) -> bytes:
        """Up to ``n`` first bytes, left in the stream."""
        while len(self._head) < n:
            more = self._read_raw(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def readinto(self, b) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        n = 0
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
        while n < len(view):
            data = self._read_raw(len(view) - n)
            if not data:
                break
            view[n:n + len(data)] = data
            n += len(data)
        if n and self._progress:
            self._progress(n, self._total)
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()


class SizedChunks:
    """An iterable body of known length, so requests sends Content-Length, not chunked."""

    def __init__(self, chunks: Iterable[bytes], size: int):
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


def _no_netrc(r: requests.PreparedRequest) -> requests.PreparedRequest:
    """Session auth hook that does nothing, so ~/.netrc never replaces our Authorization."""
    return r


class _Session(requests.Session):
    """A session that reads the environment's proxy and CA settings once per scheme and host.

    requests re-reads every ``*_proxy`` variable of ``os.environ`` for each request
    (~1 ms with a few hundred variables); a scan asks a registry for hundreds of
    manifests.  The answer only depends on the URL's scheme and host (``no_proxy``
    matches hosts) and the request's own settings, so it is kept per those.
    """

    def __init__(self) -> None:
        super().__init__()
        self._env_memo: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[override]
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify,
               cert if not isinstance(cert, list) else tuple(cert))
        got = self._env_memo.get(key)
        if got is None:
            got = self._env_memo[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return dict(got, proxies=dict(got["proxies"]))


def _new_session() -> requests.Session:
    s = _Session()
    s.headers["User-Agent"] = USER_AGENT
    s.auth = _no_netrc
    # room for every parallel layer stream (-j up to 64) without urllib3 "pool is full" warnings
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


_LIVE: "weakref.WeakSet[RegistryClient]" = weakref.WeakSet()
# host -> the scheme whose GET /v2/ answered in this process: tried first by later clients (only among the
# schemes the host may use: plain HTTP stays limited to loopback and --insecure)
_ANSWERED: dict[str, str] = {}


def _after_fork_in_child() -> None:
    """A forked worker (analysis fans layers out to processes) must not share the parent's sockets:
    give every client a new session; the parent's connections are left to the parent."""
    for client in list(_LIVE):
        client._session = _new_session()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _add_query(url: str, **params: str) -> str:
    """``url`` with ``params`` appended, existing query parameters kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


# ------------------------------------------------------------------ client


@dataclass
class _Token:
    value: str
    expires: float


class RegistryClient:
    """One repository on one registry, for one image transfer.

    Set up (ping, manifest, config) from one thread; blob streams may then
    be opened from several (parallel recompression reads layers at once).
    """

    def __init__(self, host: str, repo: str, *, insecure: bool = False, subject: str | None = None,
                 push: bool = False, timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                 keychain: Keychain | None = None, scope: str | None = None):
        self.host = host  # as the user wrote it: the config.json key
        self.api_host = api_host(host)
        self.repo = repo
        self.insecure = insecure
        self.subject = subject or f"docker://{host}/{repo}"
        self.scope = scope or f"repository:{repo}:{'pull,push' if push else 'pull'}"
        self.rate_limit_waits = 0  # 429 answers waited out, and for how long
        self.rate_limit_seconds = 0.0
        self.timeout = timeout
        self._session = _new_session()
        _LIVE.add(self)
        self._base: str | None = None
        self._challenge: Challenge | None = None
        self.keychain = keychain or default_keychain()
        self._lookup: CredentialLookup | None = None
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        if insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._session.close()

    @property
    def base_url(self) -> str:
        """``https://host`` or ``http://host``, decided by pinging ``/v2/`` once."""
        if self._base is None:
            self._base = self._ping()
        return self._base

    def _schemes(self) -> list[str]:
        schemes = ["https", "http"] if self.insecure or is_loopback(self.api_host) else ["https"]
        known = _ANSWERED.get(self.api_host)
        if known in schemes and schemes[0] != known:  # the one that answered before first: no TLS attempt
            schemes = [known, *(s for s in schemes if s != known)]  # at a plain-HTTP registry for every image
        return schemes

    def _ping(self) -> str:
        """Find a scheme that answers ``GET /v2/``, and the auth challenge if any."""
        schemes = self._schemes()
        first_error: BaseException | None = None
        for scheme in schemes:
            base = f"{scheme}://{self.api_host}"
            try:
                resp = self._session.get(base + "/v2/", timeout=self.timeout, verify=not self.insecure,
                                         allow_redirects=False)
                for waits in range(RATE_LIMIT_RETRIES):
                    if resp.status_code != 429:
                        break
                    self._wait_rate_limit(resp, waits)
                    resp = self._session.get(base + "/v2/", timeout=self.timeout, verify=not self.insecure,
                                             allow_redirects=False)
            except requests.RequestException as e:
                first_error = first_error or e
                if scheme == "https" and _cert_failure(e) and not self.insecure:
                    raise RegistryError(self.subject, f"cannot connect to {self.api_host}: {_reason(e)}; "
                                                      "use --insecure to skip TLS verification") from None
                continue
            with resp:
                got = self._check_ping(resp, base)
            _ANSWERED[self.api_host] = scheme
            return got
        assert first_error is not None
        raise RegistryError(self.subject, f"cannot connect to {self.api_host}: {_reason(first_error)}")

    def _check_ping(self, resp: requests.Response, base: str) -> str:
        if resp.status_code == 401:
            self._challenge = parse_challenge(resp.headers.get("WWW-Authenticate"))
        elif resp.status_code >= 500:
            _, msg = registry_message(resp)
            raise RegistryError(self.subject, f"registry error: HTTP {resp.status_code} from {base}/v2/: {msg}")
        elif resp.status_code != 200:
            raise RegistryError(self.subject, f"{self.api_host} is not a registry: GET /v2/ answered HTTP "
                                              f"{resp.status_code}")
        return base

    def _same_host(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(self.base_url).netloc

    def check_url(self, url: str, what: str) -> str:
        """``url`` (from a Location header or a challenge) if it may be used, else a RegistryError.

        http(s) only; plain HTTP only to a loopback host or with ``insecure``,
        so neither a registry nor anything in between can downgrade TLS.
        """
        parts = urlsplit(url)
        where = parts.netloc or "(no host)"
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(self.subject, f"{what} to {parts.scheme or 'a relative'}:// URL on {where} refused "
                                              "(only http and https)")
        if parts.scheme == "http" and not self.insecure and not is_loopback(parts.netloc.rsplit("@", 1)[-1]):
            raise RegistryError(self.subject, f"{what} to plain http://{where} refused (TLS would be dropped; "
                                              "--insecure allows it)")
        return url

    def _send(self, method: str, url: str, headers: dict[str, str], data: object, stream: bool,
              what: str) -> requests.Response:
        """One request; GET and HEAD are retried on 502/503/504 and dropped connections; a 429 is
        waited out (Retry-After) and asked again whenever the body can be sent again."""
        attempts = 1 + (RETRIES if method in ("GET", "HEAD") else 0)
        resendable = data is None or isinstance(data, (bytes, bytearray))
        waits = 0
        attempt = -1
        while attempt < attempts - 1:
            attempt += 1
            last = attempt == attempts - 1
            try:
                resp = self._session.request(method, url, headers=headers, data=data, stream=stream,
                                             timeout=self.timeout, verify=not self.insecure, allow_redirects=False)
            except requests.RequestException as e:
                where = urlsplit(url).netloc
                if _is_connect_failure(e):
                    raise RegistryError(self.subject, f"cannot connect to {where}: {_reason(e)}") from None
                if last:
                    raise RegistryError(self.subject, f"connection to {where} failed ({method} {what}): "
                                                      f"{_reason(e)}") from None
                time.sleep(0.5 * (attempt + 1))
                continue
            if resp.status_code == 429 and resendable and waits < RATE_LIMIT_RETRIES:
                self._wait_rate_limit(resp, waits)
                waits += 1
                attempt -= 1  # a rate-limit answer is not a failed attempt
                continue
            if resp.status_code in RETRY_STATUS and not last:
                resp.close()
                time.sleep(0.5 * (attempt + 1))
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_rate_limit(self, resp: requests.Response, waits: int) -> None:
        """Sleep as long as a 429's Retry-After asks (an error if that is unreasonably long)."""
        delay = retry_after(resp.headers.get("Retry-After"))
        resp.close()
        if delay is None:
            delay = float(min(2 ** waits, 30))
        if delay > MAX_RETRY_AFTER:
            raise RegistryError(self.subject, f"rate limited: the registry asks to retry after {delay:.0f} s")
        self.rate_limit_waits += 1
        self.rate_limit_seconds += delay
        time.sleep(delay)

    def request(self, method: str, url: str, *, what: str, expect: Iterable[int] = (200,),
                headers: dict[str, str] | None = None, data: object = None, stream: bool = False,
                scopes: tuple[str, ...] = ()) -> requests.Response:
        """Send ``method url`` (a path or an absolute URL) with auth; raise unless the status is expected.

        A 401 is answered once: with a (new) token or Basic credentials, when
        the body can be sent again.  ``what`` names the object for messages.
        """
        if not url.startswith(("http://", "https://")):
            url = self.base_url + url
        scopes = (self.scope, *scopes)
        hdrs = dict(headers or {})
        sent = self._authorization(scopes) if self._same_host(url) else None
        if sent:
            hdrs["Authorization"] = sent
        resp = self._send(method, url, hdrs, data, stream, what)
        if resp.status_code == 401 and self._same_host(url) and (data is None or isinstance(data, bytes)):
            again = self._reauthorize(resp, scopes, sent)
            if again:
                resp.close()
                hdrs["Authorization"] = again
                resp = self._send(method, url, hdrs, data, stream, what)
        if resp.status_code in set(expect):
            return resp
        try:
            raise self.error(resp, what, authenticated="Authorization" in hdrs)
        finally:
            resp.close()

    # ----------------------------------------------------------------- auth

    def _credentials(self) -> CredentialLookup:
        if self._lookup is None:
            self._lookup = self.keychain.resolve(self.host)
        return self._lookup

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization header for the current challenge, or None (anonymous)."""
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            creds = self._credentials().creds
            return creds.basic_header() if creds and creds.username else None
        creds = self._credentials().creds
        if creds and creds.registry_token:
            return "Bearer " + creds.registry_token
        return "Bearer " + self._token(ch, scopes)

    def _reauthorize(self, resp: requests.Response, scopes: tuple[str, ...], sent: str | None) -> str | None:
        """After a 401: the header to try once more, or None when it would not change anything."""
        ch = parse_challenge(resp.headers.get("WWW-Authenticate"))
        if ch is None:
            return None
        extra = tuple(s for s in (ch.params.get("scope") or "").split() if s not in scopes)
        self._challenge = Challenge(ch.scheme, {k: v for k, v in ch.params.items() if k in ("realm", "service")})
        if ch.scheme == "bearer":
            self._tokens.pop(self._token_key(self._challenge, scopes + extra), None)
        again = self._authorization(scopes + extra)
        return again if again and again != sent else None

    @staticmethod
    def _token_key(ch: Challenge, scopes: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
        return ch.realm, ch.params.get("service", ""), tuple(sorted(set(scopes)))

    def _token(self, ch: Challenge, scopes: tuple[str, ...]) -> str:
        """A bearer token for ``scopes``, from the cache or the token server."""
        key = self._token_key(ch, scopes)
        cached = self._tokens.get(key)
        if cached and cached.expires > time.monotonic():
            return cached.value
        token, lifetime = self._fetch_token(ch, key[2])
        self._tokens[key] = _Token(token, time.monotonic() + max(lifetime - 10, 5))
        return token

    def _fetch_token(self, ch: Challenge, scopes: tuple[str, ...]) -> tuple[str, int]:
        """Ask the realm for a token: GET with Basic credentials, or POST an identity token."""
        realm = ch.realm
        if not realm.startswith(("http://", "https://")):
            raise RegistryError(self.subject, f"{self.api_host} sent a Bearer challenge without a usable realm")
        self.check_url(realm, "token request")  # credentials go there: never over plain HTTP to another host
        lookup = self._credentials()
        creds = lookup.creds
        service = ch.params.get("service", "")
        try:
            if creds and creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "service": service, "scope": " ".join(scopes), "client_id": "imgopt"}
                resp = self._session.post(realm, data=form, timeout=self.timeout, verify=not self.insecure)
            else:
                params = [("service", service)] + [("scope", s) for s in scopes]
                hdrs = {"Authorization": creds.basic_header()} if creds and creds.username else {}
                resp = self._session.get(realm, params=params, headers=hdrs, timeout=self.timeout,
                                         verify=not self.insecure)
        except requests.RequestException as e:
            raise RegistryError(self.subject, f"cannot connect to token server {urlsplit(realm).netloc}: "
                                              f"{_reason(e)}") from None
        with resp:
            return self._parse_token(resp, lookup)

    def _parse_token(self, resp: requests.Response, lookup: CredentialLookup) -> tuple[str, int]:
        if resp.status_code in (401, 403):
            _, msg = registry_message(resp)
            raise RegistryError(self.subject, f"unauthorized: the token server refused "
                                              f"{'the credentials' if lookup.creds else 'anonymous access'}"
                                              f"{': ' + msg if msg else ''} ({lookup.note})")
        if resp.status_code != 200:
            _, msg = registry_message(resp)
            raise RegistryError(self.subject, f"token server error: HTTP {resp.status_code}{': ' + msg if msg else ''}")
        try:
            doc = resp.json()
            token = doc.get("token") or doc.get("access_token")
            lifetime = int(doc.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token, lifetime = None, 0
        if not token or not isinstance(token, str):
            raise RegistryError(self.subject, "the token server answered without a token")
        return token, lifetime

    # --------------------------------------------------------------- errors

    def error(self, resp: requests.Response, what: str, authenticated: bool = False) -> ImgoptError:
        """The one-line error for a response the caller did not expect."""
        code, msg = registry_message(resp)
        status = resp.status_code
        if status in (401, 403):
            note = f" ({self._credentials().note})" if self._challenge is not None else ""
            msg = msg or ("credentials rejected" if authenticated else "authentication required")
            return RegistryError(self.subject, f"unauthorized: {msg}{note}")
        if status == 404:
            detail = f" ({msg})" if msg and msg != f"{what} unknown" else ""
            return NotFound(self.subject, f"{what} unknown{detail}")
        if status >= 500:
            return RegistryError(self.subject, f"registry error: HTTP {status}{': ' + msg if msg else ''}")
        if status == 429:
            return RegistryError(self.subject, f"rate limited: HTTP 429 after {self.rate_limit_waits} waits "
                                               f"({self.rate_limit_seconds:.0f} s)")
        label = f"{code}: {msg}" if code else msg
        return RegistryError(self.subject, f"{what} refused: HTTP {status}{': ' + label if label else ''}")

    # ---------------------------------------------------------------- reads

    def get_manifest(self, reference: str, if_none_match: str | None = None) -> tuple[bytes, str, str] | None:
        """(bytes, media type from Content-Type, Docker-Content-Digest or "") of a manifest or index; None
        when ``if_none_match`` (the digest it had) is still what ``reference`` names (304 Not Modified)."""
        path = f"/v2/{self.repo}/manifests/{reference}"
        headers = {"Accept": MANIFEST_ACCEPT}
        if if_none_match:
            headers["If-None-Match"] = f'"{if_none_match}"'
        resp = self.request("GET", path, what="manifest", headers=headers, stream=True,
                            expect=(200, 304) if if_none_match else (200,))
        if resp.status_code == 304:
            with resp:
                _ = resp.content  # the (empty) body read: the connection goes back to the pool, not closed
            return None
        with resp:
            raw = self._bounded_body(resp, MAX_MANIFEST, "manifest")
        if len(raw) > MAX_MANIFEST:
            raise BadInput(self.subject, f"manifest is larger than {MAX_MANIFEST} bytes")
        ctype = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return bytes(raw), ctype, resp.headers.get("Docker-Content-Digest", "")

    def _bounded_body(self, resp: requests.Response, limit: int, what: str) -> bytearray:
        """A response body read up to just past ``limit`` bytes (the caller says what is too large)."""
        raw = bytearray()
        try:
            for chunk in resp.iter_content(65536):
                raw += chunk
                if len(raw) > limit:
                    break
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            raise RegistryError(self.subject, f"connection lost while reading the {what}: {_reason(e)}") from None
        return raw

    def _pages(self, path: str, key: str, what: str, page_size: int | None) -> Iterator[str]:
        """Items of a paginated list (``key`` of each JSON page), following ``Link: <...>; rel="next"``."""
        url = path + (f"?n={page_size}" if page_size else "")
        seen: set[str] = set()
        while url:
            if url in seen:
                raise RegistryError(self.subject, f"{what}: the registry's pages loop ({url})")
            seen.add(url)
            resp = self.request("GET", url, what=what, headers={"Accept": "application/json"}, stream=True)
            with resp:
                raw = self._bounded_body(resp, MAX_ARCHIVE_JSON, what)
                nxt = resp.links.get("next", {}).get("url")
            doc = load_json(bytes(raw), self.subject, MAX_ARCHIVE_JSON, what)  # bounded: BadInput if hostile
            items = (doc.get(key) or []) if isinstance(doc, dict) else None
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                raise RegistryError(self.subject, f"{what}: {key!r} is not a list of names")
            yield from items
            url = self.check_url(urljoin(self.base_url + path, nxt), f"{what} next page") if nxt else ""

    def list_repositories(self, page_size: int | None = None) -> Iterator[str]:
        """Every repository of the registry (``GET /v2/_catalog``, paginated; needs catalog access)."""
        return self._pages("/v2/_catalog", "repositories", "catalog", page_size)

    def list_tags(self, page_size: int | None = None) -> Iterator[str]:
        """Every tag of this repository (``GET /v2/REPO/tags/list``, paginated)."""
        return self._pages(f"/v2/{self.repo}/tags/list", "tags", "tag list", page_size)

    def open_blob(self, digest: str, progress: Progress | None = None, total: int = 0) -> BlobStream:
        """A raw stream of a blob, following redirects to blob storage."""
        url = f"{self.base_url}/v2/{self.repo}/blobs/{digest}"
        headers = {"Accept-Encoding": "identity"}
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.request("GET", url, what="blob", expect=(200, *REDIRECTS), headers=headers, stream=True)
            if resp.status_code == 200:
                return BlobStream(resp, self.subject, progress, total)
            location = resp.headers.get("Location", "")
            resp.close()
            if not location:
                break
            url = self.check_url(urljoin(url, location), f"blob {digest[:19]} redirect")
        raise RegistryError(self.subject, f"blob {digest}: too many or broken redirects")

    def read_blob(self, digest: str, size: int, limit: int = 64 << 20) -> bytes:
        """A small blob (a config), read whole and verified against digest and size."""
        if size > limit:
            raise BadInput(self.subject, f"blob {digest} is implausibly large for a config ({size} bytes)")
        with VerifyingReader(self.open_blob(digest), digest, size, f"{self.subject} blob {digest[:19]}") as f:
            return f.read()

    def blob_exists(self, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", what="blob", expect=(200, 404, *REDIRECTS))
        resp.close()
        return resp.status_code != 404

    # --------------------------------------------------------------- writes

    def mount_blob(self, digest: str, from_repo: str) -> str | None:
        """Cross-repository mount: None when mounted, else the upload URL the registry opened instead."""
        path = f"/v2/{self.repo}/blobs/uploads/?" + urlencode({"mount": digest, "from": from_repo})
        resp = self.request("POST", path, what="blob upload", expect=(201, 202), data=b"",
                            scopes=(f"repository:{from_repo}:pull",))
        resp.close()
        if resp.status_code == 201:
            return None
        return self._location(resp)

    def start_upload(self) -> str:
        """Open an upload session; returns its absolute URL."""
        resp = self.request("POST", f"/v2/{self.repo}/blobs/uploads/", what="blob upload", expect=(202,), data=b"")
        resp.close()
        return self._location(resp)

    def _location(self, resp: requests.Response) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(self.subject, "the registry opened an upload without a Location")
        return self.check_url(urljoin(resp.url, location), "blob upload")

    def put_blob(self, upload_url: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Finish an upload with one streamed PUT of the whole blob (monolithic)."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        resp = self.request("PUT", _add_query(upload_url, digest=digest), what=f"blob {digest[:19]}",
                            expect=(201, 204), headers=headers, data=SizedChunks(chunks, size))
        got = resp.headers.get("Docker-Content-Digest")
        resp.close()
        if got and got != digest:
            raise RegistryError(self.subject, f"registry stored blob {digest} as {got}")

    def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or digest; returns the registry's Docker-Content-Digest."""
        resp = self.request("PUT", f"/v2/{self.repo}/manifests/{reference}", what="manifest", expect=(200, 201),
                            headers={"Content-Type": media_type}, data=raw)
        resp.close()
        return resp.headers.get("Docker-Content-Digest", "")


__all__ = ["RegistryClient", "Challenge", "BlobStream", "parse_challenge", "api_host", "is_loopback", "retry_after"]
