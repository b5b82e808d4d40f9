"""Errors a user can act on.

Every expected failure (bad input, unreachable registry, missing daemon...)
is raised as :class:`ImgoptError`; the CLI prints it as one line naming the
input and the problem and exits with :attr:`ImgoptError.exit_code` (2).
"""

from __future__ import annotations

import re

# Parts of a message come from hostile input (file names in a layer, symlink
# targets, registry answers): each is cut to a readable length, and control
# characters and undecodable bytes are escaped, so the message stays one line.
MAX_SUBJECT = 240
MAX_PROBLEM = 600
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: object, limit: int = MAX_PROBLEM) -> str:
    """``text`` as one printable line of at most ~``limit`` characters (the middle elided)."""
    s = _UNPRINTABLE.sub(_escape, str(text))
    if len(s) > limit:
        keep = max(limit // 2 - 10, 8)
        s = f"{s[:keep]}...({len(s) - 2 * keep} characters)...{s[-keep:]}"
    return s


def _escape(m: re.Match) -> str:
    c = m.group(0)
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return f"\\x{o - 0xDC00:02x}"
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")


class ImgoptError(Exception):
    """An expected failure: one line for the user, no traceback."""

    exit_code = 2

    def __init__(self, subject: str | None, problem: str):
        self.subject = subject
        self.problem = problem
        text = printable(problem)
        super().__init__(f"{printable(subject, MAX_SUBJECT)}: {text}" if subject else text)

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
    """The command ran but its check failed (a trace probe, the slim image's verification): exit code 1."""

    exit_code = 1
