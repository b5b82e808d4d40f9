"""Which protocol a listening TCP port speaks, found by talking to it.

First an HTTP request (``GET /``): any HTTP status line proves an HTTP
server.  A port that answers it with a TLS alert, or hangs up without a
word, is asked again over TLS: an HTTP answer there makes it ``https``.  Servers that speak first (MySQL, SMTP, FTP, SSH, POP3, IMAP) answer
with their banner whatever we send, so the same reply identifies them.
Otherwise each common greeting is tried on a fresh connection -- Redis
``PING``, memcached ``version``, PostgreSQL's ``SSLRequest`` -- and a port
that answers none of them is a plain TCP service (connecting works).

Each answer comes with the probe that reproduces it (:class:`TcpProbe` with
the greeting and the stable part of the reply), so it can be written to a
probe file and replayed against the slim image.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from imgopt.trace.probes import LOOPBACK, TcpProbe, Target, insecure_tls, tcp_exchange

REPLY_WAIT = 3.0  # seconds to wait for an answer to the first request (a cold server is slow)
SLOW_WAIT = 20.0  # ... again, when the port took the request and kept silent (a server still starting)
GREET_WAIT = 1.5  # ... and to each greeting after it


@dataclass
class Greeting:
    protocol: str  # http | https | tls | redis | memcached | postgresql | mysql | smtp | ftp | ssh | pop3 | imap | tcp
    detail: str  # the first reply line (or a description), for the profile
    probes: list[TcpProbe] = field(default_factory=list)  # what reproduces it; extra ones explore further
    reply: bytes = b""


def http_request(port: int, address: str) -> bytes:
    host = f"[{address}]" if ":" in address else address
    return (f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: imgopt-trace\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n").encode()


def _line(reply: bytes) -> str:
    return reply.split(b"\n", 1)[0].rstrip(b"\r")[:120].decode("latin-1")


def _banner(reply: bytes, port: int, address: str) -> Greeting | None:
    """Protocols that speak first, or a reply that is no HTTP but names its protocol."""
    if reply.startswith(b"SSH-"):
        return Greeting("ssh", _line(reply), [TcpProbe(port, expect="SSH-", address=address)], reply)
    if len(reply) >= 5 and reply[3] == 0 and reply[4] in (0x0A, 0xFF):
        # MySQL/MariaDB: 3-byte length, sequence 0, then protocol 10 (handshake) or 0xFF (error: host refused)
        if reply[4] == 0x0A:
            version = reply[5:].split(b"\0", 1)[0].decode("latin-1")
            return Greeting("mysql", f"MySQL handshake, server {version}",
                            [TcpProbe(port, expect="\x0a" + version, address=address)], reply)
        return Greeting("mysql", "MySQL error packet", [TcpProbe(port, expect="\xff", address=address)], reply)
    if reply[:4] in (b"220 ", b"220-"):
        text = reply.decode("latin-1").upper()
        kind = "ftp" if "FTP" in text and "SMTP" not in text else "smtp"
        return Greeting(kind, _line(reply), [TcpProbe(port, expect="220", address=address)], reply)
    if reply.startswith(b"+OK"):
        return Greeting("pop3", _line(reply), [TcpProbe(port, expect="+OK", address=address)], reply)
    if reply.startswith(b"* OK"):
        return Greeting("imap", _line(reply), [TcpProbe(port, expect="* OK", address=address)], reply)
    if len(reply) >= 3 and reply[0] == 0x15 and reply[1] == 0x03:
        return Greeting("tls", "TLS alert (a TLS server)", [TcpProbe(port, address=address)], reply)
    return None


def _redis(port: int, address: str, reply: bytes) -> Greeting | None:
    if reply.startswith(b"+PONG"):
        return Greeting("redis", "PING answered +PONG", [TcpProbe(port, send="PING\r\n", expect="+PONG",
                                                                  address=address),
                                                         TcpProbe(port, send="INFO server\r\n",
                                                                  expect="redis_version", address=address)], reply)
    if reply.startswith((b"-NOAUTH", b"-DENIED", b"-ERR NOAUTH")):
        word = reply[1:].split(b" ", 1)[0].decode("latin-1")
        return Greeting("redis", f"PING answered -{word} (authentication required)",
                        [TcpProbe(port, send="PING\r\n", expect="-" + word, address=address)], reply)
    return None


def _memcached(port: int, address: str, reply: bytes) -> Greeting | None:
    if not reply.startswith(b"VERSION "):
        return None
    line = _line(reply)
    return Greeting("memcached", line, [TcpProbe(port, send="version\r\n", expect=line, address=address),
                                        TcpProbe(port, send="stats\r\n", expect="STAT pid", address=address)],
                    reply)


SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


def _postgres(port: int, address: str, reply: bytes) -> Greeting | None:
    if reply[:1] not in (b"N", b"S") or len(reply) != 1:
        return None
    tls = "accepts" if reply == b"S" else "declines"
    return Greeting("postgresql", f"SSLRequest answered {reply.decode()} (server {tls} TLS)",
                    [TcpProbe(port, send=SSL_REQUEST.decode("latin-1"), expect=reply.decode(), address=address)],
                    reply)


# (what to send, what it recognizes) -- text protocols first: a binary greeting costs a timeout there
GREETINGS = (("PING\r\n", _redis), ("version\r\n", _memcached), (SSL_REQUEST.decode("latin-1"), _postgres))


def _ask(target: Target, port: int, address: str, data: bytes, wait: float) -> tuple[bytes, bool]:
    """Send ``data``; (the first line or bytes of the reply, whether the server closed the connection)."""
    family = LOOPBACK.get(address, "inet")
    sock = target.connect(port, wait, family) if family != "inet" else target.connect(port, wait)
    try:
        sock.sendall(data)
        got, end = b"", time.time() + wait
        while b"\n" not in got and time.time() < end:
            sock.settimeout(max(0.05, end - time.time()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return got, False
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        sock.close()


def _https_status(target: Target, port: int, address: str) -> str | None:
    """The status line a TLS port answers GET / with (None: no TLS handshake, or no HTTP inside)."""
    family = LOOPBACK.get(address, "inet")
    try:
        sock = target.connect(port, GREET_WAIT, family) if family != "inet" else target.connect(port, GREET_WAIT)
    except OSError:
        return None
    try:
        tls = insecure_tls().wrap_socket(sock)
        tls.settimeout(REPLY_WAIT)
        tls.sendall(http_request(port, address))
        got = tls.recv(4096)
        tls.close()
    except OSError:  # ssl.SSLError is one
        sock.close()
        return None
    return _line(got) if got.startswith(b"HTTP/") else None


def identify(target: Target, port: int, address: str, deadline: float) -> Greeting | None:
    """What ``port`` speaks (None: nothing answered before ``deadline``, not even a connection).

    ``http`` means the reply to GET / began with an HTTP status line; the
    caller then makes its HTTP requests (the probes list stays empty).  A
    port that takes the request and keeps silent with the connection open is
    asked once more, waiting longer: servers accept before they can answer
    (gunicorn's master queues requests until a worker is up).
    """
    reply = None
    for wait in (REPLY_WAIT, SLOW_WAIT):
        while True:
            try:
                reply, closed = _ask(target, port, address, http_request(port, address), wait)
                break
            except OSError:
                if time.time() >= deadline or target.poll_exit() is not None:
                    return None
                time.sleep(0.05)
        if reply or closed or target.poll_exit() is not None:
            break
    if reply.startswith(b"HTTP/"):
        return Greeting("http", _line(reply), [], reply)
    known = _banner(reply, port, address)
    if known is None and not reply and closed:  # hung up on plain text: TLS servers often do
        known = Greeting("tls", "closed on a plain-text request", [TcpProbe(port, address=address)], reply)
    if known is not None and known.protocol == "tls":
        line = _https_status(target, port, address)
        if line is not None:
            return Greeting("https", line, [], reply)
        if not reply:
            known = None  # it only hung up: maybe another protocol's server (PostgreSQL does)
    if known is not None:
        return known
    for send, recognize in GREETINGS:
        try:
            got = tcp_exchange(target, port, send.encode("latin-1"), b"\n" if send.endswith("\n") else b"",
                               GREET_WAIT, address)
        except OSError:
            continue
        g = recognize(port, address, got)
        if g is not None:
            return g
    detail = f"accepts connections; answered GET / with {reply[:40]!r}" if reply else \
        "accepts connections, answers no greeting"
    return Greeting("tcp", detail, [TcpProbe(port, address=address)], reply)


__all__ = ["Greeting", "identify", "GREETINGS", "SSL_REQUEST"]
