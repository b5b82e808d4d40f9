"""Real registries for the tests: extra ``docker-registry`` processes and a token server.

Everything listens on 127.0.0.1 only, on free ports, with its own storage in
a temporary directory, and is stopped by the fixture that started it.

* :class:`RegistryProcess` runs Debian's ``docker-registry`` (distribution
  2.8) with no auth, ``htpasswd`` auth, ``token`` auth, and/or TLS, and
  parses its access log (one line per request, written at any log level).
* :class:`TokenServer` issues the JWTs distribution 2.8 accepts: RS256,
  signed by a self-signed certificate that is both the ``x5c`` header and the
  registry's ``rootcertbundle`` (distribution verifies ``x5c`` chains against
  that bundle; ``kid`` would need libtrust key IDs).
* :class:`RegistryFront` is a proxy before a registry that stages what the
  registry itself never does: Basic auth in front, blob redirects to another
  host (recording what that host received), 503s and dropped connections,
  canned manifests (schema 1).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import requests

from imgopt.proc import stop_process

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
_ACCESS_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ certificates


@dataclass
class CertKey:
    cert_pem: Path
    key_pem: Path
    cert_der: bytes
    key: object  # cryptography RSAPrivateKey


def make_cert(folder: Path, name: str, ip: str = "127.0.0.1") -> CertKey:
    """A self-signed RSA certificate (CA:true, SAN = ip and localhost), written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)),
                                                    x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = folder / f"{name}.crt", folder / f"{name}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    return CertKey(cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER), key)


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"


# --------------------------------------------------------------- registry


class RegistryProcess:
    """A ``docker-registry serve`` on 127.0.0.1:<free port> with its own storage."""

    def __init__(self, workdir: Path, *, auth: dict | None = None, tls: CertKey | None = None):
        self.workdir = workdir
        self.storage = workdir / "storage"
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = auth
        self.tls = tls
        self.log_path = workdir / "registry.log"
        self.proc: subprocess.Popen | None = None

    def config(self) -> dict:
        cfg: dict = {
            "version": 0.1,
            "log": {"level": "info", "fields": {"service": "registry"}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": uuid.uuid4().hex},
        }
        if self.auth:
            cfg["auth"] = self.auth
        if self.tls:
            cfg["http"]["tls"] = {"certificate": str(self.tls.cert_pem), "key": str(self.tls.key_pem)}
        return cfg

    def start(self) -> "RegistryProcess":
        self.storage.mkdir(parents=True, exist_ok=True)
        cfg_path = self.workdir / "config.yml"
        cfg_path.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready()
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                with warnings.catch_warnings():  # our own self-signed TLS registry
                    warnings.simplefilter("ignore")
                    r = requests.get(self.url + "/v2/", timeout=2, verify=False)
                if r.status_code in (200, 401):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"docker-registry on {self.host} did not answer:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.proc)

    # ---------------------------------------------------------- observation

    def requests_log(self) -> list[tuple[str, str, int]]:
        """(method, uri, status) of every request served so far, from the access log."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = _ACCESS_RE.search(line)
            if m:
                out.append((m["method"], m["uri"], int(m["status"])))
        return out

    def blob_data_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


# ------------------------------------------------------------ token server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    user: str | None  # None: anonymous
    scopes: list[str]
    granted: list[dict]
    grant_type: str = "basic"


@dataclass
class TokenServer:
    """Issues registry tokens; anonymous clients get ``anonymous_actions`` only.

    ``users`` maps user -> password (checked with Basic auth on GET);
    ``refresh_tokens`` maps an OAuth2 refresh token -> user (POST grant).
    Wrong credentials get 401, as Docker's token servers do.
    """

    signer: CertKey
    service: str = "imgopt-test-registry"
    issuer: str = "imgopt-test-issuer"
    users: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    anonymous_actions: tuple[str, ...] = ("pull",)
    log: list[TokenRequest] = field(default_factory=list)

    def start(self) -> "TokenServer":
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                q = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(q.query)
                user, ok = server._basic_user(self.headers.get("Authorization"))
                if not ok:
                    return self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                scopes = [s for v in params.get("scope", []) for s in v.split(" ") if s]
                self._send(200, server._issue(user, scopes, "basic"))

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                if (form.get("grant_type") or [""])[0] != "refresh_token" or not user:
                    return self._send(401, {"error": "invalid_grant"})
                scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
                self._send(200, server._issue(user, scopes, "refresh_token"))

            def _send(self, status: int, doc: dict):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict:
        """The ``auth:`` section of the registry config that trusts this server."""
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.signer.cert_pem)}}

    def _basic_user(self, header: str | None) -> tuple[str | None, bool]:
        if not header:
            return None, True
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, False
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, self.users.get(user) == password

    def _issue(self, user: str | None, scopes: list[str], grant: str) -> dict:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user else [a for a in wanted if a in self.anonymous_actions]
            if kind == "repository" and granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        self.log.append(TokenRequest(user, scopes, access, grant))
        token = self.sign({"iss": self.issuer, "sub": user or "", "aud": self.service, "access": access})
        return {"token": token, "access_token": token, "expires_in": 300,
                "issued_at": dt.datetime.now(dt.timezone.utc).isoformat()}

    def sign(self, claims: dict) -> str:
        """An RS256 JWT with the signer's certificate as its ``x5c`` chain."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        claims = {**claims, "iat": now, "nbf": now - 10, "exp": now + 300, "jti": uuid.uuid4().hex}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.signer.cert_der).decode()]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.signer.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"


# ------------------------------------------------------------ registry front


class RegistryFront:
    """A proxy on 127.0.0.1 before a no-auth ``backend`` registry, to stage what it cannot do itself.

    * ``auth=(user, password)``: require Basic auth (401 + challenge otherwise);
    * ``redirect_blobs``: answer blob GETs ``307`` to ``http://localhost:<port>/``
      (another origin, like blob storage behind a CDN); that "storage" server
      records the headers it received in :attr:`storage_hits`;
    * ``faults``: for the next GETs, in order, ``"503"`` (answer 503),
      ``"429"`` (answer 429 Too Many Requests with ``Retry-After: retry_after``),
      ``"reset"`` (drop the connection without an answer) or ``"ok"`` (serve
      it); :attr:`faults_done` lists those consumed;
    * ``canned``: path -> (content type, body) served as-is for GETs;
    * ``broken``: regexes of paths always answered 500 (a repository the registry cannot read);
    * ``paginate_tags``: answer ``tags/list?n=N[&last=T]`` one page at a time with a ``Link``
      header, as distribution 3 does (2.8 ignores ``n`` for tags, though it pages the catalog).

    :attr:`log` has (monotonic time, method, path, status) of every request answered.
    """

    def __init__(self, backend: str, auth: tuple[str, str] | None = None, redirect_blobs: bool = False,
                 faults: list[str] | None = None, canned: dict[str, tuple[str, bytes]] | None = None,
                 retry_after: str = "1", broken: list[str] | None = None, paginate_tags: bool = False):
        self.backend = backend
        self.paginate_tags = paginate_tags
        self.retry_after = retry_after
        self.broken = [re.compile(b) for b in broken or []]
        self.log: list[tuple[float, str, str, int]] = []
        self.expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None
        self.redirect_blobs = redirect_blobs
        self.faults = list(faults or [])
        self.faults_done: list[str] = []
        self.canned = dict(canned or {})
        self.storage_hits: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults:
                f = self.faults.pop(0)
                self.faults_done.append(f)
                return f
        return None

    def start(self) -> "RegistryFront":
        front = self

        class Storage(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                front.storage_hits.append(dict(self.headers.items()))
                u = urllib.parse.urlsplit(self.path)
                digest = u.path.lstrip("/")
                repo = urllib.parse.parse_qs(u.query).get("repo", [""])[0]
                r = requests.get(f"{front.backend}/v2/{repo}/blobs/{digest}", stream=True, timeout=30)
                self.send_response(r.status_code)
                self.send_header("Content-Length", r.headers.get("Content-Length", "0"))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                for chunk in r.raw.stream(1 << 16, decode_content=False):
                    self.wfile.write(chunk)

        class Front(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if front.expected and self.headers.get("Authorization") != front.expected:
                    return self._reply(401, {"WWW-Authenticate": 'Basic realm="front"',
                                             "Content-Type": "application/json"},
                                       b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
                if any(b.search(self.path) for b in front.broken):
                    return self._reply(500, {"Content-Type": "application/json"},
                                       b'{"errors":[{"code":"UNKNOWN","message":"storage unreadable"}]}')
                if self.command == "GET" and self.path != "/v2/":
                    fault = front._next_fault()
                    if fault == "429":
                        return self._reply(429, {"Content-Type": "application/json", "Retry-After": front.retry_after},
                                           b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
                    if fault == "503":
                        return self._reply(503, {"Content-Type": "text/plain"}, b"try again later")
                    if fault == "reset":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return None
                    if self.path in front.canned:
                        ctype, data = front.canned[self.path]
                        return self._reply(200, {"Content-Type": ctype}, data)
                    u = urllib.parse.urlsplit(self.path)
                    if front.paginate_tags and u.path.endswith("/tags/list"):
                        return self._tag_page(u)
                m = re.match(r"^/v2/(.+)/blobs/(sha256:[a-f0-9]{64})$", self.path)
                if m and self.command == "GET" and front.redirect_blobs:
                    loc = f"http://localhost:{front.storage_port}/{m[2]}?repo={urllib.parse.quote(m[1])}"
                    return self._reply(307, {"Location": loc}, b"")
                self._proxy(body)

            def _tag_page(self, u):
                q = urllib.parse.parse_qs(u.query)
                doc = requests.get(front.backend + u.path, timeout=30).json()
                tags = sorted(doc.get("tags") or [])
                if "last" in q:
                    tags = [t for t in tags if t > q["last"][0]]
                headers = {"Content-Type": "application/json"}
                if "n" in q and len(tags) > int(q["n"][0]):
                    tags = tags[: int(q["n"][0])]
                    nxt = urllib.parse.urlencode({"n": q["n"][0], "last": tags[-1]})
                    headers["Link"] = f'<{u.path}?{nxt}>; rel="next"'
                return self._reply(200, headers, json.dumps({"name": doc.get("name"), "tags": tags}).encode())

            def _proxy(self, body: bytes | None):
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
                r = requests.request(self.command, front.backend + self.path, headers=hdrs, data=body,
                                     allow_redirects=False, timeout=60)
                keep = {k: v for k, v in r.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                head = self.command == "HEAD"
                self._reply(r.status_code, keep, b"" if head else r.content,
                            length=r.headers.get("Content-Length") if head else None)

            def _reply(self, status: int, headers: dict[str, str], body: bytes, length: str | None = None):
                with front._lock:
                    front.log.append((time.monotonic(), self.command, self.path, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", length or str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Storage)
        self.storage_port = self._storage.server_address[1]
        self._front = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
        self.host = f"127.0.0.1:{self._front.server_address[1]}"
        for srv in (self._storage, self._front):
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for srv in (self._front, self._storage):
            srv.shutdown()
            srv.server_close()


def write_docker_config(folder: Path, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(doc))
    return path


def basic_auth_entry(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


CRED_HELPER = """#!/bin/sh
# docker-credential-{name}: answers `get` for {host} only; logs each call.
[ "$1" = get ] || exit 1
read -r server
echo "$server" >> "{log}"
if [ "$server" = "{host}" ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}\\n' "$server"
  exit 0
fi
echo "credentials not found in native keychain"
exit 1
"""


def install_cred_helper(bindir: Path, name: str, host: str, user: str, password: str) -> Path:
    """A ``docker-credential-NAME`` script in ``bindir``; returns the log file it appends servers to."""
    bindir.mkdir(parents=True, exist_ok=True)
    log = bindir / f"{name}.log"
    script = bindir / f"docker-credential-{name}"
    script.write_text(CRED_HELPER.format(name=name, host=host, user=user, password=password, log=log))
    script.chmod(0o755)
    return log


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
