"""IMG103: Compilers, headers or build dependencies in the final image"""

from __future__ import annotations

from imgopt.lint.coldstart import final_instructions, installed, removed, virtual_name
from imgopt.lint.costs import measured
from imgopt.lint.rule import Rule
from imgopt.lint.tables import BUILD_PACKAGES, NOT_BUILD


class IMG103(Rule):
    id = "IMG103"
    severity = "warning"
    title = "Build tools installed in the final image"
    what = """Flags a RUN of the final image's stages that installs compilers, headers or build systems
(build-essential, gcc, g++, make, cmake, `*-dev`, `*-devel`, build-base, musl-dev, linux-headers, a
JDK...) with apt, apk, yum, dnf or zypper and does not remove them in the same RUN (`apk del
.build-deps`, `apt-get purge`...).  Dockerfiles in a `.devcontainer` directory are not checked:
a development container is meant to have compilers."""
    why = """A runtime image rarely compiles anything.  Compilers and headers are among the biggest
packages (build-essential with python3-dev is ~231 MB, ~77 MB compressed, measured on imgopt's
pytorch fixture), pulled on every cold start.  Build in one stage and COPY the result into a stage
that installs only the runtime libraries; removing them in a later RUN does not shrink the image."""
    bad = """FROM debian:12-slim
RUN apt-get update && apt-get install -y build-essential python3-dev && pip install psutil"""
    good = """FROM python:3.12 AS build
RUN pip wheel --wheel-dir /wheels psutil
FROM python:3.12-slim
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels pip install --no-index /wheels/*"""

    def check(self, ctx):
        if ".devcontainer" in ctx.path.replace("\\", "/").split("/")[:-1]:
            return  # a development container is meant to have compilers
        for step in final_instructions(ctx):
            ins = step.ins
            if ins.keyword != "RUN":
                continue
            cmds = ctx.commands(ins)
            tools: list[str] = []
            gone: set[str] = set()
            virtual_tools: dict[str, list[str]] = {}
            for c in cmds:
                pkgs = installed(c)
                build = [p for p in pkgs if BUILD_PACKAGES.match(p) and p not in NOT_BUILD]
                if build:
                    v = virtual_name(c)
                    if v:
                        virtual_tools.setdefault(v, []).extend(build)
                    tools.extend(build)
                for p in removed(c):
                    gone.add(p)
                    gone.update(virtual_tools.get(p, []))
            left = [t for t in dict.fromkeys(tools) if t not in gone and "*" not in gone]
            if not left:
                continue
            debianish = any(t in ("build-essential", "gcc", "g++", "python3-dev") or t.startswith(("gcc-", "g++-"))
                            for t in left)
            cost = measured("toolchain", ctx.config) if debianish else ""
            names = ", ".join(left[:5]) + (", ..." if len(left) > 5 else "")
            yield self.hit(ins, f"build tools in the final image ({names}): build in a separate stage and copy "
                                "the result, or remove them in this RUN", cost)


RULE = IMG103()
