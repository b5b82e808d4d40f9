"""The registry client against hostile or careless servers, and what it never tells anyone.

* credentials and tokens (passwords, Basic headers, bearer tokens, identity
  tokens) never appear in anything imgopt prints, writes or leaves behind,
  whatever the command and whether it succeeds or fails;
* redirects, upload locations and token realms must be http(s), and plain HTTP
  only to a loopback host: a TLS registry cannot be downgraded;
* a push of a layer whose content lies about itself uploads nothing the
  registry keeps and never tags a manifest.

Real registries and servers on 127.0.0.1 (tests/registry/registry_harness.py).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import threading
import urllib.parse
from pathlib import Path

import pytest
import requests

from test_registry import (  # noqa: F401  (fixtures)
    SAMPLE_TAR, SAMPLE_ZSTD, basic_registry, docker_config, h, imgopt, ok, one_line_error, throwaway,
    token_registry, tools, unique,
)

pytestmark = [pytest.mark.registry, pytest.mark.timeout(600)]


# ---------------------------------------------------------------- secrets


def _everything_written(*dirs: Path) -> list[tuple[str, bytes]]:
    out = []
    for d in dirs:
        for root, _dirs, files in os.walk(d):
            for f in files:
                p = os.path.join(root, f)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as fh:
                        out.append((p, fh.read(32 << 20)))
    return out


def _run_everything(ref_base: str, tmp: Path, env: dict[str, str], bad_env: dict[str, str]) -> list[tuple[str, bytes]]:
    """Every command a user runs against a registry image, succeeding and failing; all their output."""
    out = tmp / "out"
    out.mkdir()
    work = tmp / "work"
    work.mkdir()
    env = {**env, "TMPDIR": str(work), "HOME": str(work)}
    bad_env = {**bad_env, "TMPDIR": str(work), "HOME": str(work)}
    ref = f"{ref_base}:v1"
    runs = [
        ("copy", str(SAMPLE_TAR), ref),  # push
        ("copy", ref, f"oci:{out / 'pulled'}:v1"),  # pull
        ("copy", "--compress", "zstd", ref, f"{ref_base}:zstd"),  # registry to registry, re-encoded
        ("inspect", ref),
        ("inspect", "--deep", "--format", "json", ref),
        ("analyze", "--format", "json", "-o", str(out / "analysis.json"), ref),
        ("analyze", "--format", "markdown", "-o", str(out / "analysis.md"), ref),
        ("analyze", ref),
        ("minify", "--keep-all", "--verify", "none", "--format", "json", "--removed", str(out / "removed.json"),
         "-o", f"{ref_base}:slim", ref),
        ("trace", "--backend", "native", "--timeout", "30", "--format", "json", "-o", str(out / "profile.json"),
         ref),
    ]
    seen: list[tuple[str, bytes]] = []
    for args in runs:
        r = imgopt(*args, env=env)
        assert r.returncode in (0, 1), (args, r.stderr)  # trace may fail its probe (the sample serves HTTP)
        seen += [(f"{args[0]} stdout", r.stdout.encode()), (f"{args[0]} stderr", r.stderr.encode())]
    for args in (("inspect", ref), ("copy", str(SAMPLE_ZSTD), f"{ref_base}:denied"), ("analyze", ref)):
        r = imgopt(*args, env=bad_env)
        assert r.returncode == 2, (args, r.stderr)
        seen += [(f"{args[0]} stdout (bad credentials)", r.stdout.encode()),
                 (f"{args[0]} stderr (bad credentials)", r.stderr.encode())]
    return seen + _everything_written(out, work)


def _assert_absent(seen: list[tuple[str, bytes]], secrets: list[str]) -> None:
    assert seen
    for where, data in seen:
        for s in secrets:
            assert s.encode() not in data, f"secret {s[:6]}... found in {where}"


def test_basic_credentials_never_leak(basic_registry, tmp_path):
    reg = basic_registry
    env = docker_config(tmp_path, {"auths": {reg.host: h.basic_auth_entry("bob", "hunter2")}})
    bad = docker_config(tmp_path, {"auths": {reg.host: h.basic_auth_entry("bob", "hunter3-wrong")}})
    seen = _run_everything(f"docker://{reg.host}/{unique('secret-basic')}", tmp_path, env, bad)
    _assert_absent(seen, ["hunter2", "hunter3-wrong", base64.b64encode(b"bob:hunter2").decode(),
                          base64.b64encode(b"bob:hunter3-wrong").decode()])


def test_tokens_never_leak(token_registry, tmp_path):
    ts, reg = token_registry
    issued: list[str] = []
    sign = ts.sign

    def recording(claims: dict) -> str:
        token = sign(claims)
        issued.append(token)
        return token

    ts.sign = recording  # type: ignore[method-assign]
    try:
        env = docker_config(tmp_path, {"auths": {reg.host: h.basic_auth_entry("alice", "s3cret")}})
        bad = docker_config(tmp_path, {"auths": {reg.host: h.basic_auth_entry("alice", "wrong-s3cret")}})
        seen = _run_everything(f"docker://{reg.host}/{unique('secret-token')}", tmp_path, env, bad)
        # an identity (refresh) token too
        idenv = docker_config(tmp_path, {"auths": {reg.host: {"identitytoken": "refresh-1234"}}})
        r = ok(imgopt("copy", str(SAMPLE_ZSTD), f"docker://{reg.host}/{unique('secret-id')}:v1", env=idenv))
        seen += [("identity-token copy", (r.stdout + r.stderr).encode())]
    finally:
        ts.sign = sign  # type: ignore[method-assign]
    assert len(issued) >= 5
    # each token whole, and its signature part alone (a token cut in a message would still leak it)
    secrets = ["s3cret", "refresh-1234"] + issued + [t.rsplit(".", 1)[1] for t in issued]
    _assert_absent(seen, secrets)


# ------------------------------------------------------------ redirects


class _TLSFront:
    """An HTTPS server on 127.0.0.1 before a plain registry: proxies, except where told to misbehave."""

    def __init__(self, backend: str, cert, *, blob_location: str | None = None, upload_location: str | None = None,
                 realm: str | None = None):
        front = self
        self.backend = backend
        self.hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                front.hits.append(f"{self.command} {self.path}")
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if realm and not self.headers.get("Authorization"):
                    return self._reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'},
                                       b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                if blob_location and self.command == "GET" and "/blobs/sha256:" in self.path:
                    return self._reply(307, {"Location": blob_location})
                if upload_location and self.command == "POST" and "/blobs/uploads/" in self.path:
                    return self._reply(202, {"Location": upload_location})
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
                r = requests.request(self.command, front.backend + self.path, headers=hdrs, data=body,
                                     allow_redirects=False, timeout=60)
                keep = {k: v for k, v in r.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                self._reply(r.status_code, keep, r.content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _handle

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert.cert_pem), str(cert.key_pem))
        self._srv.socket = ctx.wrap_socket(self._srv.socket, server_side=True)
        self.host = f"127.0.0.1:{self._srv.server_address[1]}"
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()


@pytest.fixture
def pushed_throwaway(throwaway):
    repo = unique("redir")
    ok(imgopt("copy", str(SAMPLE_ZSTD), f"docker://{throwaway.host}/{repo}:v1"))
    return throwaway, repo


@pytest.mark.parametrize("location,needle", [
    ("http://registry-cdn.example.invalid/blob", "to plain http://registry-cdn.example.invalid refused"),
    ("file:///etc/passwd", "to file:// URL"),
    ("ftp://127.0.0.1/blob", "to ftp:// URL"),
    ("gopher://127.0.0.1:70/x", "to gopher:// URL"),
])
def test_blob_redirects_are_never_downgraded(pushed_throwaway, tmp_path, location, needle):
    reg, repo = pushed_throwaway
    cert = h.make_cert(tmp_path / "certs", "front")
    front = _TLSFront(reg.url, cert, blob_location=location)
    try:
        env = h.env_with(REQUESTS_CA_BUNDLE=str(cert.cert_pem), DOCKER_CONFIG=str(tmp_path / "none"))
        ref = f"docker://{front.host}/{repo}:v1"
        one_line_error(imgopt("copy", ref, f"oci:{tmp_path / 'out'}:v1", env=env), ref, "redirect", needle)
        assert not (tmp_path / "out").exists()
    finally:
        front.stop()


def test_redirect_to_loopback_http_is_allowed(pushed_throwaway, tmp_path):
    """Plain HTTP to a loopback host stays allowed (a local registry's storage), and works."""
    reg, repo = pushed_throwaway
    cert = h.make_cert(tmp_path / "certs", "front")
    redirecting = _RedirectToBackend(reg.url, cert)
    try:
        env = h.env_with(REQUESTS_CA_BUNDLE=str(cert.cert_pem), DOCKER_CONFIG=str(tmp_path / "none"))
        ok(imgopt("copy", f"docker://{redirecting.host}/{repo}:v1", f"oci:{tmp_path / 'out'}:v1", env=env))
        assert redirecting.redirected >= 6  # the config and 5 layers, each through the redirect
    finally:
        redirecting.stop()


class _RedirectToBackend(_TLSFront):
    """Blob GETs answered 307 to the same path on the plain-HTTP backend (loopback)."""

    def __init__(self, backend: str, cert):
        self.redirected = 0
        super().__init__(backend, cert)
        outer = self
        handler = self._srv.RequestHandlerClass
        base_handle = handler._handle

        def _handle(h_self) -> None:
            if h_self.command == "GET" and "/blobs/sha256:" in h_self.path:
                outer.redirected += 1
                return h_self._reply(307, {"Location": outer.backend + h_self.path})
            return base_handle(h_self)

        handler._handle = _handle
        handler.do_GET = handler.do_HEAD = handler.do_POST = handler.do_PUT = handler.do_PATCH = _handle


def test_token_realm_over_plain_http_to_another_host_is_refused(pushed_throwaway, tmp_path):
    reg, repo = pushed_throwaway
    cert = h.make_cert(tmp_path / "certs", "front")
    front = _TLSFront(reg.url, cert, realm="http://auth.example.invalid/token")
    try:
        env = docker_config(tmp_path, {"auths": {front.host: h.basic_auth_entry("eve", "pw-not-sent")}},
                            REQUESTS_CA_BUNDLE=str(cert.cert_pem))
        ref = f"docker://{front.host}/{repo}:v1"
        one_line_error(imgopt("inspect", ref, env=env), ref, "token request to plain http://auth.example.invalid")
    finally:
        front.stop()


def test_upload_location_downgrade_is_refused(throwaway, tmp_path):
    cert = h.make_cert(tmp_path / "certs", "front")
    front = _TLSFront(throwaway.url, cert, upload_location="http://uploads.example.invalid/u/1")
    try:
        env = h.env_with(REQUESTS_CA_BUNDLE=str(cert.cert_pem), DOCKER_CONFIG=str(tmp_path / "none"))
        ref = f"docker://{front.host}/{unique('upload')}:v1"
        one_line_error(imgopt("copy", str(SAMPLE_ZSTD), ref, env=env), ref, "blob upload to plain http://")
        assert not any(hit.startswith("PUT") and "/manifests/" in hit for hit in front.hits)
    finally:
        front.stop()


# ------------------------------------------------------ push verification


def test_push_of_a_lying_layer_stores_nothing(throwaway, tmp_path):
    """A gzip layer whose diffID lies: exit 2, the registry keeps no such blob and no manifest."""
    from layoututil import Layout, sha

    ok(imgopt("copy", "--compress", "gzip", str(SAMPLE_TAR), f"oci:{tmp_path / 'lay'}:v1"))
    lay = Layout(tmp_path / "lay")
    blob = lay.blob(lay.manifest["layers"][2]["digest"]).read_bytes()
    lay.replace_layer(2, blob + b"", diff_id=sha(b"a lie"))
    bad_digest = lay.manifest["layers"][2]["digest"]
    repo = unique("liar")
    ref = f"docker://{throwaway.host}/{repo}:v1"
    r = imgopt("copy", "--compress", "keep", f"oci:{tmp_path / 'lay'}", ref,
               env=h.env_with(IMGOPT_CACHE=str(tmp_path / "cache")))
    one_line_error(r, "digest mismatch")
    puts = [(m, u, s) for m, u, s in throwaway.requests_log() if m == "PUT"]
    assert not any("/manifests/" in u for _, u, _ in puts), puts
    # the blob of the lying layer never completed its upload (the last chunk is held back until checked)
    assert not any(urllib.parse.quote(bad_digest) in u or bad_digest in u for _, u, s in puts if s in (201, 204))
    assert not throwaway.blob_data_path(bad_digest).exists()
    assert requests.head(f"{throwaway.url}/v2/{repo}/blobs/{bad_digest}", timeout=10).status_code == 404
    assert json.loads(requests.get(f"{throwaway.url}/v2/{repo}/tags/list", timeout=10).text).get("tags") in (None, [])
