"""Tree-sitter parsers for the languages Python's ``ast`` does not cover.

Tree-sitter grammars (PyPI wheels, compiled C) parse JavaScript, Ruby, PHP,
Perl and shell in milliseconds and never give up on a file: a construct they
do not know becomes an ``ERROR`` node and the rest of the file is still a
tree.  That matters here -- the image's code is whatever the image ships
(newer syntax than any pure-Python parser knows, hostile input).  bashlex,
the other candidate for shell, raises on ``case`` patterns, ``[[ ]]``,
arithmetic and arrays (this project's own ffmpegjob script fails), and one
failure loses the whole script.
"""

from __future__ import annotations

import functools
from typing import Iterator

MAX_DEPTH = 2000  # tree walks are iterative; this only bounds pathological nesting


@functools.lru_cache(maxsize=None)
def parser(lang: str):
    import tree_sitter as ts

    if lang == "javascript":
        import tree_sitter_javascript as m

        language = m.language()
    elif lang == "bash":
        import tree_sitter_bash as m

        language = m.language()
    elif lang == "ruby":
        import tree_sitter_ruby as m

        language = m.language()
    elif lang == "php":
        import tree_sitter_php as m

        language = m.language_php()
    else:
        raise ValueError(lang)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # older grammar wheels hand over an int pointer
        return ts.Parser(ts.Language(language))


def parse(lang: str, source: bytes):
    return parser(lang).parse(source).root_node


def walk(root, types: set[str] | None = None) -> Iterator:
    """Every named node below ``root`` (pre-order, iterative), or only those of ``types``."""
    stack = [root]
    while stack:
        n = stack.pop()
        if types is None or n.type in types:
            yield n
        stack.extend(reversed(n.named_children))


def text(node) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def line(node) -> int:
    return node.start_point[0] + 1


__all__ = ["parser", "parse", "walk", "text", "line"]
