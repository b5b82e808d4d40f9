"""The AccessProfile: what an app touched while starting, in order.

Written by ``imgopt trace`` (JSON, schema ``imgopt.profile/v1``), read by
``imgopt minify`` (what to keep, in which order) and ``imgopt simulate``
(which bytes a lazy pull must fetch before the app is ready).  See
docs/profile-schema.md.  Paths are absolute paths *inside the image*.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from imgopt.errors import BadInput

SCHEMA = "imgopt.profile/v1"

# kinds of access, as recorded per path
ACCESS_KINDS = ("exec", "open", "read", "write", "mmap", "stat", "readlink", "listdir", "access", "create", "unlink")


@dataclass
class FileAccess:
    path: str  # absolute path inside the image, e.g. "/usr/bin/python3.11"
    first_access: float  # seconds since the entrypoint started
    kinds: list[str]  # subset of ACCESS_KINDS, sorted
    exists: bool  # did the path exist in the image (False: a failed lookup)
    type: str | None = None  # file | dir | symlink | other (None when it did not exist)
    size: int | None = None  # bytes of a regular file in the image
    bytes_read: int | None = None  # bytes read through read()/pread() where known
    link_target: str | None = None  # symlink: target as stored
    before_ready: bool = True  # first accessed before the probes first passed
    by_probe: bool = False  # first touched by an exec probe's command, not by the app


@dataclass
class ProcessInfo:
    pid: int
    ppid: int | None
    argv: list[str]
    exe: str | None
    start: float  # seconds since start


@dataclass
class ProbeResult:
    name: str
    type: str  # http | tcp | exec | exit | timeout
    passed: bool
    detail: str = ""
    first_success: float | None = None  # seconds since start
    status: int | None = None  # http status
    exit_code: int | None = None
    output: str = ""  # captured body / stdout / reply (truncated)
    probe: dict[str, Any] | None = None  # the probe as a probe file holds it (what --emit-probes writes)
    auto: bool = False  # found by zero-config probing, not given in a probe file
    required: bool = True  # False: exploration (crawl, common paths); its failure does not fail the trace
    started: float | None = None  # the last attempt's request was sent (seconds since start)
    finished: float | None = None  # ... and its answer received


@dataclass
class ListeningSocket:
    """A TCP socket the app listened on (from the sandbox's /proc/net/tcp and tcp6)."""

    port: int
    address: str  # as bound: 0.0.0.0, 127.0.0.1, ::, ::1
    family: str  # inet | inet6
    protocol: str = ""  # what it answered: http, redis, memcached, postgresql, mysql, smtp, ssh, tls, tcp
    first_seen: float | None = None  # seconds since start
    detail: str = ""  # the first answer (HTTP status line, banner, greeting reply), truncated


@dataclass
class Discovery:
    """How zero-config probing found out what the app is (when no probe file was given)."""

    kind: str  # server (listened and answered) | job (ran to exit) | idle (no port, no activity) | failed
    decided_after: float  # seconds from launching the sandbox to knowing which kind it is
    sockets: list[ListeningSocket] = field(default_factory=list)
    requests: int = 0  # automatic requests sent (greetings, common paths, crawl)
    crawled: int = 0  # of those, links found in responses
    notes: list[str] = field(default_factory=list)


@dataclass
class DirUse:
    """A directory the app listed, or served files from while answering a request."""

    path: str
    reason: str  # listed | listed while answering | document root
    probes: list[str] = field(default_factory=list)  # the requests during which it was seen ([]: at startup)
    first_access: float = 0.0  # seconds since start


@dataclass
class AccessProfile:
    image: str  # reference as given
    image_digest: str  # manifest digest
    config_digest: str  # config (image ID)
    backend: str  # native | docker
    argv: list[str]
    env: list[str]
    workdir: str
    user: str
    started_at: str  # ISO 8601 UTC
    duration: float  # seconds the sandbox ran
    ready_time: float | None  # seconds until every probe first passed (None: never)
    exit_code: int | None  # entrypoint exit status if it exited
    files: list[FileAccess] = field(default_factory=list)  # ordered by first_access
    processes: list[ProcessInfo] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    written_dirs: list[str] = field(default_factory=list)  # dirs the app created files in
    tracer: str = "strace"
    schema: str = SCHEMA
    notes: list[str] = field(default_factory=list)
    # the protections the run had: engine, user_namespace, capabilities, no_new_privs, seccomp, masked_paths,
    # readonly_paths, cgroup, limits {pids, memory, cpu}, network ({} in profiles from before it was recorded)
    sandbox: dict[str, Any] = field(default_factory=dict)
    discovery: Discovery | None = None  # zero-config probing (None: the probes came from a file)
    served_dirs: list[DirUse] = field(default_factory=list)  # document roots, dirs listed while answering
    listed_dirs: list[DirUse] = field(default_factory=list)  # every other directory the app listed

    @property
    def passed(self) -> bool:
        return bool(self.probes) and all(p.passed for p in self.probes if p.required)

    def startup_files(self) -> list[FileAccess]:
        """Existing regular files read before ready, in first-access order."""
        return [f for f in self.files if f.exists and f.type == "file" and f.before_ready]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d = {"schema": d.pop("schema"), **d}
        return d

    def save(self, path: str) -> None:
        from imgopt.atomic import atomic_file

        with atomic_file(path) as tmp, open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=1)
            f.write("\n")

    @classmethod
    def from_json(cls, doc: Any, subject: str = "profile") -> "AccessProfile":
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise BadInput(subject, f"not an imgopt access profile (expected schema {SCHEMA})")
        try:
            d = dict(doc)
            d.pop("schema")
            d["files"] = [FileAccess(**f) for f in d.get("files", [])]
            d["processes"] = [ProcessInfo(**p) for p in d.get("processes", [])]
            d["probes"] = [ProbeResult(**p) for p in d.get("probes", [])]
            if d.get("discovery") is not None:
                disc = dict(d["discovery"])
                disc["sockets"] = [ListeningSocket(**x) for x in disc.get("sockets", [])]
                d["discovery"] = Discovery(**disc)
            d["served_dirs"] = [DirUse(**x) for x in d.get("served_dirs", [])]
            d["listed_dirs"] = [DirUse(**x) for x in d.get("listed_dirs", [])]
            return cls(**d)
        except TypeError as e:
            raise BadInput(subject, f"malformed access profile: {e}") from None

    @classmethod
    def load(cls, path: str) -> "AccessProfile":
        try:
            with open(path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise BadInput(path, "no such file") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise BadInput(path, f"not valid JSON: {e}") from None
        return cls.from_json(doc, path)


def traced_paths(profile: AccessProfile, before_ready_only: bool = False) -> set[str]:
    """Absolute in-image paths that existed and were touched (optionally only before ready).

    The plain reading of a profile the trace tests and benchmarks use (minify
    decides what it keeps on its own): files, directories, and each symlink of
    every chain, recorded link by link; parents come with them when the set is
    given to :func:`imgopt.image.unpack.unpack` as ``keep``.
    """
    return {f.path for f in profile.files if f.exists and (f.before_ready or not before_ready_only)}
