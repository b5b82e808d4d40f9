"""What a rule sees of one Dockerfile: instructions by keyword, RUN scripts, variables, stages.

Everything is computed at most once per file and only when a rule asks
(shell parsing of RUN bodies, variable scopes, the stage graph), so a run of
80 rules over a file costs one pass of each kind.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

from imgopt.dockerfile.parser import Dockerfile, ImageRef, Instruction, Stage, split_image
from imgopt.dockerfile.runs import is_posix_shell, run_script
from imgopt.dockerfile.shell import Command, Script
from imgopt.dockerfile.variables import expand, scopes

if TYPE_CHECKING:
    from imgopt.lint.config import LintConfig


class Context:
    """One Dockerfile, as rules read it."""

    def __init__(self, df: Dockerfile, path: str, config: "LintConfig", directory: str | None = None):
        self.df = df
        self.path = path
        self.config = config
        self.directory = directory  # the Dockerfile's directory (None for standard input)
        self.instructions = df.instructions
        by: dict[str, list[Instruction]] = {}
        trig: dict[str, list[Instruction]] = {}
        for ins in df.instructions:
            by.setdefault(ins.keyword, []).append(ins)
            if ins.trigger is not None:
                trig.setdefault(ins.trigger.keyword, []).append(ins.trigger)
        self._by = by
        self._triggers = trig

    # ---------------------------------------------------------------- instructions

    def of(self, *keywords: str) -> list[Instruction]:
        """Top-level instructions with one of ``keywords``, in file order."""
        if len(keywords) == 1:
            return self._by.get(keywords[0], [])
        return [i for i in self.instructions if i.keyword in keywords]

    def triggers(self, *keywords: str) -> list[Instruction]:
        """ONBUILD triggers with one of ``keywords`` (their line is the ONBUILD's)."""
        out: list[Instruction] = []
        for k in keywords:
            out.extend(self._triggers.get(k, []))
        return sorted(out, key=lambda i: i.start_line)

    def runs(self, onbuild: bool = False) -> list[Instruction]:
        return self.of("RUN") + (self.triggers("RUN") if onbuild else [])

    # ---------------------------------------------------------------- RUN scripts

    def script(self, ins: Instruction) -> Script:
        return run_script(self.df, ins)

    def commands(self, ins: Instruction, *, hadolint: bool = False) -> list[Command]:
        """The simple commands of a RUN.  ``hadolint=True``: only those hadolint sees (not the
        ones inside ``sh -c '...'`` or behind wrappers such as ``env`` and ``sudo``, nor bare
        assignments and redirections)."""
        cmds = self.script(ins).commands
        # hadolint (ShellCheck's getCommand) sees simple commands with a word: not bare assignments
        return [c for c in cmds if not c.synthetic and c.words] if hadolint else cmds

    def shell_of(self, ins: Instruction) -> list[str] | None:
        """The SHELL in effect for ``ins`` (None: the default /bin/sh -c)."""
        return self._shells.get(id(ins))

    def posix_shell(self, ins: Instruction) -> bool:
        return is_posix_shell(self.shell_of(ins))

    @cached_property
    def _shells(self) -> dict[int, list[str] | None]:
        out: dict[int, list[str] | None] = {}
        per_stage: list[list[str] | None] = []
        cur: list[str] | None = None
        for ins in self.instructions:
            if ins.keyword == "FROM":
                st = self.df.stages[ins.stage_index] if ins.stage_index is not None else None
                cur = per_stage[st.base_stage] if st is not None and st.base_stage is not None else None
                per_stage.append(cur)
            elif ins.keyword == "SHELL" and ins.exec_form:
                cur = list(ins.exec_form)
                if per_stage:
                    per_stage[-1] = cur
            out[id(ins)] = cur
            if ins.trigger is not None:
                out[id(ins.trigger)] = cur
        return out

    # ---------------------------------------------------------------- variables

    @cached_property
    def _scopes(self) -> dict[int, dict[str, str | None]]:
        return scopes(self.df)

    def env(self, ins: Instruction) -> dict[str, str | None]:
        """Variables in effect at ``ins`` (value None: defined, unknown)."""
        return self._scopes.get(id(ins), {})

    def expand(self, ins: Instruction, text: str) -> str | None:
        """``text`` expanded as BuildKit would at ``ins``; None when it depends on an unknown."""
        if "$" not in text and "'" not in text and '"' not in text and "\\" not in text:
            return text
        return expand(text, self.env(ins), complete=ins.keyword == "FROM", escape=self.df.escape)

    # ---------------------------------------------------------------- stages

    @property
    def stages(self) -> list[Stage]:
        return self.df.stages

    def stage(self, ins: Instruction) -> Stage | None:
        return self.df.stages[ins.stage_index] if ins.stage_index is not None else None

    def base_image(self, stage: Stage) -> ImageRef | None:
        """The stage's base image with ARGs expanded (None: a stage name, or unknown)."""
        if stage.base_stage is not None:
            return None
        text = self.expand(stage.from_instruction, stage.base)
        if text is None or "$" in text:
            return None
        if any(s.name and s.name == text.lower() and s.index < stage.index for s in self.df.stages):
            return None
        return split_image(text)

    @cached_property
    def final_chain(self) -> set[int]:
        """Indexes of the stages whose layers end up in the image built by default (the last
        stage and the stages it is built FROM)."""
        if not self.df.stages:
            return set()
        return {s.index for s in self.df.stage_chain(self.df.stages[-1])}

    def in_final_image(self, ins: Instruction) -> bool:
        return ins.stage_index is not None and ins.stage_index in self.final_chain

    @cached_property
    def multistage(self) -> bool:
        return len(self.df.stages) > 1

    # ---------------------------------------------------------------- files

    def context_path(self, rel: str) -> str | None:
        """``rel`` in the build context, taken as the Dockerfile's directory (None for stdin)."""
        if self.directory is None:
            return None
        return os.path.normpath(os.path.join(self.directory, rel))

    def iter_stage_instructions(self, stage: Stage) -> Iterator[Instruction]:
        yield stage.from_instruction
        yield from stage.instructions


__all__ = ["Context"]
