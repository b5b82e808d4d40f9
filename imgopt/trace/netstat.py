"""What a running sandbox listens on, and whether it is doing anything, read from the host's /proc.

Seen from the host, ``/proc/PID/net/tcp`` and ``tcp6`` list the sockets of
PID's *network namespace*: for the sandbox's init (native) or the container's
first process (docker) that is the app's own loopback-only namespace, so
every listening socket there is the app's.  With ``--network host`` the
namespace is the host's: then only sockets whose inode one of the sandbox's
processes holds (``/proc/PID/fd``) count.  CPU time (``/proc/PID/stat``) of
the sandbox's PID namespace tells a busy app (still starting, computing) from
an idle one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from imgopt.trace.procmaps import pidns_members

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


@dataclass(frozen=True)
class Socket:
    family: str  # inet | inet6
    address: str  # 0.0.0.0, 127.0.0.1, ::, ::1, ...
    port: int
    inode: int

    @property
    def loopback(self) -> list[str]:
        """Where a client in the same namespace can reach it, best first ([]: on another address only).

        A ``::`` socket takes IPv4 too unless it is IPV6_V6ONLY (nginx's
        ``listen [::]:80``), so 127.0.0.1 is tried first and ::1 second.
        """
        ip = ipaddress.ip_address(self.address)
        if self.family == "inet":
            return ["127.0.0.1"] if ip.is_unspecified or ip.is_loopback else []
        if ip.is_unspecified:
            return ["127.0.0.1", "::1"]
        if ip.is_loopback:
            return ["::1"]
        mapped = getattr(ip, "ipv4_mapped", None)
        return ["127.0.0.1"] if mapped is not None and (mapped.is_loopback or mapped.is_unspecified) else []


def _addr(hex_addr: str, family: str) -> tuple[str, int]:
    host, _, port = hex_addr.partition(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    fixed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(fixed)), int(port, 16)


def parse_proc_net(text: str, family: str) -> list[Socket]:
    """Listening sockets of one ``/proc/net/tcp``/``tcp6`` table."""
    out = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 10 or cols[3] != LISTEN:
            continue
        try:
            address, port = _addr(cols[1], family)
            out.append(Socket(family, address, port, int(cols[9])))
        except ValueError:
            continue
    return out


def listening(pid: int) -> list[Socket] | None:
    """Listening TCP sockets in ``pid``'s network namespace (None: not readable, e.g. the process is gone)."""
    found: list[Socket] = []
    ok = False
    for name, family in (("tcp", "inet"), ("tcp6", "inet6")):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                found += parse_proc_net(f.read(), family)
            ok = True
        except OSError:
            continue
    return found if ok else None


def held_inodes(pids: list[int]) -> set[int] | None:
    """Socket inodes the processes hold open (None: their fd tables are not readable)."""
    inodes: set[int] = set()
    readable = False
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        readable = True
        for fd in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes if readable else None


def app_sockets(pid: int, private_netns: bool) -> list[Socket] | None:
    """The app's listening sockets, one per port (IPv4 preferred); None when they cannot be read."""
    socks = listening(pid)
    if socks is None:
        return None
    if not private_netns:
        held = held_inodes(pidns_members(pid))
        if held is None:
            return None
        socks = [s for s in socks if s.inode in held]
    by_port: dict[int, Socket] = {}
    for s in sorted(socks, key=lambda s: (s.port, s.family != "inet", s.address)):
        if s.loopback:
            by_port.setdefault(s.port, s)
    return [by_port[p] for p in sorted(by_port)]


def cpu_ticks(pid: int) -> int:
    """CPU time (clock ticks) used so far by the processes of ``pid``'s PID namespace, with their reaped
    children's."""
    total = 0
    for p in pidns_members(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
    return total


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
