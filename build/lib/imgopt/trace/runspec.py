"""What to run: argv, environment, user and workdir, resolved as Docker would.

``docker run`` semantics: ``--entrypoint`` replaces ENTRYPOINT and drops the
image's CMD; extra arguments replace CMD; ``-e KEY=VAL`` adds or overrides
(``-e KEY`` copies the caller's value); ``--user name[:group]`` is looked up in
the image's /etc/passwd and /etc/group (numeric ids need not exist); PATH,
HOSTNAME and HOME get the engine's defaults when the image does not set them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from imgopt.errors import BadInput
from imgopt.image.model import ImageConfig
from imgopt.trace.rootfs import RootFS

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOSTNAME = "imgopt-trace"


@dataclass
class RunSpec:
    argv: list[str]
    env: list[str]
    workdir: str
    user: str  # as configured ("" = root)
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    hostname: str = HOSTNAME


@dataclass
class Overrides:
    """``docker run``-style changes to the image's configuration."""

    entrypoint: list[str] | None = None
    args: list[str] | None = None  # replaces CMD
    env: list[str] = field(default_factory=list)
    user: str | None = None
    workdir: str | None = None


def command(config: ImageConfig, ov: Overrides, subject: str) -> list[str]:
    entry = config.entrypoint if ov.entrypoint is None else list(ov.entrypoint)
    if ov.args is not None and ov.args:
        cmd = list(ov.args)
    elif ov.entrypoint is not None:
        cmd = []
    else:
        cmd = config.cmd
    argv = entry + cmd
    if not argv:
        raise BadInput(subject, "the image has no ENTRYPOINT or CMD to run (give one with --entrypoint)")
    return argv


def environment(config: ImageConfig, extra: list[str], home: str, hostname: str) -> list[str]:
    env: dict[str, str] = {}
    for e in config.env:
        k, _, v = e.partition("=")
        env[k] = v
    for e in extra:
        k, eq, v = e.partition("=")
        if not k:
            raise BadInput(f"-e {e}", "expected KEY=VALUE")
        if not eq:
            if k not in os.environ:
                continue
            v = os.environ[k]
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", hostname)
    env.setdefault("HOME", home)
    return [f"{k}={v}" for k, v in env.items()]


def _table(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(spec: str, rootfs: RootFS | None, subject: str) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary groups, home) for ``user[:group]`` in this image."""
    user, _, group = spec.partition(":")
    passwd = _table(rootfs.text("/etc/passwd")) if rootfs else []
    groups_tbl = _table(rootfs.text("/etc/group")) if rootfs else []
    uid, gid, home, name = 0, 0, "/root", "root"
    if user:
        row = next((r for r in passwd if len(r) >= 6 and r[0] == user), None)
        if row is None and user.isdigit():
            row = next((r for r in passwd if len(r) >= 6 and r[2] == user), None)
        if row is not None:
            name = row[0]
            uid, gid, home = _int(row[2], subject), _int(row[3], subject), row[5] or "/"
        elif user.isdigit():
            uid, gid, home, name = int(user), 0, "/", ""
        else:
            raise BadInput(subject, f"user {user!r} is not in the image's /etc/passwd")
    else:
        row = next((r for r in passwd if len(r) >= 6 and r[2] == "0"), None)
        home = row[5] if row and row[5] else "/root"
    if group:
        grow = next((r for r in groups_tbl if len(r) >= 3 and r[0] == group), None)
        if grow is not None:
            gid = _int(grow[2], subject)
        elif group.isdigit():
            gid = int(group)
        else:
            raise BadInput(subject, f"group {group!r} is not in the image's /etc/group")
    extra = sorted({_int(r[2], subject) for r in groups_tbl
                    if len(r) >= 4 and name and name in r[3].split(",") and r[2].isdigit()} - {gid})
    return uid, gid, extra, home


def _int(s: str, subject: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise BadInput(subject, f"malformed /etc/passwd or /etc/group entry ({s!r} is not a number)") from None


def run_spec(config: ImageConfig, rootfs: RootFS | None, ov: Overrides | None = None,
             subject: str = "image") -> RunSpec:
    """Everything needed to start the entrypoint as the engine would."""
    ov = ov or Overrides()
    argv = command(config, ov, subject)
    user = config.user if ov.user is None else ov.user
    uid, gid, groups, home = resolve_user(user, rootfs, f"{subject} user {user!r}")
    workdir = ov.workdir if ov.workdir is not None else config.workdir
    if workdir and not workdir.startswith("/"):
        raise BadInput(f"--workdir {workdir}", "must be an absolute path")
    return RunSpec(argv=argv, env=environment(config, ov.env, home, HOSTNAME), workdir=workdir or "/",
                   user=user, uid=uid, gid=gid, groups=groups)
