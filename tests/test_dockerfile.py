"""Dockerfile parsing and layer -> Dockerfile line mapping (imgopt.dockerfile).

Real inputs: the 160-file corpus in /work/shared/dockerfiles (facts below were
read off the files by hand), the fixture apps built by the classic builder,
the committed sample image, and a small image built here with the classic
builder.  BuildKit is not usable on this machine (no buildx), so BuildKit
histories are written by hand in the format BuildKit's dockerfile2llb
``commitToHistory`` produces (``RUN /bin/sh -c ... # buildkit``, ``|N K=V``
build-arg prefix, ``COPY src dest # buildkit``, ``WORKDIR /abs``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import FIXTURES, SAMPLE_TAR, build_apps
from imgopt.dockerfile import (
    LayerMap, compare_step, map_layers, parse_created_by, parse_dockerfile,
)
from imgopt.errors import BadInput
from imgopt.image.model import HistoryEntry
from imgopt.image.transports import open_image

CORPUS_DIR = Path("/work/shared/dockerfiles")
CORPUS = CORPUS_DIR / "corpus"


def _corpus(prefix: str):
    (path,) = CORPUS.glob(prefix + "_*")
    return parse_dockerfile(path.read_bytes().decode("utf-8", "replace"), path.name)


def _at(df, line: int):
    (ins,) = [i for i in df.instructions if i.start_line == line]
    return ins


def _h(created_by: str | None, empty: bool = False, comment: str | None = None) -> HistoryEntry:
    return HistoryEntry(created="2024-01-01T00:00:00Z", created_by=created_by, comment=comment, empty_layer=empty)


def _lines(result: LayerMap) -> list[int | None]:
    return [o.line if o else None for o in result]


# ------------------------------------------------------------------ corpus


def _corpus_files() -> list[Path]:
    rows = (CORPUS_DIR / "INDEX.tsv").read_text().splitlines()[1:]
    return [CORPUS_DIR / r.split("\t")[0] for r in rows if r.strip()]


def test_corpus_index_is_complete():
    files = _corpus_files()
    assert len(files) == 160 and all(f.exists() for f in files)


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name[:40])
def test_parse_every_corpus_file(path):
    text = path.read_bytes().decode("utf-8", "replace")
    df = parse_dockerfile(text, path.name)
    physical = text.split("\n")
    assert df.instructions, "every corpus file has instructions"
    prev_end = 0
    for ins in df.instructions:
        # instructions are ordered, do not overlap, and start on a line that begins with their keyword
        assert prev_end < ins.start_line <= ins.end_line <= len(physical)
        assert physical[ins.start_line - 1].split()[0].upper() == ins.keyword
        assert "\r" not in ins.original
        prev_end = ins.end_line
        if ins.stage_index is not None:
            assert df.stages[ins.stage_index].from_instruction.start_line <= ins.start_line
    for st in df.stages:
        assert st.from_instruction.keyword == "FROM" and st.base
        assert all(i.stage_index == st.index and i.stage_name == st.name for i in st.instructions)
    # stage_for_target() defaults to the last stage
    assert df.stage_for_target() is df.stages[-1]


def test_corpus_heredocs_and_mounts():
    """astral-sh/uv: --mount flags on continuation lines, comments inside them, heredoc bodies."""
    df = _corpus("150")
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert [(s.name, s.base, s.platform) for s in df.stages] == [
        ("builder", "ubuntu:24.04", "${BUILDPLATFORM}"), ("output", "scratch", None)]
    assert df.stage_for_target("output").instructions[0].flag("from") == "builder"
    shell = _at(df, 6)
    assert shell.keyword == "SHELL" and shell.exec_form == ["/bin/bash", "-eux", "-o", "pipefail", "-c"]
    run = _at(df, 8)
    assert (run.end_line, run.args) == (21, "<<HEREDOC")
    assert run.flag_values("mount") == ["target=/var/lib/apt/lists,type=cache,sharing=locked",
                                        "target=/var/cache/apt,type=cache,sharing=locked"]
    (doc,) = run.heredocs
    assert (doc.name, doc.start_line, doc.end_line) == ("HEREDOC", 12, 21)
    assert doc.content.splitlines()[1] == "    rm -f /etc/apt/apt.conf.d/docker-clean"
    assert doc.content.endswith("      cmake\n")
    big = _at(df, 65)
    assert big.end_line == 83 and len(big.flag_values("mount")) == 5
    assert big.flag_values("mount")[0] == "type=cache,target=/root/.cache/zig,id=zig-cache"  # quotes removed
    assert "Cache mounts" not in big.original  # comment lines inside the continuation are dropped
    assert "cargo zigbuild --release" in big.heredocs[0].content
    assert [i.start_line for i in df.instructions if i.keyword == "RUN"] == [8, 28, 37, 65]
    assert [(i.keyword, i.start_line) for i in df.stages[1].instructions] == [
        ("COPY", 86), ("WORKDIR", 87), ("ENTRYPOINT", 88)]


def test_corpus_copy_heredoc():
    df = _corpus("038")
    assert df.directives["syntax"] == "docker/dockerfile:1.4"
    copy = _at(df, 10)
    assert (copy.keyword, copy.end_line, copy.args) == ("COPY", 16, "<<EOF /bin/ping.sh")
    (doc,) = copy.heredocs
    assert doc.content.startswith("#!/usr/bin/env bash\nwhile true; do \n")
    assert doc.content.endswith("    sleep 5;\ndone\n") and doc.expand
    assert [(i.keyword, i.start_line) for i in df.instructions] == [
        ("FROM", 2), ("ARG", 4), ("RUN", 6), ("COPY", 10), ("RUN", 18), ("CMD", 20)]
    assert _at(df, 6).end_line == 8


def test_corpus_run_heredoc_and_commented_block():
    df = _corpus("021")
    run = _at(df, 4)
    assert run.end_line == 9 and run.heredocs[0].content.count("\n") == 4
    assert run.heredocs[0].content.startswith("dnf -y upgrade --refresh\n")
    # lines 11-17 are a commented-out ENV with continuations: no instruction
    assert [i.start_line for i in df.instructions] == [1, 4, 20, 21, 24, 27, 30]
    expose = _at(df, 27)
    assert expose.end_line == 28 and expose.args.split()[-1] == "3269/tcp"


def test_corpus_escape_backtick_windows():
    df = _corpus("045")
    assert df.escape == "`" and df.directives == {"escape": "`"}
    assert df.stages[0].base == "mcr.microsoft.com/dotnet/framework/sdk:4.8-windowsservercore-ltsc2019"
    assert _at(df, 10).args == r"mkdir C:\TEMP"
    assert [i.start_line for i in df.instructions if i.keyword == "RUN"] == [10, 11, 14, 15]
    assert _at(df, 16).args == r"ROSLYN_COMPILER_LOCATION C:\BuildTools\MSBuild\15.0\Bin\Roslyn"
    assert df.instructions[-1].start_line == 16  # line 20 is a commented-out ENTRYPOINT

    df = _corpus("124")
    run = _at(df, 5)
    assert (run.end_line, df.escape) == (12, "`")
    assert "`" not in run.args.replace("DownloadString", "")  # continuation backticks removed
    assert run.args.startswith("powershell.exe -Command     Install-WindowsFeature -Name DNS")
    assert run.args.endswith("Add-DnsServerPrimaryZone -name example.com -ZoneFile zone.example.com")
    assert _at(df, 13).exec_form == ["powershell.exe"]


def test_corpus_malformed_files():
    df = _corpus("142")  # misspelled WORKDIR
    bad = _at(df, 111)
    assert (bad.keyword, bad.known, bad.args) == ("WOKRKDIR", False, "$HOME/$CATKIN_WORKSPACE/src")
    assert any("WOKRKDIR" in p for p in df.problems)
    assert _at(df, 112).keyword == "RUN"

    df = _corpus("090")  # LABEL with an unterminated quote: still one instruction, lines 25-30
    label = _at(df, 25)
    assert (label.keyword, label.end_line) == ("LABEL", 30) and _at(df, 33).keyword == "ADD"

    df = _corpus("097")  # VOLUME array without commas: not JSON, so shell form
    vol = _at(df, 66)
    assert vol.keyword == "VOLUME" and vol.exec_form is None and vol.args.startswith('["${SQ_DATA_DIR}" ')

    df = _corpus("077")  # two CMDs
    assert [(i.keyword, i.exec_form) for i in df.stages[0].instructions] == [
        ("COPY", None), ("CMD", ["/hello"]), ("CMD", ["/hi"])]
    assert df.stages[0].base == "scratch"


def test_corpus_crlf_without_final_newline():
    df = _corpus("034")
    run = _at(df, 4)
    assert run.end_line == 5 and run.args == "cp /etc/apt/sources.list /etc/apt/bak.sources.list     && rm /etc/apt/apt.conf.d/docker-clean"
    last = df.instructions[-1]
    assert (last.keyword, last.start_line, last.exec_form) == ("CMD", 76, ["/usr/sbin/sshd", "-D"])


def test_corpus_stage_graph():
    df = _corpus("001")  # pytorch: lower-case "as", ARG-parameterised FROM
    assert [s.name for s in df.stages] == ["dev-base", "conda", "submodule-update", "build", "conda-installs",
                                          "official", "dev"]
    assert [s.from_instruction.start_line for s in df.stages] == [11, 26, 45, 50, 62, 86, 110]
    assert [s.index for s in df.stage_chain(df.stage_for_target("build"))] == [0, 1, 3]
    assert df.stage_for_target("DEV").index == 6 and df.stage_for_target("2").name == "submodule-update"
    with pytest.raises(BadInput, match="no build stage 'nope'"):
        df.stage_for_target("nope")

    df = _corpus("159")  # docker/buildx: 18 stages, the last is FROM binaries, one name used twice
    assert len(df.stages) == 18 and df.stages[-1].base_stage == 12 and df.stages[-1].name is None
    assert any("'dockerd-release' is used twice" in p for p in df.problems)


# ------------------------------------------------------------------ parser details (synthetic)


def test_directives_only_at_the_top():
    df = parse_dockerfile("# Escape=`\n#syntax = docker/dockerfile:1\nFROM a\nRUN dir C:\\\nRUN echo `\n  hi\n")
    assert df.escape == "`" and df.directives == {"escape": "`", "syntax": "docker/dockerfile:1"}
    assert [(i.start_line, i.end_line, i.args) for i in df.instructions[1:]] == [
        (4, 4, "dir C:\\"), (5, 6, "echo   hi")]
    df = parse_dockerfile("# a comment\n# escape=`\nFROM a\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.directives == {} and df.instructions[1].args == "a  b"
    df = parse_dockerfile("\ufeff# escape=`\n\n# syntax=x\nFROM a\n")
    assert df.directives == {"escape": "`"}


def test_continuations_comments_blank_lines_crlf():
    text = ("from alpine AS Build\r\n"
            "run apk add \\  \r\n"
            "    # a comment inside\r\n"
            "\r\n"
            "    curl \\\r\n"
            "  \t# indented comment\r\n"
            "    git\r\n"
            "Cmd [\"sh\"]")  # no final newline
    df = parse_dockerfile(text)
    frm, run, cmd = df.instructions
    assert (frm.keyword, df.stages[0].name, df.stages[0].base) == ("FROM", "build", "alpine")
    assert (run.keyword, run.start_line, run.end_line) == ("RUN", 2, 7)
    assert run.args == "apk add     curl     git"
    assert (cmd.keyword, cmd.start_line, cmd.exec_form) == ("CMD", 8, ["sh"])


def test_heredoc_forms():
    text = ("FROM a\n"
            "RUN <<-EOT\n"
            "\techo one\n"
            "\t\techo two\n"
            "\tEOT\n"
            "COPY <<robots.txt <<\"humans.txt\" /usr/share/html/\n"
            "User-agent: *\n"
            "robots.txt\n"
            "$NAME\n"
            "humans.txt\n"
            "RUN 3<<'X' cat /proc/self/fd/3 > /a && python3 <<Y\n"
            "a\n"
            "X\n"
            "print(1)\n"
            "Y\n"
            "RUN cat <<EOF>/oops\n"
            "not a heredoc after all\n")
    df = parse_dockerfile(text)
    run1, copy, run2, run3, unknown = df.instructions[1:]
    (d,) = run1.heredocs
    assert (d.name, d.chomp, d.start_line, d.end_line) == ("EOT", True, 3, 5)
    assert d.raw == "\techo one\n\t\techo two\n" and d.content == "echo one\necho two\n"
    assert [(h.name, h.expand, h.content) for h in copy.heredocs] == [
        ("robots.txt", True, "User-agent: *\n"), ("humans.txt", False, "$NAME\n")]
    assert (copy.start_line, copy.end_line) == (6, 10)
    assert [(h.name, h.fd, h.expand) for h in run2.heredocs] == [("X", 3, False), ("Y", 0, True)]
    assert run2.end_line == 15
    # "<<EOF>/oops" names a terminator that never comes: reported, nothing swallowed
    assert run3.heredocs == [] and run3.end_line == 16
    assert unknown.keyword == "NOT" and not unknown.known
    assert any("unterminated heredoc" in p for p in df.problems)


def test_flags_json_and_unknown():
    df = parse_dockerfile(
        "RUN echo before-from\n"
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
        "COPY --from=build --chown=1000:1000 --link [\"a b\", \"/dst/\"]\n"
        "RUN --mount=type=cache,target=/root/.cache --network=none [ \"echo\", \"hi\" ]\n"
        "CMD [broken\n"
        "ENTRYPOINT [\"a\", 1]\n"
        "FORM x\n"
        "ADD --chown=\"app user\" \"--not-a-flag\" /x\n")
    pre, frm, copy, run, cmd, ep, form, add = df.instructions
    assert pre.stage_index is None and df.global_instructions == [pre]
    assert any("RUN before the first FROM" in p for p in df.problems)
    assert frm.flags == ["--platform=$BUILDPLATFORM"] and df.stages[0].platform == "$BUILDPLATFORM"
    assert copy.flags == ["--from=build", "--chown=1000:1000", "--link"]
    assert (copy.flag("from"), copy.flag("link"), copy.flag("chmod")) == ("build", "", None)
    assert copy.exec_form == ["a b", "/dst/"]
    assert run.flag_values("mount") == ["type=cache,target=/root/.cache"] and run.exec_form == ["echo", "hi"]
    assert cmd.exec_form is None and ep.exec_form is None  # invalid JSON / non-string: shell form
    assert (form.keyword, form.known) == ("FORM", False)
    assert add.flags == ["--chown=app user"] and add.args == '"--not-a-flag" /x'  # as BuildKit splits them
    assert all(i.stage_index == 0 and i.stage_name == "build" for i in df.instructions[2:])


def test_no_from_does_not_crash():
    df = parse_dockerfile("FORM ubuntu\nRUN true")
    assert df.stages == [] and "no FROM instruction" in df.problems
    with pytest.raises(BadInput):
        df.stage_for_target()
    assert parse_dockerfile("").instructions == []


# ------------------------------------------------------------------ created_by formats


@pytest.mark.parametrize("created_by,keyword,args,builder", [
    ("/bin/sh -c #(nop) COPY dir:abc in /app ", "COPY", "dir:abc in /app", "classic"),
    ("/bin/sh -c #(nop)  ENV A=B", "ENV", "A=B", "classic"),
    ("/bin/sh -c apt-get update", "RUN", "/bin/sh -c apt-get update", "classic"),
    ("|2 ARG1=x ARG2=y /bin/sh -c make", "RUN", "/bin/sh -c make", "classic"),
    ("RUN /bin/sh -c apt-get update # buildkit", "RUN", "/bin/sh -c apt-get update", "buildkit"),
    ("RUN |1 X=y /bin/sh -c echo $X # buildkit", "RUN", "/bin/sh -c echo $X", "buildkit"),
    ("COPY app/ /app/ # buildkit", "COPY", "app/ /app/", "buildkit"),
    ("WORKDIR /app", "WORKDIR", "/app", "buildkit"),
    ("cmd /S /C #(nop)  SHELL [powershell -Command]", "SHELL", "[powershell -Command]", "classic"),
    ("cmd /S /C mkdir C:\\TEMP", "RUN", "cmd /S /C mkdir C:\\TEMP", "classic"),
    (None, None, "", "unknown"),
])
def test_parse_created_by(created_by, keyword, args, builder):
    step = parse_created_by(created_by)
    assert (step.keyword, step.args, step.builder) == (keyword, args, builder)


def test_compare_step_confidence():
    df = parse_dockerfile("FROM a\nRUN apt-get update && \\\n    apt-get install -y curl\nCOPY src/ $APP/bin/\nWORKDIR sub\n")
    run, copy, wd = df.stages[0].instructions
    assert compare_step(run, parse_created_by("/bin/sh -c apt-get update &&     apt-get install -y curl")) == "exact"
    assert compare_step(run, parse_created_by("|1 A=b /bin/sh -c apt-get update && apt-get install -y curl wget")) == "similar"
    assert compare_step(run, parse_created_by("/bin/sh -c make install")) == "weak"
    assert compare_step(run, parse_created_by("/bin/sh -c #(nop) COPY file:x in /")) is None
    assert compare_step(copy, parse_created_by("/bin/sh -c #(nop) COPY dir:ab in /srv/app/bin/ ")) == "similar"
    assert compare_step(copy, parse_created_by("COPY src/ /opt/")) == "weak"
    assert compare_step(wd, parse_created_by("WORKDIR /app/sub")) == "similar"


# ------------------------------------------------------------------ mapping: real images


# layer -> Dockerfile line, read off each fixtures/apps/<app>/Dockerfile by hand; the first
# layer is the debian-base image (FROM); WORKDIR makes a layer only when the directory is new.
APP_LINES = {
    "pyweb": [2, 5, 8, 12, 13, 14, 16],
    "nodeweb": [2, 5, 7, 8, 10, 11],  # WORKDIR /app creates /app
    "nginx": [2, 5, 8, 9, 10, 12],
    "ffmpegjob": [2, 5, 7, 8],  # WORKDIR /tmp exists: no layer
    "pynumeric": [4, 7, 11, 12, 13, 16],
    "pytorch": [5, 8, 12, 13, 14, 17],
    "javaweb": [19, 22, 24, 25],  # the final stage's FROM, not the build stage's (line 3)
}


def _map_archive(archive: Path, dockerfile: Path, target: str | None = None) -> tuple[LayerMap, list]:
    with open_image(str(archive)) as img:
        df = parse_dockerfile(dockerfile.read_text(), str(dockerfile))
        return map_layers(df, img.config.history, len(img.layers), target), img.layer_history()


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("app", list(APP_LINES))
def test_fixture_apps_map_to_their_lines(app, app_archive):
    dockerfile = FIXTURES / "apps" / app / "Dockerfile"
    result, hist = _map_archive(app_archive(app), dockerfile)
    assert _lines(result) == APP_LINES[app] and not result.problems, result.problems
    text = dockerfile.read_text().splitlines()
    base, *own = result
    assert (base.kind, base.keyword, base.confidence, base.base_image) == (
        "base", "FROM", "base", "imgopt-fixture/debian-base:bookworm")
    for origin, entry in zip(own, hist[1:]):
        assert origin.confidence == "exact" and origin.history == entry
        assert text[origin.line - 1].split()[0] == origin.keyword
        step = parse_created_by(entry.created_by)
        assert step.keyword == origin.keyword
        if origin.keyword == "RUN":  # the recorded command is the instruction's, continuation joined
            assert " ".join(step.args.split()).endswith(" ".join(origin.instruction.args.split()))


@pytest.mark.slow
@pytest.mark.docker
def test_pip_install_layer_and_multistage(app_archive):
    result, hist = _map_archive(app_archive("pyweb"), FIXTURES / "apps/pyweb/Dockerfile")
    (k,) = [i for i, h in enumerate(hist) if h and "pip install" in (h.created_by or "")]
    assert result[k].line == 14 and result[k].text.startswith("RUN pip install --no-index")

    java = FIXTURES / "apps/javaweb/Dockerfile"
    result, hist = _map_archive(app_archive("javaweb"), java)
    copy = result[2]
    assert (copy.keyword, copy.line, copy.stage_index, copy.stage_name) == ("COPY", 24, 1, None)
    assert copy.instruction.flag("from") == "build" and "/opt/app/app.jar" in hist[2].created_by
    # the build stage did not make this image: nothing is attributed to it
    wrong, _ = _map_archive(app_archive("javaweb"), java, target="build")
    assert list(wrong) == [None] * 4 and "does not match" in wrong.problems[0]


@pytest.mark.slow
@pytest.mark.docker
def test_unrelated_or_edited_dockerfile(app_archive):
    result, _ = _map_archive(app_archive("pyweb"), FIXTURES / "apps/nginx/Dockerfile")
    assert list(result) == [None] * 7 and "does not match this image" in result.problems[0]
    # pytorch's Dockerfile has pynumeric's shape; different files and packages: flagged, not exact
    result, _ = _map_archive(app_archive("pynumeric"), FIXTURES / "apps/pytorch/Dockerfile")
    assert _lines(result) == APP_LINES["pytorch"]
    assert [o.confidence for o in result] == ["base", "similar", "exact", "weak", "similar", "weak"]
    assert sum("weakly matches" in p for p in result.problems) == 2


def test_sample_image_maps_to_its_dockerfile():
    dockerfile = FIXTURES / "sample/Dockerfile"
    result, hist = _map_archive(SAMPLE_TAR, dockerfile)
    assert not result.problems, result.problems
    text = dockerfile.read_text().splitlines()
    assert [(o.keyword, o.confidence) for o in result] == [
        ("ADD", "exact"), ("RUN", "exact"), ("COPY", "exact"), ("COPY", "exact"), ("RUN", "exact")]
    assert text[result[0].line - 1] == "ADD rootfs.tar /"
    assert text[result[1].line - 1].startswith("RUN apt-get update && apt-get install -y --reinstall busybox-static")
    assert text[result[2].line - 1] == "COPY www/ /var/www/" and text[result[3].line - 1] == "COPY app/ /app/"
    sed = result[4]
    assert text[sed.line - 1].startswith("RUN sed -i s/debug/production/") and sed.end_line == sed.line + 3
    assert "echo fresh > data/fresh.txt" in hist[4].created_by and text[sed.end_line - 1].endswith("data/fresh.txt")
    df = parse_dockerfile(dockerfile.read_text())
    assert df.stages[0].base == "scratch" and len(df.stages) == 1


PROBE_DOCKERFILE = """\
FROM {base} AS base
ARG X=1
ENV A=B
WORKDIR /app
COPY a.txt /app/
RUN echo $X > /x \\
    && echo two
RUN ["/bin/sh", "-c", "echo exec > /y"]
SHELL ["/bin/bash", "-c"]
RUN echo bash > /z
ADD a.txt /b.txt
FROM base
COPY --from=base /x /x2
CMD ["sh"]
"""


@pytest.mark.docker
def test_classic_builder_probe(tmp_path, docker_image_cleanup):
    """Build args (|1 X=1), exec-form RUN, SHELL, ADD, a new WORKDIR, FROM <stage> (classic builder)."""
    base = build_apps.ensure_base()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(PROBE_DOCKERFILE.format(base=base))
    tag = f"imgopt-test/dockerfile-probe:{uuid.uuid4().hex[:10]}"
    docker_image_cleanup.append(tag)
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], check=True, env=env, capture_output=True)
    archive = tmp_path / "probe.tar"
    subprocess.run(["docker", "save", "-o", str(archive), tag], check=True, capture_output=True)
    result, hist = _map_archive(archive, ctx / "Dockerfile")
    assert not result.problems, result.problems
    assert _lines(result) == [1, 4, 5, 6, 8, 10, 11, 13]
    assert [o.confidence for o in result[1:]] == ["exact"] * 7
    assert hist[3].created_by.startswith("|1 X=1 /bin/sh -c echo $X")  # what the classic builder records
    assert hist[5].created_by.startswith("|1 X=1 /bin/bash -c echo bash")
    assert result[7].stage_index == 1 and result[1].stage_index == 0  # layers of the stage we build FROM


# ------------------------------------------------------------------ mapping: hand-made histories


UBUNTU_2404 = [  # the ubuntu:24.04 image's own history (classic builder format)
    _h("/bin/sh -c #(nop)  ARG RELEASE", True),
    _h("/bin/sh -c #(nop)  ARG LAUNCHPAD_BUILD_ARCH", True),
    _h("/bin/sh -c #(nop)  LABEL org.opencontainers.image.ref.name=ubuntu", True),
    _h("/bin/sh -c #(nop)  LABEL org.opencontainers.image.version=24.04", True),
    _h("/bin/sh -c #(nop) ADD file:2b3b5254f38a790d40e31cb26155609f7fc99ef7bc99eae1e0d67fa9ae605f77 in / "),
    _h('/bin/sh -c #(nop)  CMD ["/bin/bash"]', True),
]
BK = "buildkit.dockerfile.v0"
BASH = "/bin/bash -eux -o pipefail -c "


def test_buildkit_history_uv_builder_stage():
    """astral-sh/uv's builder stage as BuildKit records it: heredoc RUNs run as `<shell> <body>`."""
    df = _corpus("150")
    body = {i.start_line: i.heredocs[0].content for i in df.instructions if i.heredocs}
    history = UBUNTU_2404 + [
        _h("SHELL [/bin/bash -eux -o pipefail -c]", True, BK),
        _h("RUN " + BASH + body[8] + " # buildkit", False, BK),
        _h("ENV HOME=/root", True, BK),
        _h("ENV PATH=/root/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", True, BK),
        _h("WORKDIR /root", True, BK),  # the directory exists: BuildKit drops the empty layer
        _h("RUN " + BASH + body[28] + " # buildkit", False, BK),
        _h("ENV PATH=/root/.cargo/bin:/root/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", True, BK),
        _h("COPY rust-toolchain.toml . # buildkit", False, BK),
        _h("ARG TARGETPLATFORM=linux/amd64", True, BK),
        _h("RUN |1 TARGETPLATFORM=linux/amd64 " + BASH + body[37] + " # buildkit", False, BK),
        _h("ARG APP_NAME=uv", True, BK),
        _h("ARG CARGO_HOME=/usr/local/cargo", True, BK),
        _h("COPY crates/ crates/ # buildkit", False, BK),
        _h("COPY Cargo.toml Cargo.lock . # buildkit", False, BK),
        _h("RUN |3 TARGETPLATFORM=linux/amd64 APP_NAME=uv CARGO_HOME=/usr/local/cargo " + BASH + body[65]
           + " # buildkit", False, BK),
    ]
    result = map_layers(df, history, 8, target="builder")
    assert not result.problems, result.problems
    assert _lines(result) == [3, 8, 28, 35, 37, 63, 64, 65]
    assert result[0].kind == "base" and result[0].base_image == "ubuntu:24.04"
    assert {o.confidence for o in result[1:]} == {"exact"}


def test_buildkit_history_scratch_stage_and_copy_heredoc():
    df = _corpus("150")
    history = [
        _h("COPY /uv /uv # buildkit", False, BK),  # --from is not recorded
        _h("WORKDIR /io", False, BK),
        _h('ENTRYPOINT ["/uv"]', True, BK),
    ]
    result = map_layers(df, history, 2)  # default target: the last stage, FROM scratch
    assert _lines(result) == [86, 87] and not result.problems
    assert [o.keyword for o in result] == ["COPY", "WORKDIR"]
    # a layer before any instruction cannot come from scratch
    result = map_layers(df, [_h("/bin/sh -c #(nop) ADD file:x in / ")] + history, 3)
    assert _lines(result) == [None, 86, 87] and result.problems[0].startswith("history entry 0 (")

    df = _corpus("038")
    history = [
        _h("/bin/sh -c #(nop) ADD file:7633003155a1059419aa1a6756fafb6e4f419d65bff7feb7c945de1e29dccb1e in / "),
        _h('/bin/sh -c #(nop)  CMD ["bash"]', True),
        _h("ARG DEBIAN_FRONTEND=noninteractive", True, BK),
        _h("RUN |1 DEBIAN_FRONTEND=noninteractive /bin/sh -c apt-get update     && apt-get install -fy -qq "
           "--no-install-recommends ca-certificates curl     && apt-get clean # buildkit", False, BK),
        _h("COPY <<EOF /bin/ping.sh # buildkit", False, BK),
        _h("RUN |1 DEBIAN_FRONTEND=noninteractive /bin/sh -c chmod +x /bin/ping.sh # buildkit", False, BK),
        _h('CMD ["/bin/ping.sh"]', True, BK),
    ]
    result = map_layers(df, history, 4)
    assert _lines(result) == [2, 6, 10, 18] and [o.confidence for o in result[1:]] == ["exact"] * 3


def test_windows_classic_history():
    """cmd /S /C: the classic builder's default shell on Windows (corpus file with escape=`)."""
    df = _corpus("045")
    history = [
        _h("Apply image 10.0.17763.6189"),
        _h("Install update 10.0.17763.6293"),
        _h("cmd /S /C #(nop)  SHELL [powershell -Command $ErrorActionPreference = 'Stop';]", True),
        _h("powershell -Command $ErrorActionPreference = 'Stop'; Invoke-WebRequest -OutFile dotnet.zip x"),
        _h("cmd /S /C #(nop)  SHELL [cmd /S /C]", True),
        _h(r"cmd /S /C mkdir C:\TEMP"),
        _h(r"cmd /S /C curl -k -L https://aka.ms/vs/15/release/vs_buildtools.exe --output "
           r"C:\TEMP\vs_buildtools.exe --retry 3"),
        _h(r"cmd /S /C mkdir C:\BuildTools"),
        _h("cmd /S /C " + _at(df, 15).args),
        _h(r"cmd /S /C #(nop)  ENV ROSLYN_COMPILER_LOCATION=C:\BuildTools\MSBuild\15.0\Bin\Roslyn", True),
    ]
    result = map_layers(df, history, 7)
    assert _lines(result) == [4, 4, 4, 10, 11, 14, 15] and not result.problems
    assert [o.kind for o in result] == ["base"] * 3 + ["instruction"] * 4


def test_history_shorter_than_layers_and_missing_instruction():
    df = parse_dockerfile("FROM debian\nRUN a\nRUN b\nCOPY x /x\n")
    history = [_h("/bin/sh -c a"), _h("/bin/sh -c #(nop) COPY file:1 in /x ")]
    result = map_layers(df, history, 3)  # squashed base: one layer has no history entry
    assert _lines(result) == [None, 2, 4]
    assert any("history lists 2 layers" in p for p in result.problems)
    assert any(p.startswith("line 3: 'RUN b' has no layer") for p in result.problems)
