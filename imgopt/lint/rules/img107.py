"""IMG107: The whole build context is copied before the dependencies are installed"""

from __future__ import annotations

from imgopt.lint.coldstart import copy_parts
from imgopt.lint.helpers import is_pip_install
from imgopt.lint.rule import Rule


def installs_dependencies(c) -> str | None:
    n, args = c.basename, c.args
    nf = [a for a in args if not a.startswith("-")]
    if is_pip_install(c) and ("-r" in args or "--requirement" in args or "." in args or
                              any(a.startswith("-r") or a.startswith("--requirement=") for a in args)):
        return "pip install"
    if n in ("poetry", "pipenv", "pdm") and "install" in args:
        return f"{n} install"
    if n == "uv" and (nf[:1] == ["sync"] or nf[:2] in (["pip", "sync"], ["pip", "install"]) and "-r" in args):
        return "uv " + " ".join(nf[:2] if nf[:1] == ["pip"] else nf[:1])
    if n == "npm" and nf[:1] in (["ci"], ["install"], ["i"]) and len(nf) == 1:
        return f"npm {nf[0]}"
    if n == "yarn" and (not nf or nf == ["install"]):
        return "yarn install"
    if n == "pnpm" and nf[:1] in (["install"], ["i"]) and len(nf) == 1:
        return "pnpm install"
    if n == "bundle" and nf[:1] == ["install"]:
        return "bundle install"
    if n == "composer" and nf[:1] == ["install"]:
        return "composer install"
    if n == "go" and nf[:2] == ["mod", "download"]:
        return "go mod download"
    if n == "cargo" and nf[:1] == ["fetch"]:
        return "cargo fetch"
    if n == "dotnet" and nf[:1] == ["restore"]:
        return "dotnet restore"
    if n in ("mvn", "mvnw", "./mvnw") and any(a.startswith("dependency:") for a in args):
        return "mvn dependency"
    return None


def whole_context(srcs) -> bool:
    return any(s in (".", "./", "*", "./*") for s in srcs)


class IMG107(Rule):
    id = "IMG107"
    severity = "warning"
    title = "The whole build context is copied before the dependencies are installed"
    what = """Flags `COPY . .` (or `ADD .`) followed, in the same stage, by a dependency install (`pip
install -r`, `npm ci`, `yarn install`, `bundle install`, `go mod download`, `poetry install`,
`composer install`...) that no earlier instruction of the stage ran."""
    why = """Every change to any file of the context invalidates the COPY layer and so the install after
it: each build downloads and installs all dependencies again, and each release ships a new dependency
layer that every node has to pull, instead of the unchanged one it already has.  Copy the manifests
(requirements.txt, package.json and its lock file...), install, then copy the rest."""
    bad = """COPY . /app
RUN pip install -r /app/requirements.txt"""
    good = """COPY requirements.txt /app/
RUN pip install -r /app/requirements.txt
COPY . /app"""

    def check(self, ctx):
        for st in ctx.stages:
            installed_before = False
            copy_all = None
            for ins in st.instructions:
                if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
                    srcs, _ = copy_parts(ins)
                    if whole_context(srcs) and copy_all is None and not installed_before:
                        copy_all = ins
                elif ins.keyword == "RUN":
                    what = next((w for c in ctx.commands(ins) for w in [installs_dependencies(c)] if w), None)
                    if what is None:
                        continue
                    if copy_all is not None:
                        final = ctx.in_final_image(ins)
                        tail = (" and each release ships a new dependency layer for every node to pull" if final
                                else "")
                        yield self.hit(copy_all, f"the whole context is copied before `{what}` at line "
                                                 f"{ins.start_line}: every code change re-runs it{tail}; copy the "
                                                 "dependency manifests first")
                        copy_all = None
                    installed_before = True


RULE = IMG107()
