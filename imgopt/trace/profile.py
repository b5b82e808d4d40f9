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
    type: str  # http | exec | exit | timeout
    passed: bool
    detail: str = ""
    first_success: float | None = None  # seconds since start
    status: int | None = None  # http status
    exit_code: int | None = None
    output: str = ""  # captured body / stdout (truncated)


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

    @property
    def passed(self) -> bool:
        return bool(self.probes) and all(p.passed for p in self.probes)

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
