"""Registry credentials, pluggable: a :class:`Keychain` answers "which credentials for this host?".

The registry client asks the keychain it was given (through
``SourceOptions.keychain`` / ``SinkOptions.keychain``); the default is
:class:`DockerConfig`, which finds them the way the Docker CLI does.  As in
go-containerregistry's ``pkg/authn``, keychains compose (:class:`Chain`), so
a new way of finding credentials never touches the client:

* :class:`DockerConfig` -- ``~/.docker/config.json`` (``$DOCKER_CONFIG``, or the file
  named by ``$IMGOPT_AUTH_FILE``): ``credHelpers``, then ``credsStore``, then ``auths``;
* :class:`CredentialHelper` -- one ``docker-credential-NAME`` program;
* :class:`Static` -- explicit user/password, identity (refresh) token or registry (bearer) token;
* :data:`ANONYMOUS` -- no credentials;
* :class:`Chain` -- the first keychain that has credentials for the host.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Protocol

from imgopt.image.limits import MAX_ARCHIVE_JSON, load_json
from imgopt.errors import BadInput

DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


def config_key(host: str) -> str:
    """The key Docker uses for ``host`` in config.json and credential helpers."""
    return DOCKER_HUB_CONFIG_KEY if host in HUB_ALIASES else host


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token (``docker login`` to some registries)
    source: str = ""  # where they came from, for messages
    registry_token: str = ""  # a bearer token sent as it is (no token server round trip)

    def basic_header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class CredentialLookup:
    """The credentials found for a host (or None) and a note for error messages."""

    creds: Credentials | None
    note: str


def auth_file() -> str:
    """``$IMGOPT_AUTH_FILE``, else ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    explicit = os.environ.get("IMGOPT_AUTH_FILE")
    if explicit:
        return explicit
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(folder, "config.json")


def _normalize_key(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000`` (how Docker matches auths keys)."""
    k = key.strip()
    for prefix in ("https://", "http://"):
        if k.startswith(prefix):
            k = k[len(prefix):]
    return k.split("/", 1)[0]


def _auth_entry(auths: dict, host: str) -> dict | None:
    """The ``auths`` entry for ``host``, matched the way Docker matches keys."""
    if not isinstance(auths, dict):
        return None
    wanted = HUB_ALIASES if host in HUB_ALIASES else {host}
    for exact in (config_key(host), host):
        if isinstance(auths.get(exact), dict):
            return auths[exact]
    for key, entry in auths.items():
        if _normalize_key(key) in wanted and isinstance(entry, dict):
            return entry
    return None


def _from_entry(entry: dict, source: str) -> Credentials | None:
    """Credentials from an ``auths`` entry: ``auth`` (base64 user:pass) or username/password."""
    token = entry.get("identitytoken") or ""
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise BadInput(source, "an auths entry has an 'auth' value that is not base64 user:password") from None
        return Credentials(user, password, token, source)
    if entry.get("username") or token:
        return Credentials(entry.get("username") or "", entry.get("password") or "", token, source)
    return None


def _from_helper(name: str, server: str) -> CredentialLookup:
    """Ask ``docker-credential-NAME get`` for ``server``'s credentials."""
    exe = f"docker-credential-{name}"
    try:
        p = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        return CredentialLookup(None, f"credential helper {exe} is not installed")
    except (OSError, subprocess.TimeoutExpired) as e:
        return CredentialLookup(None, f"credential helper {exe} failed: {e}")
    out = (p.stdout or p.stderr).decode(errors="replace").strip()
    if p.returncode != 0:
        if "credentials not found" in out.lower():
            return CredentialLookup(None, f"{exe} has no credentials for {server}")
        return CredentialLookup(None, f"credential helper {exe} failed: {out.splitlines()[0][:160] if out else p.returncode}")
    try:
        doc = json.loads(p.stdout)
        user, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    except (ValueError, AttributeError):
        return CredentialLookup(None, f"credential helper {exe} printed no JSON credentials")
    if user == "<token>":
        return CredentialLookup(Credentials(identity_token=secret, source=exe), f"identity token from {exe}")
    return CredentialLookup(Credentials(user, secret, "", exe), f"user {user!r} from {exe}")


class Keychain(Protocol):
    """Finds the credentials for a registry host (``host[:port]`` as the user wrote it)."""

    def resolve(self, host: str) -> CredentialLookup: ...


class DockerConfig:
    """Credentials the way the Docker CLI finds them.

    ``credHelpers[host]`` first, then ``credsStore``, then the ``auths``
    entry (also used when the store has nothing for the host).  ``path``
    defaults to :func:`auth_file`, read when asked (so the environment of the
    moment counts).
    """

    def __init__(self, path: str | None = None):
        self.path = path

    def resolve(self, host: str) -> CredentialLookup:
        path = self.path or auth_file()
        try:
            with open(path, "rb") as f:
                cfg = load_json(f.read(MAX_ARCHIVE_JSON + 1), path, MAX_ARCHIVE_JSON, "registry credentials file")
        except FileNotFoundError:
            return CredentialLookup(None, f"no credentials for {host}: {path} does not exist")
        except OSError as e:
            raise BadInput(path, f"cannot read registry credentials: {e.strerror or e}") from None
        if not isinstance(cfg, dict):
            raise BadInput(path, "is not a Docker config (not a JSON object)")
        key = config_key(host)
        helpers = cfg.get("credHelpers") or {}
        helper = (helpers.get(key) or helpers.get(host)) if isinstance(helpers, dict) else None
        if helper:
            return _from_helper(str(helper), key)
        store_note = ""
        if cfg.get("credsStore"):
            found = _from_helper(str(cfg["credsStore"]), key)
            if found.creds:
                return found
            store_note = f"; {found.note}"
        entry = _auth_entry(cfg.get("auths") or {}, host)
        creds = _from_entry(entry, path) if entry else None
        if creds:
            who = f"user {creds.username!r}" if creds.username else "identity token"
            return CredentialLookup(creds, f"{who} from {path}")
        return CredentialLookup(None, f"no credentials for {host} in {path}{store_note}")


class CredentialHelper:
    """One ``docker-credential-NAME`` program, asked for every host."""

    def __init__(self, name: str):
        self.name = name

    def resolve(self, host: str) -> CredentialLookup:
        return _from_helper(self.name, config_key(host))


class Static:
    """Explicit credentials, for ``hosts`` (default: any host)."""

    def __init__(self, credentials: Credentials, hosts: list[str] | None = None):
        self.credentials = credentials
        self.hosts = set(hosts) if hosts else None

    def resolve(self, host: str) -> CredentialLookup:
        if self.hosts is not None and host not in self.hosts:
            return CredentialLookup(None, f"no explicit credentials for {host}")
        c = self.credentials
        who = f"user {c.username!r}" if c.username else "a token"
        return CredentialLookup(c, f"{who} {'from ' + c.source if c.source else 'given explicitly'}")


class Chain:
    """The first of ``keychains`` that has credentials for the host."""

    def __init__(self, *keychains: Keychain):
        self.keychains = keychains

    def resolve(self, host: str) -> CredentialLookup:
        notes = []
        for k in self.keychains:
            found = k.resolve(host)
            if found.creds is not None:
                return found
            notes.append(found.note)
        return CredentialLookup(None, "; ".join(notes) or f"no credentials for {host}")


class _Anonymous:
    def resolve(self, host: str) -> CredentialLookup:
        return CredentialLookup(None, "anonymous access")


ANONYMOUS: Keychain = _Anonymous()


def default_keychain() -> Keychain:
    """What the registry client uses when no keychain is given: :class:`DockerConfig`."""
    return DockerConfig()


def lookup_credentials(host: str) -> CredentialLookup:
    """Credentials for ``host`` from the default keychain (the Docker CLI's rules)."""
    return default_keychain().resolve(host)


__all__ = ["Keychain", "DockerConfig", "CredentialHelper", "Static", "Chain", "ANONYMOUS", "Credentials",
           "CredentialLookup", "default_keychain", "lookup_credentials", "auth_file", "config_key"]
