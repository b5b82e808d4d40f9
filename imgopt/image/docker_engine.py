"""The Docker engine: one place that makes docker SDK clients.

The ``docker-daemon:`` transport, the docker trace backend and ``imgopt
calibrate`` all get their client here, so the connection rules (``$DOCKER_HOST``
or an explicit URL, the timeout, the one-line error when nothing answers) are
the same everywhere.  The SDK is imported only when a client is made.
"""

from __future__ import annotations

import os

from imgopt.errors import DaemonError


def short_error(e: BaseException) -> str:
    """The first line of an SDK error, at most 200 characters."""
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:200]


def docker_client(subject: str = "docker-daemon", *, host: str | None = None, timeout: float = 600):
    """A pinged docker SDK client for ``host`` (default: ``$DOCKER_HOST`` or the local socket).

    No engine: :class:`~imgopt.errors.DaemonError` naming ``subject``.
    """
    try:
        import docker  # imported lazily: the SDK is slow to import
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover
        raise DaemonError(subject, "the docker Python SDK is not installed") from None
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout) if host else docker.from_env(timeout=timeout)
        client.ping()
    except (DockerException, OSError) as e:
        where = host or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DaemonError(subject, f"cannot connect to the Docker daemon at {where}: {short_error(e)}") from None
    return client


def engine_answers(timeout: float = 3) -> bool:
    """Does a Docker engine answer a ping within ``timeout`` seconds?"""
    try:
        docker_client("docker", timeout=timeout)
        return True
    except DaemonError:
        return False


def engine_reads_zstd(subject: str) -> bool:
    """Does the engine decode zstd layers reliably?  Docker 23.0 and later do."""
    client = docker_client(subject)
    try:
        version = str(client.version().get("Version", ""))
        major = int(version.split(".", 1)[0])
    except (ValueError, TypeError, AttributeError):
        return True
    return major >= 23


__all__ = ["docker_client", "engine_answers", "engine_reads_zstd", "short_error"]
