"""ARG and ENV: what each variable holds at each instruction, and BuildKit's word expansion.

BuildKit expands ``$NAME``, ``${NAME}`` and the modifiers ``${NAME:-word}``,
``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}``, ``${NAME:?msg}``,
``${NAME#pat}``, ``${NAME%pat}`` (and the doubled forms), ``${NAME/a/b}``
in ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR
(frontend/dockerfile/shell/lex.go).  Scoping follows the Dockerfile
reference: ARGs before the first FROM are visible to FROM lines only; a
stage sees an ARG after it declares it (a bare ``ARG NAME`` takes the global
default); ENV values last for the stage and the stages built FROM it.

A value can be unknown: a build argument without a default, a predefined
platform argument, or anything the base image's ENV may hold.  Expansion
then returns None instead of guessing.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Mapping

from imgopt.dockerfile.parser import Dockerfile, Instruction

#: arguments BuildKit defines for every build; values depend on the build, so unknown here
PLATFORM_ARGS = ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS",
                 "BUILDARCH", "BUILDVARIANT", "BUILDKIT_SYNTAX", "BUILDKIT_INLINE_CACHE")

Env = Mapping[str, "str | None"]  # name -> value (None: defined, value unknown)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MISSING = object()


class _Unknown(Exception):
    pass


def expand(text: str, env: Env, *, complete: bool = False, escape: str = "\\") -> str | None:
    """``text`` with variables expanded and quotes removed, or None when it depends on an unknown.

    ``complete``: names missing from ``env`` are unset (true for FROM lines, which see only the
    global ARGs); otherwise a missing name may come from the base image, so it is unknown.
    """
    try:
        return _Lexer(text, env, complete, escape).word()
    except _Unknown:
        return None


class _Lexer:
    def __init__(self, text: str, env: Env, complete: bool, escape: str):
        self.s, self.env, self.complete, self.esc = text, env, complete, escape
        self.i = 0

    def word(self, stop: str = "") -> str:
        s, out = self.s, []
        while self.i < len(s):
            c = s[self.i]
            if stop and c in stop:
                break
            if c == self.esc and self.i + 1 < len(s):
                out.append(s[self.i + 1])
                self.i += 2
            elif c == "'":
                j = s.find("'", self.i + 1)
                j = len(s) if j < 0 else j
                out.append(s[self.i + 1:j])
                self.i = j + 1
            elif c == '"':
                self.i += 1
                while self.i < len(s) and s[self.i] != '"':
                    ch = s[self.i]
                    if ch == self.esc and self.i + 1 < len(s) and s[self.i + 1] in '"$' + self.esc:
                        out.append(s[self.i + 1])
                        self.i += 2
                    elif ch == "$":
                        out.append(self.dollar())
                    else:
                        out.append(ch)
                        self.i += 1
                self.i += 1
            elif c == "$":
                out.append(self.dollar())
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def lookup(self, name: str):
        if name in self.env:
            return self.env[name]  # None: defined, unknown value
        return _MISSING if self.complete else None

    def dollar(self) -> str:
        s = self.s
        self.i += 1
        if self.i < len(s) and s[self.i] == "{":
            self.i += 1
            m = _NAME.match(s, self.i)
            if not m:
                raise _Unknown
            name = m.group()
            self.i = m.end()
            val = self.lookup(name)
            if self.i < len(s) and s[self.i] == "}":
                self.i += 1
                return self.value(val)
            op = s[self.i: self.i + 2]
            if op in (":-", ":+", ":?", "##", "%%", "//"):
                self.i += 2
            else:
                op = s[self.i: self.i + 1]
                self.i += 1
            arg = self.word(stop="}")
            self.i += 1  # the closing brace
            return self.modify(val, op, arg)
        m = _NAME.match(s, self.i)
        if not m:
            return "$"
        self.i = m.end()
        return self.value(self.lookup(m.group()))

    @staticmethod
    def value(val) -> str:
        if val is None:
            raise _Unknown
        return "" if val is _MISSING else val

    def modify(self, val, op: str, arg: str) -> str:
        if val is None:
            raise _Unknown
        unset = val is _MISSING
        v = "" if unset else val
        if op == ":-":
            return v or arg
        if op == "-":
            return arg if unset else v
        if op == ":+":
            return arg if v else ""
        if op == "+":
            return "" if unset else arg
        if op in (":?", "?"):
            if (op == ":?" and not v) or unset:
                raise _Unknown  # the build would fail
            return v
        if op in ("#", "##", "%", "%%"):
            return _trim(v, op, arg)
        if op in ("/", "//"):
            pat, _, rep = arg.partition("/")
            return v.replace(pat, rep) if op == "//" else v.replace(pat, rep, 1)
        raise _Unknown


def _trim(v: str, op: str, pat: str) -> str:
    rng = range(len(v) + 1)
    if op in ("#", "##"):
        cuts = [k for k in rng if fnmatch.fnmatchcase(v[:k], pat)]
        if not cuts:
            return v
        return v[(max(cuts) if op == "##" else min(cuts)):]
    cuts = [k for k in rng if fnmatch.fnmatchcase(v[k:], pat)]
    if not cuts:
        return v
    return v[:(min(cuts) if op == "%%" else max(cuts))]


def scopes(df: Dockerfile) -> dict[int, dict[str, str | None]]:
    """For each instruction (by ``id()``), the variables in effect when it runs.

    FROM instructions get the global ARGs (plus platform arguments); other instructions
    their stage's ARGs and ENVs so far, inherited from a parent stage when built FROM one.
    ONBUILD triggers share their ONBUILD's scope.
    """
    glob: dict[str, str | None] = {n: None for n in PLATFORM_ARGS}
    out: dict[int, dict[str, str | None]] = {}
    stage_env: list[dict[str, str | None]] = []
    cur: dict[str, str | None] | None = None
    for ins in df.instructions:
        if ins.keyword == "FROM":
            out[id(ins)] = dict(glob)
            st = df.stages[ins.stage_index] if ins.stage_index is not None else None
            base = stage_env[st.base_stage] if st is not None and st.base_stage is not None else {}
            cur = {k: v for k, v in base.items() if not k.startswith("\0arg:")}
            stage_env.append(cur)
            continue
        scope = glob if cur is None else cur
        out[id(ins)] = dict(scope)
        if ins.trigger is not None:
            out[id(ins.trigger)] = out[id(ins)]
        if ins.keyword == "ARG":
            for name, default in ins.arg_defaults:
                if default is not None:
                    scope[name] = expand(default, scope, complete=cur is None, escape=df.escape)
                elif cur is None:
                    scope[name] = None
                else:  # a bare ARG in a stage takes the global default (or is unknown: a build argument)
                    scope[name] = glob.get(name)
        elif ins.keyword == "ENV":
            for name, raw in ins.raw_pairs:
                scope[name] = expand(raw, scope, escape=df.escape)
    return out


def expand_in(ins: Instruction, text: str, env_by_instruction: Mapping[int, Env], escape: str = "\\") -> str | None:
    """``text`` of ``ins`` expanded in that instruction's scope (FROM: the global ARGs, complete)."""
    env = env_by_instruction.get(id(ins), {})
    return expand(text, env, complete=ins.keyword == "FROM", escape=escape)


__all__ = ["PLATFORM_ARGS", "expand", "expand_in", "scopes"]
