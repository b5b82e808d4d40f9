"""Probes: how a trace knows the app is ready (or done).

Declared in a file users commit (``--probe FILE``, YAML or JSON)::

    probes:                      # all must pass, in order
      - type: http               # on a loopback port inside the sandbox's network
        port: 8000
        path: /json              # default /
        method: GET              # default GET
        headers: {Accept: application/json}
        body: ""                 # request body (optional)
        expect_status: 200       # default 200 (null: any status below 500)
        expect_body: "ok"        # substring of the response body (optional)
        address: 127.0.0.1       # or ::1 (a server listening on IPv6 loopback only)
        tls: false               # true: HTTPS (the server's certificate is not checked)
        timeout: 60              # seconds to wait for the first success
      - type: tcp                # a TCP service: connect, send, wait for the reply
        port: 11211
        send: "version\\r\\n"      # bytes to send (latin-1 text; optional)
        expect: "VERSION"        # substring of what comes back (optional: connecting is enough)
        timeout: 30
      - type: exec               # a command run inside the sandbox, retried until it passes
        command: ["cat", "/tmp/ready"]   # or a string, run with /bin/sh -c
        expect_exit: 0
        expect_output: ""
        timeout: 30
      - type: exit               # jobs: wait for the entrypoint to finish (alias: wait-for-exit)
        expect_exit: 0
        expect_output: "done"    # substring of stdout+stderr
        timeout: 120
      - type: timeout            # just let it run this long (passes unless it failed meanwhile)
        seconds: 5

When no probe is given, :mod:`imgopt.trace.autoprobe` finds out on its own
what the app is (a server on the ports it listens on, a job, an idle
service) and records the probes it ran in this same form, so they can be
written to a file (``imgopt trace --emit-probes``) and replayed.
:func:`default_probes` is the older, EXPOSE-only default.
"""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from imgopt.data import parse_yaml
from imgopt.errors import BadInput
from imgopt.trace.profile import ProbeResult

DEFAULT_TIMEOUT = 60.0
POLL = 0.05  # seconds between attempts


@dataclass
class HttpProbe:
    port: int
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_status: int | None = 200  # None: any status below 500
    expect_body: str = ""
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""
    type: str = "http"
    address: str = "127.0.0.1"  # or "::1"
    tls: bool = False  # HTTPS; the server's certificate is not verified (a loopback probe, not a client)

    def __post_init__(self) -> None:
        self.name = self.name or _default_name(self)


@dataclass
class TcpProbe:
    port: int
    send: str = ""  # latin-1 text: each character one byte
    expect: str = ""  # substring of the reply ("" with nothing sent: connecting is enough)
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""
    type: str = "tcp"
    address: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.name = self.name or _default_name(self)


@dataclass
class ExecProbe:
    command: list[str]
    expect_exit: int = 0
    expect_output: str = ""
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""
    type: str = "exec"

    def __post_init__(self) -> None:
        self.name = self.name or _default_name(self)


@dataclass
class ExitProbe:
    expect_exit: int = 0
    expect_output: str = ""
    timeout: float = DEFAULT_TIMEOUT
    running_ok: bool = False  # default probe: still running at the limit counts as a pass
    name: str = ""
    type: str = "exit"

    def __post_init__(self) -> None:
        self.name = self.name or _default_name(self)


@dataclass
class TimeoutProbe:
    seconds: float = 5.0
    name: str = ""
    type: str = "timeout"

    def __post_init__(self) -> None:
        self.name = self.name or _default_name(self)

    @property
    def timeout(self) -> float:
        return self.seconds


Probe = HttpProbe | TcpProbe | ExecProbe | ExitProbe | TimeoutProbe

_KEYS: dict[str, tuple[type, set[str]]] = {
    "http": (HttpProbe, {"port", "path", "method", "headers", "body", "expect_status", "expect_body", "timeout",
                         "name", "address", "tls"}),
    "tcp": (TcpProbe, {"port", "send", "expect", "timeout", "name", "address"}),
    "exec": (ExecProbe, {"command", "expect_exit", "expect_output", "timeout", "name"}),
    "exit": (ExitProbe, {"expect_exit", "expect_output", "timeout", "name"}),
    "timeout": (TimeoutProbe, {"seconds", "timeout", "name"}),
}
_ALIASES = {"wait-for-exit": "exit", "wait_for_exit": "exit", "command": "exec"}


# ----------------------------------------------------------------- parsing


def load_probes(path: str) -> list[Probe]:
    """Probes from a YAML or JSON file; :class:`BadInput` naming the file and the probe."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise BadInput(path, "no such probe file") from None
    except IsADirectoryError:
        raise BadInput(path, "is a directory, not a probe file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(path, "probe file is not UTF-8 text") from None
    doc = _parse_text(text, path)
    return parse_probes(doc, path)


def _parse_text(text: str, path: str) -> Any:
    if path.endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as e:
            if path.endswith(".json"):
                raise BadInput(path, f"not valid JSON: {e}") from None
    import yaml

    try:
        return parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInput(path, f"not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None


def parse_probes(doc: Any, subject: str = "probes") -> list[Probe]:
    """Probes from a parsed document: ``{"probes": [...]}`` or a bare list."""
    if isinstance(doc, dict) and set(doc) <= {"probes", "version"}:
        doc = doc.get("probes")
    if not isinstance(doc, list) or not doc:
        raise BadInput(subject, "expected a non-empty list of probes (a 'probes:' list)")
    return [_probe(p, f"{subject}: probe {i + 1}") for i, p in enumerate(doc)]


def _probe(d: Any, where: str) -> Probe:
    if not isinstance(d, dict):
        raise BadInput(where, "is not a mapping")
    kind = d.get("type")
    if not isinstance(kind, str):
        raise BadInput(where, "has no 'type' (http, tcp, exec, exit, timeout)")
    kind = _ALIASES.get(kind, kind)
    if kind not in _KEYS:
        raise BadInput(where, f"unknown probe type {d['type']!r} (expected http, tcp, exec, exit or timeout)")
    cls, allowed = _KEYS[kind]
    extra = set(d) - allowed - {"type"}
    if extra:
        raise BadInput(where, f"unknown key(s) for a {kind} probe: {', '.join(sorted(map(str, extra)))}")
    kw = {k: v for k, v in d.items() if k != "type"}
    if "timeout" in kw:
        kw["timeout"] = _seconds(kw["timeout"], where, "timeout")
    if kind == "http":
        _http_fields(kw, where)
    elif kind == "tcp":
        _tcp_fields(kw, where)
    elif kind == "exec":
        kw["command"] = _command(kw.get("command"), where)
        _expect(kw, where)
    elif kind == "exit":
        _expect(kw, where)
    else:
        secs = kw.pop("timeout", None)
        secs = kw.get("seconds", secs)
        kw["seconds"] = _seconds(secs if secs is not None else 5.0, where, "seconds")
    if "name" in kw and not isinstance(kw["name"], str):
        raise BadInput(where, "name must be a string")
    return cls(**kw)


def _seconds(v: Any, where: str, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 86400:
        raise BadInput(where, f"{key} must be a number of seconds between 0 and 86400, not {v!r}")
    return float(v)


def _port_address(kw: dict, where: str) -> None:
    port = kw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadInput(where, f"port must be an integer between 1 and 65535, not {port!r}")
    if kw.get("address", "127.0.0.1") not in LOOPBACK:
        raise BadInput(where, f"address must be 127.0.0.1 or ::1 (the sandbox's loopback), not {kw['address']!r}")


def _tcp_fields(kw: dict, where: str) -> None:
    _port_address(kw, where)
    for key in ("send", "expect"):
        v = kw.get(key, "")
        if not isinstance(v, str):
            raise BadInput(where, f"{key} must be a string")
        try:
            v.encode("latin-1")
        except UnicodeEncodeError:
            raise BadInput(where, f"{key} must be latin-1 text (one byte per character; \\xNN escapes)") from None


def _http_fields(kw: dict, where: str) -> None:
    _port_address(kw, where)
    path = kw.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " \r\n"):
        raise BadInput(where, f"path must start with '/' and contain no spaces, not {path!r}")
    method = kw.get("method", "GET")
    if not isinstance(method, str) or not method.isalpha():
        raise BadInput(where, f"method must be an HTTP method name, not {method!r}")
    kw["method"] = method.upper()
    headers = kw.get("headers", {}) or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in headers.items()):
        raise BadInput(where, "headers must be a mapping of strings")
    kw["headers"] = {k: str(v) for k, v in headers.items()}
    if kw.get("body") is not None and not isinstance(kw["body"], str):
        raise BadInput(where, "body must be a string")
    status = kw.get("expect_status", 200)
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise BadInput(where, f"expect_status must be an HTTP status (100-599) or null, not {status!r}")
    if not isinstance(kw.get("expect_body", ""), str):
        raise BadInput(where, "expect_body must be a string")
    if not isinstance(kw.get("tls", False), bool):
        raise BadInput(where, f"tls must be true or false, not {kw['tls']!r}")


def _expect(kw: dict, where: str) -> None:
    code = kw.get("expect_exit", 0)
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        raise BadInput(where, f"expect_exit must be an exit code (0-255), not {code!r}")
    if not isinstance(kw.get("expect_output", ""), str):
        raise BadInput(where, "expect_output must be a string")


def _command(v: Any, where: str) -> list[str]:
    if isinstance(v, str) and v.strip():
        return ["/bin/sh", "-c", v]
    if isinstance(v, list) and v and all(isinstance(a, str) for a in v):
        return list(v)
    raise BadInput(where, "command must be a non-empty string or list of strings")


def _default_name(p: Probe) -> str:
    if isinstance(p, HttpProbe):
        return f"{'https' if p.tls else 'http'} {p.method} :{p.port}{p.path}"
    if isinstance(p, TcpProbe):
        first = p.send.split("\r", 1)[0].split("\n", 1)[0]
        shown = first[:24] if first.isprintable() else first.encode("latin-1").hex()[:16]
        return f"tcp :{p.port}" + (f" {shown}" if shown else "")
    if isinstance(p, ExecProbe):
        return "exec " + shlex.join(p.command)[:60]
    if isinstance(p, ExitProbe):
        return "exit"
    return f"timeout {p.seconds:g}s"


def default_probes(exposed_ports: list[str], timeout: float) -> list[Probe]:
    """HTTP GET / on each EXPOSEd TCP port; else wait for exit (or time out)."""
    probes: list[Probe] = []
    for spec in exposed_ports:
        port, _, proto = spec.partition("/")
        if (proto or "tcp") == "tcp" and port.isdigit() and 1 <= int(port) <= 65535:
            probes.append(HttpProbe(int(port), expect_status=None, timeout=timeout))
    if probes:
        return probes
    return [ExitProbe(timeout=timeout, running_ok=True, name="exit (or still running: timeout)")]


# ----------------------------------------------------------------- running


LOOPBACK = {"127.0.0.1": "inet", "::1": "inet6"}


class Target(Protocol):
    """What probes need from a running sandbox (native or docker)."""

    def connect(self, port: int, timeout: float = 5.0, family: str = "inet") -> Any: ...
    def exec(self, argv: list[str], timeout: float, trace_log: str | None = None) -> Any: ...
    def poll_exit(self) -> dict | None: ...
    def wait_exit(self, timeout: float) -> dict | None: ...
    def output(self) -> str: ...


def run_probes(probes: list[Probe], target: Target, limit: float,
               exec_log: Callable[[int], str | None] = lambda i: None) -> list[ProbeResult]:
    """Run probes in order; each waits up to its timeout (and the overall ``limit``, a time.time()).

    ``first_success`` is an absolute time.time() here (the caller makes it
    relative to the entrypoint's start).  ``exec_log(i)`` names a fresh trace
    log for each attempt of exec probe ``i`` (None: not traced).  A probe
    after a failed one is not run (reported failed, "not run").
    """
    results: list[ProbeResult] = []
    failed = False
    for i, p in enumerate(probes):
        if failed:
            results.append(ProbeResult(p.name, p.type, False, "not run: an earlier probe failed"))
            continue
        deadline = min(time.time() + p.timeout, limit)
        r = run_probe(p, target, deadline, lambda i=i: exec_log(i))
        results.append(r)
        failed = not r.passed
    return results


def run_probe(p: Probe, target: Target, deadline: float,
              exec_log: Callable[[], str | None] = lambda: None) -> ProbeResult:
    """Run one probe until it passes or ``deadline`` (a time.time()); its result, with its probe mapping."""
    if isinstance(p, HttpProbe):
        r = _http(p, target, deadline)
    elif isinstance(p, TcpProbe):
        r = _tcp(p, target, deadline)
    elif isinstance(p, ExecProbe):
        r = _exec(p, target, deadline, exec_log)
    elif isinstance(p, ExitProbe):
        r = _exit(p, target, deadline)
    else:
        r = _timeout(p, target, deadline)
    r.probe = probe_mapping(p)
    return r


def _given_up(p: Probe, target: Target, deadline: float, last: str, **fields: Any) -> ProbeResult | None:
    """The failed result when a retrying probe must stop (the app exited, or the deadline passed), else None.

    ``last`` describes the last attempt; ``fields`` go into the timed-out result.
    """
    early = _exited_early(p, target)
    if early is not None:
        early.detail += f"; last attempt: {last}"
        return early
    if time.time() >= deadline:
        return ProbeResult(p.name, p.type, False, f"not passed within {p.timeout:g} s; last attempt: {last}", **fields)
    return None


def _exited_early(p: Probe, target: Target) -> ProbeResult | None:
    ex = target.poll_exit()
    if ex is None:
        return None
    code = ex.get("exit_code")
    tail = " ".join(target.output().strip().splitlines()[-3:])[-300:]
    return ProbeResult(p.name, p.type, False, f"the entrypoint exited (code {code}) before the probe passed; "
                                              f"output: {tail!r}", exit_code=code)


def _http(p: HttpProbe, target: Target, deadline: float) -> ProbeResult:
    last = "no attempt"
    while True:
        now = time.time()
        try:
            status, body = _http_once(p, target, max(0.5, min(5.0, deadline - now)))
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        else:
            ok_status = status < 500 if p.expect_status is None else status == p.expect_status
            if ok_status and p.expect_body in body:
                done = time.time()
                return ProbeResult(p.name, p.type, True, f"HTTP {status}", first_success=done,
                                   status=status, output=body[:2000], started=now, finished=done)
            last = f"HTTP {status}, body {body.strip()[:200]!r}"
        end = _given_up(p, target, deadline, last)
        if end is not None:
            return end
        time.sleep(POLL)


def _connect(target: Target, port: int, timeout: float, address: str) -> Any:
    family = LOOPBACK.get(address, "inet")
    return target.connect(port, timeout, family) if family != "inet" else target.connect(port, timeout)


def _http_once(p: HttpProbe, target: Target, timeout: float) -> tuple[int, str]:
    status, _headers, body = http_exchange(p, target, timeout)
    return status, body


def http_exchange(p: HttpProbe, target: Target, timeout: float) -> tuple[int, dict[str, str], str]:
    """One request of ``p`` (status, headers with lower-case names, body up to 1 MiB); raises OSError or
    http.client.HTTPException when no HTTP answer comes."""
    sock = _connect(target, p.port, timeout, p.address)
    if p.tls:
        try:
            sock = insecure_tls().wrap_socket(sock)
        except BaseException:
            sock.close()
            raise
    conn = http.client.HTTPConnection(p.address, p.port, timeout=timeout)
    conn.sock = sock
    host = f"[{p.address}]" if ":" in p.address else p.address
    try:
        headers = {"Host": f"{host}:{p.port}", "User-Agent": "imgopt-trace", "Connection": "close", **p.headers}
        conn.request(p.method, p.path, body=p.body.encode() if p.body is not None else None, headers=headers)
        resp = conn.getresponse()
        got = {k.lower(): v for k, v in resp.getheaders()}
        # at most 1 MiB, and no longer than ``timeout`` in all (a server may trickle its body)
        body, end = bytearray(), time.time() + timeout
        while len(body) < 1 << 20 and time.time() < end:
            chunk = resp.read1(min(65536, (1 << 20) - len(body)))
            if not chunk:
                break
            body += chunk
        return resp.status, got, body.decode("utf-8", "replace")
    finally:
        conn.close()


def insecure_tls():
    """A TLS client context that checks nothing: the probe talks to the sandbox's own loopback, where
    a server's certificate is for its real name (or self-signed), and only the answer matters."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tcp_exchange(target: Target, port: int, send: bytes, expect: bytes, timeout: float,
                 address: str = "127.0.0.1") -> bytes:
    """Connect, send ``send``, read until ``expect`` is in the reply (or EOF, or ``timeout``); the reply.

    With ``expect`` empty the read ends at the first bytes (or the timeout:
    a service that says nothing).  Raises OSError when the connection fails.
    """
    sock = _connect(target, port, timeout, address)
    try:
        end = time.time() + timeout
        if send:
            sock.sendall(send)
        got = b""
        while time.time() < end and (expect not in got if expect else not got) and len(got) < 1 << 20:
            sock.settimeout(max(0.05, end - time.time()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        return got
    finally:
        sock.close()


def _tcp(p: TcpProbe, target: Target, deadline: float) -> ProbeResult:
    last = "no attempt"
    send, expect = p.send.encode("latin-1"), p.expect.encode("latin-1")
    while True:
        now = time.time()
        try:
            got = tcp_exchange(target, p.port, send, expect, max(0.5, min(5.0, deadline - now)), p.address)
        except OSError as e:
            last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        else:
            if expect in got:
                done = time.time()
                return ProbeResult(p.name, p.type, True, f"reply {got[:60]!r}" if got else "connected",
                                   first_success=done, output=got[:2000].decode("latin-1"), started=now,
                                   finished=done)
            last = f"reply {got[:200]!r}"
        end = _given_up(p, target, deadline, last)
        if end is not None:
            return end
        time.sleep(POLL)


def _exec(p: ExecProbe, target: Target, deadline: float, log: Callable[[], str | None]) -> ProbeResult:
    last = "no attempt"
    while True:
        left = deadline - time.time()
        res = target.exec(p.command, max(1.0, left), log())
        if res.exit_code == p.expect_exit and p.expect_output in res.output:
            return ProbeResult(p.name, p.type, True, f"exit {res.exit_code}", first_success=time.time(),
                               exit_code=res.exit_code, output=res.output[-2000:])
        last = f"exit {res.exit_code}" + (" (timed out)" if res.timed_out else "") + \
            f", output {res.output.strip()[-200:]!r}"
        end = _given_up(p, target, deadline, last, exit_code=res.exit_code, output=res.output[-2000:])
        if end is not None:
            return end
        time.sleep(max(POLL, 0.2))


def _exit(p: ExitProbe, target: Target, deadline: float) -> ProbeResult:
    ex = target.wait_exit(max(0.0, deadline - time.time()))
    if ex is None:
        if p.running_ok:
            return ProbeResult(p.name, "timeout", True, f"still running after {p.timeout:g} s",
                               first_success=time.time())
        return ProbeResult(p.name, p.type, False, f"the entrypoint did not exit within {p.timeout:g} s")
    code = ex.get("exit_code")
    out = target.output()
    ok = code == p.expect_exit and p.expect_output in out
    detail = f"exit {code}" if ok else f"exit {code} (expected {p.expect_exit})" if code != p.expect_exit \
        else f"output lacks {p.expect_output!r}"
    return ProbeResult(p.name, p.type, ok, detail, first_success=float(ex["time"]) if ok else None,
                       exit_code=code, output=out[-2000:])


def _timeout(p: TimeoutProbe, target: Target, deadline: float) -> ProbeResult:
    ex = target.wait_exit(max(0.0, deadline - time.time()))
    if ex is not None and ex.get("exit_code") not in (0, None):
        return ProbeResult(p.name, p.type, False, f"the entrypoint exited with {ex.get('exit_code')}",
                           exit_code=ex.get("exit_code"))
    return ProbeResult(p.name, p.type, True, "ran for its time" if ex is None else "exited 0",
                       first_success=time.time(), exit_code=ex.get("exit_code") if ex else None)


def probe_mapping(p: Probe) -> dict[str, Any]:
    """``p`` as a probe file holds it: its type first, then every field that differs from its default
    (a derived name is left out), so ``parse_probes([probe_mapping(p)])`` gives ``p`` back."""
    from dataclasses import fields

    out: dict[str, Any] = {"type": p.type}
    defaults = type(p)(**{f.name: getattr(p, f.name) for f in fields(p) if f.name in _REQUIRED.get(p.type, ())})
    allowed = _KEYS[p.type][1] if p.type in _KEYS else set()
    for f in fields(p):
        v = getattr(p, f.name)
        if f.name not in allowed or (f.name == "name" and v == _default_name(p)):
            continue
        if f.name in _REQUIRED.get(p.type, ()) or v != getattr(defaults, f.name):
            out[f.name] = int(v) if isinstance(v, float) and v.is_integer() else v
    return out


_REQUIRED = {"http": ("port",), "tcp": ("port",), "exec": ("command",)}


def probe_dicts(probes: list[Probe]) -> list[dict]:
    """Probes as plain mappings (what a probe file would hold)."""
    return [probe_mapping(p) for p in probes]


__all__ = ["HttpProbe", "TcpProbe", "ExecProbe", "ExitProbe", "TimeoutProbe", "Probe", "load_probes",
           "parse_probes", "default_probes", "run_probes", "run_probe", "tcp_exchange", "http_exchange", "Target", "probe_dicts",
           "probe_mapping"]
