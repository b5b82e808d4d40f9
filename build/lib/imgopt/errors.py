"""Errors a user can act on.

Every expected failure (bad input, unreachable registry, missing daemon...)
is raised as :class:`ImgoptError`; the CLI prints it as one line naming the
input and the problem and exits with :attr:`ImgoptError.exit_code` (2).
"""

from __future__ import annotations


class ImgoptError(Exception):
    """An expected failure: one line for the user, no traceback."""

    exit_code = 2

    def __init__(self, subject: str | None, problem: str):
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject}: {problem}" if subject else problem)

    def __reduce__(self):  # picklable across worker processes
        return (self.__class__, (self.subject, self.problem))


class BadInput(ImgoptError):
    """The input is not what it claims to be (not an image, corrupt, ...)."""


class DigestMismatch(BadInput):
    """A blob's bytes do not hash to the digest that names them."""


class NotFound(ImgoptError):
    """A file, image, tag or blob does not exist."""


class RegistryError(ImgoptError):
    """The registry refused or failed a request."""


class DaemonError(ImgoptError):
    """The Docker daemon is not reachable or refused a request."""


class Failed(ImgoptError):
    """The command ran but its check failed (gate, verification)."""

    exit_code = 1
