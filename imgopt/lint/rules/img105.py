"""IMG105: Files deleted in a later RUN than the one that added them"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from imgopt.lint.coldstart import absolute, cd_dirs, context_size, copy_parts, covers, final_instructions, rm_targets
from imgopt.lint.costs import describe
from imgopt.lint.helpers import basename
from imgopt.lint.rule import Rule


@dataclass
class Added:
    """Something an instruction put into the image."""

    path: str  # absolute path in the image (a file or a directory tree)
    ins: object  # the instruction that added it
    what: str  # "COPY app/" / "apt-get update"...
    context: str | None = None  # build-context source, when a COPY/ADD of a local path


def downloads(c, cwd: str) -> list[str]:
    """Files a download command writes (curl -o/-O, wget -O/URL, git clone)."""
    n, args = c.basename, c.args
    out = []
    if n == "curl":
        for v in c.flag_values("o") + c.flag_values("output"):
            out.append(absolute(v, cwd))
        if c.has_flag("O", "remote-name"):
            out += [absolute(basename(a.split("?")[0]), cwd) for a in args if a.startswith(("http://", "https://"))]
    elif n == "wget":
        vals = c.flag_values("O") + c.flag_values("output-document")
        if vals:
            out += [absolute(v, cwd) for v in vals if v != "-"]
        else:
            d = (c.flag_values("P") + c.flag_values("directory-prefix") or [cwd])[0]
            out += [absolute(basename(a.split("?")[0]), absolute(d, cwd)) for a in c.args_no_flags(("O", "P", "o"))
                    if a.startswith(("http://", "https://", "ftp://"))]
    elif n == "git" and args[:1] == ["clone"]:
        rest = [a for a in c.args_no_flags(("b", "branch", "depth", "c", "config", "o", "origin")) if a != "clone"]
        if len(rest) >= 2:
            out.append(absolute(rest[1], cwd))
        elif rest:
            out.append(absolute(basename(rest[0]).removesuffix(".git"), cwd))
    return [p for p in out if "$" not in p]


class IMG105(Rule):
    id = "IMG105"
    severity = "warning"
    title = "Files deleted in a later layer than the one that added them"
    config = ("cost-registries",)
    what = """Flags a RUN of the final image's stages that deletes (`rm`) files an earlier instruction
added: a COPY/ADD, or a download (`curl -o`, `wget`, `git clone`).  When the files are in the build
context beside the Dockerfile, their size is given.  (Package caches removed too late are IMG104's.)"""
    why = """Layers only add: deleting a file in a later layer hides it but every node still pulls the
earlier layer that holds it.  Delete in the same RUN that creates the files, keep them out of the
build context (.dockerignore), or use a multi-stage build."""
    bad = """COPY app/ /app/
RUN rm -rf /app/tests /app/.git"""
    good = """# .dockerignore: tests/ .git/
COPY app/ /app/"""

    def check(self, ctx):
        added: list[Added] = []
        for step in final_instructions(ctx):
            ins = step.ins
            if ins.keyword in ("COPY", "ADD"):
                srcs, dest = copy_parts(ins)
                if not srcs:
                    continue
                d = absolute(ctx.expand(ins, dest) or dest, step.cwd)
                multi = len(srcs) > 1 or dest.endswith("/")
                local = ins.flag("from") is None
                for s in srcs:
                    if s.startswith(("http://", "https://")):
                        path = posixpath.join(d, basename(s)) if multi else d
                        added.append(Added(path, ins, f"ADD {s}"))
                        continue
                    target = posixpath.join(d, basename(s.rstrip("/"))) if multi and not s.endswith("/") else d
                    if s in (".", "./") or s.endswith("/"):
                        target = d
                    added.append(Added(target, ins, f"{ins.keyword} {s}", s if local else None))
                continue
            if ins.keyword != "RUN":
                continue
            cmds = ctx.commands(ins)
            dirs = cd_dirs(cmds, step.cwd)
            hits: list[tuple[str, Added]] = []
            for c, cwd in zip(cmds, dirs):
                targets = [absolute(t, cwd) for t in rm_targets(c) if "$" not in t]
                for t in targets:
                    for a in added:
                        if a.ins is not ins and covers(t, a.path):
                            hits.append((t, a))
            if hits:
                yield self._finding(ctx, ins, hits)
            for c, cwd in zip(cmds, dirs):
                for p in downloads(c, cwd):
                    added.append(Added(p, ins, f"{c.basename} download"))

    def _finding(self, ctx, ins, hits):
        """One finding per RUN: what it removes, where each was added, and the size when known."""
        seen: list[Added] = []
        total, known = 0, False
        paths: list[str] = []
        for t, a in hits:
            if t not in paths:
                paths.append(t)
            if a in seen:
                continue
            seen.append(a)
            if a.context is not None:
                rel = self._context_part(a, t)
                size = context_size(ctx, rel) if rel else None
                if size:
                    total, known = total + size, True
        where = ", ".join(f"line {a.ins.start_line} ({a.what})" for a in seen[:4]) + (", ..." if len(seen) > 4 else "")
        cost = describe(total) if known else ""
        shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
        return self.hit(ins, f"removes {shown}, added at {where}: the bytes stay in that layer; remove them in the "
                             "same instruction, or keep them out of the image", cost)

    @staticmethod
    def _context_part(a: Added, removed_path: str) -> str | None:
        """The build-context path of what ``removed_path`` deletes inside the tree ``a`` added."""
        base = a.path.rstrip("/")
        if removed_path == base or not removed_path.startswith(base + "/"):
            return a.context
        rel = removed_path[len(base) + 1:]
        src = a.context.rstrip("/")
        return rel if src in (".", "") else f"{src}/{rel}"


RULE = IMG105()
