"""Writing text that holds names from hostile images.

File names in layers are bytes; imgopt decodes them as UTF-8 with
``surrogateescape``, so a name that is not UTF-8 keeps its bytes as lone
surrogates (U+DC80..U+DCFF).  JSON documents may also carry escaped lone
surrogates of any value (``"\\ud800"``).  Neither can be written as UTF-8.

:data:`ERRORS` names an encoding error handler for every text output (stdout,
stderr, ``-o FILE``): a surrogate-escaped byte is written back as that byte
(the user sees the name as it is in the image), any other unencodable
character as a ``\\uXXXX`` escape.  Nothing fails on output.
"""

from __future__ import annotations

import codecs

ERRORS = "imgopt-bytes"


def _handler(exc: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for c in exc.object[exc.start:exc.end]:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(o - 0xDC00)
        else:
            out += f"\\u{o:04x}".encode()
    return bytes(out), exc.end


codecs.register_error(ERRORS, _handler)

__all__ = ["ERRORS"]
