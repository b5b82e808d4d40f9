"""Zero-config probing's parts, against real servers on the host's loopback and real /proc tables:
protocol greetings (HTTP from http.server, SMTP from the stdlib's smtpd, a silent TCP service),
listening sockets read from /proc/net/tcp{,6}, the crawl's link extraction on the staticsite
fixture's own pages, document-root inference, and probe files written from a profile."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import FIXTURES, run_imgopt
from imgopt.trace import crawl
from imgopt.trace.autoprobe import Activity, probe_file_text, replay_probes
from imgopt.trace.greet import identify
from imgopt.trace.netstat import app_sockets, listening, parse_proc_net
from imgopt.trace.probes import load_probes, parse_probes, probe_dicts
from imgopt.trace.profile import AccessProfile, Discovery, ProbeResult
from imgopt.trace.served import DirCollector, docroot

SITE = FIXTURES / "apps" / "staticsite" / "site"


class HostLoopback:
    """The probes' Target, for servers on the host's own loopback (no sandbox)."""

    def connect(self, port: int, timeout: float = 5.0, family: str = "inet") -> socket.socket:
        s = socket.socket(socket.AF_INET6 if family == "inet6" else socket.AF_INET)
        s.settimeout(timeout)
        try:
            s.connect(("::1" if family == "inet6" else "127.0.0.1", port))
        except OSError:
            s.close()
            raise
        return s

    def poll_exit(self):
        return None

    def output(self) -> str:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # no do_GET: GET answers 501, as the postonly fixture does
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_an_http_server_answering_501_is_http(http_server):
    g = identify(HostLoopback(), http_server, "127.0.0.1", time.time() + 10)
    assert g is not None and g.protocol == "http" and " 501 " in g.detail


def test_a_server_that_answers_late_is_still_http():
    """Accepting before being able to answer (gunicorn's master while its workers boot): not a TCP service."""
    started = time.monotonic()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))  # answers 4.5 s after start, not before
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        g = identify(HostLoopback(), srv.server_address[1], "127.0.0.1", time.time() + 60)
    finally:
        srv.shutdown()
        srv.server_close()
    assert g is not None and g.protocol == "http" and " 204 " in g.detail


def test_an_https_server_is_spoken_to_over_tls(tmp_path):
    """A TLS-only port: the plain-text GET / fails, the same request over TLS gets an HTTP answer."""
    import ssl

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=app.example"], check=True, capture_output=True)

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b'<a href="https://127.0.0.1:%d/next">next</a>' % self.server.server_address[1])

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        g = identify(HostLoopback(), port, "127.0.0.1", time.time() + 20)
        from imgopt.trace.probes import HttpProbe, run_probe

        r = run_probe(HttpProbe(port, "/", tls=True, timeout=10), HostLoopback(), time.time() + 10)
    finally:
        srv.shutdown()
        srv.server_close()
    assert g is not None and g.protocol == "https" and " 200 " in g.detail
    assert r.passed and r.name == f"https GET :{port}/" and r.probe == {"type": "http", "port": port, "timeout": 10, "tls": True}
    assert crawl.same_origin_path(f"https://127.0.0.1:{port}/next", "/", port, scheme="https") == "/next"
    assert crawl.same_origin_path(f"http://127.0.0.1:{port}/next", "/", port, scheme="https") is None


def test_smtp_banner_is_recognized():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "smtpd", "-n", "-c", "DebuggingServer",
                             f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(port, proc)
        g = identify(HostLoopback(), port, "127.0.0.1", time.time() + 10)
    finally:
        proc.kill()
        proc.wait()
    assert g is not None and g.protocol == "smtp" and g.detail.startswith("220 ")
    assert g.probes and g.probes[0].expect == "220" and g.probes[0].send == ""


def test_a_silent_tcp_service_is_plain_tcp_and_a_closed_port_is_nothing():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    held: list = []
    stop = threading.Event()

    def accept() -> None:  # accept and say nothing (never read either)
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        g = identify(HostLoopback(), port, "127.0.0.1", time.time() + 30)
    finally:
        stop.set()
        srv.close()
        for c in held:
            c.close()
    assert g is not None and g.protocol == "tcp" and "answers no greeting" in g.detail
    assert len(held) >= 4  # GET, then the Redis, memcached and PostgreSQL greetings, each on its own connection
    assert identify(HostLoopback(), _free_port(), "127.0.0.1", time.time() + 0.5) is None


def test_listening_sockets_from_proc_net():
    v4 = socket.socket()
    v4.bind(("127.0.0.1", 0))
    v4.listen(1)
    v6 = socket.socket(socket.AF_INET6)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v6.bind(("::1", 0))
    v6.listen(1)
    idle = socket.socket()
    idle.bind(("127.0.0.1", 0))  # bound, not listening: not a server
    try:
        import os

        socks = listening(os.getpid())
        assert socks is not None
        by_port = {s.port: s for s in socks}
        a, b = by_port[v4.getsockname()[1]], by_port[v6.getsockname()[1]]
        assert (a.family, a.address, a.loopback) == ("inet", "127.0.0.1", ["127.0.0.1"])
        assert (b.family, b.address, b.loopback) == ("inet6", "::1", ["::1"])
        assert idle.getsockname()[1] not in by_port
        # in a shared (host) namespace only the sockets the app's processes hold count
        mine = {s.port for s in app_sockets(os.getpid(), private_netns=False)}
        assert {v4.getsockname()[1], v6.getsockname()[1]} <= mine
    finally:
        for s in (v4, v6, idle):
            s.close()


def test_proc_net_parsing_of_known_lines():
    tcp = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
           "   0: 00000000:1F9A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
           "   1: 0100007F:2B67 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4243 1\n")
    tcp6 = ("  sl  local_address                         remote_address                        st\n"
            "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
            "00:00000000 00000000     0        0 777 1\n")
    (s,) = parse_proc_net(tcp, "inet")  # the ESTABLISHED line is not a listener
    assert (s.address, s.port, s.inode, s.loopback) == ("0.0.0.0", 8090, 4242, ["127.0.0.1"])
    (s6,) = parse_proc_net(tcp6, "inet6")
    assert (s6.address, s6.port, s6.loopback) == ("::1", 8080, ["::1"])


def test_crawl_finds_links_and_assets_of_the_static_site():
    links, base = crawl.html_links((SITE / "index.html").read_text())
    assert base is None
    paths = {crawl.same_origin_path(l, "/", 8090) for l in links} - {None}
    assert paths == {"/css/site.css", "/site.webmanifest", "/img/icon-192.png", "/js/app.js", "/img/logo.svg",
                     "/about.html", "/docs/", "/files/"}  # not the preconnect, the other host, mailto:
    css = crawl.css_links((SITE / "css" / "site.css").read_text())
    assert {crawl.same_origin_path(r, "/css/site.css", 8090) for r in css} == {"/css/fonts.css", "/img/bg.svg"}
    fonts = crawl.css_links((SITE / "css" / "fonts.css").read_text())
    assert [crawl.same_origin_path(r, "/css/fonts.css", 8090) for r in fonts] == ["/fonts/site.woff2"]
    refs, _ = crawl.links_in((SITE / "site.webmanifest").read_text(), "application/manifest+json")
    assert refs == ["/img/icon-192.png"]  # (and not "/": too short to be worth a request)
    assert crawl.same_origin_path("http://127.0.0.1:8090/a?b=1#frag", "/", 8090) == "/a?b=1"
    assert crawl.same_origin_path("http://127.0.0.1:9999/a", "/", 8090) is None
    assert crawl.same_origin_path("../x.png", "/docs/sub/page.html", 8090) == "/docs/x.png"
    sub, base = crawl.html_links('<base href="/static/"><img srcset="a.png 1x, b.png 2x"><div data-src="c.js">')
    assert [crawl.same_origin_path(l, "/", 80, base) for l in sub] == ["/static/a.png", "/static/b.png",
                                                                       "/static/c.js"]


@pytest.mark.parametrize("url,path,root", [
    ("/", "/srv/www/index.html", "/srv/www"),
    ("/index.html", "/srv/www/index.html", "/srv/www"),
    ("/css/site.css", "/srv/www/css/site.css", "/srv/www"),
    ("/docs/", "/srv/www/docs/index.html", "/srv/www"),
    ("/about", "/app/templates/about.html", "/app/templates"),
    ("/static/a%20b.png", "/app/static/a b.png", "/app"),
    ("/cgi-bin/status", "/var/www/cgi-bin/status", "/var/www"),
    ("/json", "/usr/lib/python3.11/json/__init__.py", None),  # a module imported while answering
    ("/metrics", "/venv/lib/prometheus_client/metrics.py", None),
    ("/", "/usr/lib/python3.11/asyncio/base_events.py", None),
    ("/x/../etc/passwd", "/etc/passwd", None),
])
def test_document_roots(url, path, root):
    assert docroot(url, path) == root


def test_dirs_seen_while_answering_are_served_the_rest_listed():
    r = ProbeResult("http GET :80/files/", "http", True, started=10.0, finished=10.5,
                    probe={"type": "http", "port": 80, "path": "/files/"})
    c = DirCollector([r])
    c.observe("/etc/app/conf.d", "listdir", 9.0, True, "dir", False)  # at startup
    c.observe("/srv/files", "listdir", 10.1, True, "dir", False)  # while answering
    c.observe("/srv/files/x.txt", "open", 10.2, True, "file", False)  # not the path asked for
    c.observe("/tmp/probe", "listdir", 10.3, True, "dir", True)  # an exec probe's: never
    served, listed = c.result(t0=5.0)
    assert [(u.path, u.reason, u.probes) for u in served] == [("/srv/files", "listed while answering",
                                                               ["http GET :80/files/"])]
    assert [(u.path, u.reason, u.first_access) for u in listed] == [("/etc/app/conf.d", "listed", 4.0)]


def test_probe_file_from_a_profile_round_trips(tmp_path):
    results = [
        ProbeResult("http GET :8040/", "http", True, "HTTP 501", status=501, auto=True,
                    probe={"type": "http", "port": 8040, "expect_status": 501}),
        ProbeResult("tcp :11211 version", "tcp", True, auto=True,
                    probe={"type": "tcp", "port": 11211, "send": "version\r\n", "expect": "VERSION 1.6.18"}),
        ProbeResult("http GET :8040/metrics", "http", False, "no HTTP answer", auto=True, required=False),
    ]
    prof = AccessProfile(image="x", image_digest="", config_digest="", backend="native", argv=[], env=[],
                         workdir="/", user="", started_at="", duration=1.0, ready_time=0.5, exit_code=None,
                         probes=results, discovery=Discovery("server", 0.3))
    assert prof.passed  # the failed exploration is not required
    for name in ("p.yaml", "p.json"):
        f = tmp_path / name
        f.write_text(probe_file_text(prof, name.endswith(".yaml")))
        probes = load_probes(str(f))
        assert [p.name for p in probes] == ["http GET :8040/", "tcp :11211 version"]
        assert probes[0].expect_status == 501 and probes[1].send == "version\r\n"
    replay = replay_probes(prof)
    assert probe_dicts(replay) == [r.probe for r in results[:2]]
    assert parse_probes(probe_dicts(replay)) == replay
    prof.save(str(tmp_path / "prof.json"))
    assert AccessProfile.load(str(tmp_path / "prof.json")) == prof


def test_activity_is_idle_only_without_cpu_and_syscalls(tmp_path):
    import os

    log = tmp_path / "trace.log"
    log.write_text("")
    a = Activity(str(log))
    for _ in range(5):
        a.sample(None)
        time.sleep(0.1)
    assert a.idle_for(0.35) and not a.idle_for(5)
    with log.open("a") as f:
        f.write("x" * 4096)  # the app made syscalls
    a.sample(None)
    assert not a.idle_for(0.35)
    busy = Activity(None)
    end = time.time() + 0.6
    while time.time() < end:
        busy.sample(os.getpid())  # this test process burns CPU meanwhile
        sum(range(20000))
    assert not busy.idle_for(0.3)


def test_emit_probes_then_trace_with_them(tmp_path):
    """`imgopt trace --emit-probes` on the sample image writes a probe file that `--probe` takes back."""
    emitted = tmp_path / "found.yaml"
    prof = tmp_path / "p.json"
    p = run_imgopt("trace", str(FIXTURES / "sample.tar"), "--backend", "native", "--emit-probes", str(emitted),
                   "-o", str(prof), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "probing:    automatic: a server (:8080 http)" in p.stdout
    doc = json.loads(prof.read_text())
    assert doc["discovery"]["kind"] == "server" and doc["discovery"]["sockets"][0]["port"] == 8080
    probes = load_probes(str(emitted))
    assert probes[0].path == "/" and probes[0].expect_status == 200
    status = {(p.method, p.path): p.expect_status for p in probes if p.type == "http"}
    assert status[("HEAD", "/")] == 200 and status[("GET", "/index.html")] == 200
    assert status[("GET", "/healthz")] == 404  # busybox httpd has none: the slim image must say 404 too
    again = run_imgopt("trace", str(FIXTURES / "sample.tar"), "--backend", "native", "--probe", str(emitted),
                       "-o", str(tmp_path / "q.json"), timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "q.json").read_text())["discovery"] is None
    bad = run_imgopt("trace", str(FIXTURES / "sample.tar"), "--emit-probes", str(tmp_path / "no" / "x.yaml"))
    assert bad.returncode == 2 and "output directory does not exist" in bad.stderr



@pytest.mark.parametrize("expose", [False, True])
def test_an_app_that_neither_listens_nor_exits(expose):
    """`sleep 100` as the entrypoint: idle, decided from its inactivity -- and a failure when the image
    EXPOSEs a port nobody listens on -- long before the 100 s or the trace's timeout."""
    from imgopt.image.model import ImageConfig
    from imgopt.image.transports import open_image
    from imgopt.trace import TraceOptions, trace_image

    opts = TraceOptions(backend="native", timeout=90)
    opts.overrides.entrypoint = ["/bin/sleep"]
    opts.overrides.args = ["100"]
    with open_image(str(FIXTURES / "sample.tar")) as img:
        if not expose:
            cfg = dict(img.config.raw)
            cfg["config"] = {k: v for k, v in cfg["config"].items() if k != "ExposedPorts"}
            img.config = ImageConfig(cfg)
        res = trace_image(img, None, opts)
    d = res.profile.discovery
    assert d.kind == "idle" and d.sockets == []
    if expose:
        assert not res.passed and "EXPOSEs 8080, but nothing listens" in res.failure
        assert 15 <= d.decided_after < 60
    else:
        assert res.passed and res.profile.probes[0].probe == {"type": "timeout", "seconds": 5.0}
        assert 5 <= d.decided_after < 60
