"""RUN bodies read as shell (imgopt.dockerfile.shell, .runs), ARG/ENV expansion (.variables), and the
parser features lint adds (ONBUILD triggers, ENV/LABEL/ARG pairs, image references, comments)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from imgopt.dockerfile.parser import parse_dockerfile, split_image
from imgopt.dockerfile.runs import run_script, script_text
from imgopt.dockerfile.shell import parse_shell
from imgopt.dockerfile.variables import expand, scopes

SUBSET = Path(__file__).parent / "data" / "dockerfiles"


def cmds(text: str) -> list[tuple[str, str, list[str]]]:
    return [(c.op.replace("\n", "NL"), c.name, c.args) for c in parse_shell(text).commands]


def test_lists_and_operators():
    got = cmds("apt-get update && apt-get install -y curl \\\n  && rm -rf /var/lib/apt/lists/*; echo done || true")
    assert got == [("", "apt-get", ["update"]), ("&&", "apt-get", ["install", "-y", "curl"]),
                   ("&&", "rm", ["-rf", "/var/lib/apt/lists/*"]), (";", "echo", ["done"]), ("||", "true", [])]
    s = parse_shell("curl -fsSL x | tar -xz -C /opt |& cat")
    assert s.pipes == 2 and [c.op for c in s.commands] == ["", "|", "|&"]


def test_compound_commands_and_keywords():
    text = ("if [ -f x ]; then echo a; elif true; then :; else echo b; fi\n"
            "for f in a b; do echo $f; done\nwhile read l; do echo $l; done < file\n"
            "f() { echo in; }; f\n{ echo g; } > out\n( cd sub && make )\n! false\ntime -p sleep 1\n")
    names = [c.name for c in parse_shell(text).commands if c.words]
    assert names == ["[", "echo", "true", ":", "echo", "echo", "read", "echo", "echo", "f", "echo", "cd", "make",
                     "false", "sleep"]


def test_case_statements_which_bashlex_cannot_parse():
    text = ('case "$(uname -m)" in\n  x86_64) A=amd64 ;;\n  aarch64|arm64) A=arm64 ;;\n  *) echo bad; exit 1 ;;\n'
            'esac; echo $A\n')
    s = parse_shell(text)
    assert [c.name for c in s.commands] == ["uname", "", "", "echo", "exit", "echo"]
    assert [(n, w.value) for n, w, _ in s.assignments] == [("A", "amd64"), ("A", "arm64")]
    nested = parse_shell("x=$(case $a in (b) echo b;; esac) && ls")
    assert [c.name for c in nested.commands] == ["", "echo", "ls"] and not nested.errors


def test_word_values_follow_hadolint():
    c = parse_shell("""x "a b" 'c $d' $V ${W:-z} "$(cmd --opt)" `b` $((1+2)) e\\ f $'t\\tu'""").commands[0]
    assert c.args == ["a b", "c $d", "${V}", "${W:-z}", "${cmd --opt}", "${VAR}", "${VAR}", "e f", "t\tu"]
    assert [w.literal for w in c.words[1:]] == [True, True, False, False, False, False, False, True, True]


def test_substitutions_and_wrappers_are_looked_into():
    s = parse_shell("echo $(apt-get install foo) `yum install bar` && sh -c 'apk add baz; pip install q' "
                    "&& env A=1 sudo -u root npm install x && diff <(sort a) b")
    found = [(c.name, c.nested) for c in s.commands]
    assert ("apt-get", "$()") in found and ("yum", "``") in found and ("sort", "<()") in found
    assert ("apk", "sh -c") in found and ("pip", "sh -c") in found
    assert ("sudo", "wrapper") in found and ("npm", "wrapper") in found
    assert [c.name for c in s.commands if not c.synthetic][:2] == ["echo", "apt-get"]  # outer command first


def test_redirections_heredocs_and_assignments():
    s = parse_shell("cat <<EOF > /x\napt-get install bar\nEOF\nFOO=1 BAR=\"$FOO\" make 2>&1 >/dev/null\narr=(a b) && ls")
    assert [c.name for c in s.commands] == ["cat", "make", "", "ls"]
    assert s.commands[0].redirects == [("<<", s.commands[0].redirects[0][1]), (">", s.commands[0].redirects[1][1])]
    assert [o for o, _ in s.commands[1].redirects] == [">&", ">"]
    assert [n for n, _, _ in s.assignments] == ["FOO", "BAR", "arr"]


def test_flags_as_hadolint_counts_them():
    (c,) = parse_shell("apt-get -qqy install --no-install-recommends -t buster x=1 y").commands
    assert [f for f, _ in c.flags] == ["q", "q", "y", "no-install-recommends", "t"]
    assert c.args_no_flags(("t",)) == ["install", "x=1", "y"]
    assert c.flag_values("t") == ["buster"] and c.count_flag("q") == 2


def test_word_resolve():
    s = parse_shell('d="python3=3.6 gcc=12" && apt-get install $d ${NOPE:-z}')
    c = s.commands[-1]
    env = {"d": "python3=3.6 gcc=12"}
    assert c.words[2].resolve(env) == "python3=3.6 gcc=12"
    assert c.words[3].resolve(env) is None  # unknown: may come from the base image


@pytest.mark.parametrize("text", ["echo 'unterminated", 'echo "x', "echo $(", "echo `x", "fi; done )) esac",
                                  "case", "for", "((", "[[ -n x", "a <<", "a >", "${{{{", "$'\\", "\\"])
def test_never_raises_and_reports(text):
    s = parse_shell(text)
    assert isinstance(s.commands, list)


def test_random_input_never_raises():
    rnd = random.Random(12)
    alphabet = list("abc xyz$(){}[]|&;<>'\"`\\\n\t#=*?!-") + ["if", "then", "fi", "case", "in", "esac", ";;", "<<E"]
    for _ in range(3000):
        parse_shell("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))))


def test_every_run_of_the_subset_is_read():
    n = 0
    for p in sorted(SUBSET.glob("[0-9]*")):
        df = parse_dockerfile(p.read_bytes().decode("utf-8", "replace"), p.name)
        for ins in df.instructions:
            if ins.keyword != "RUN":
                continue
            s = run_script(df, ins)
            n += 1
            assert s.commands, (p.name, ins.start_line)
            assert all(ins.start_line <= c.line <= ins.end_line for c in s.commands), (p.name, ins.start_line)
    assert n > 60


def test_script_lines_follow_the_dockerfile():
    text = ("FROM a\n"
            "RUN --mount=type=cache,target=/x \\\n"
            "    --network=none apt-get update \\\n"
            "    # a comment BuildKit drops\n"
            "    && apt-get install -y curl\n"
            "RUN <<EOF\nset -e\necho $x\nEOF\n"
            "RUN [\"sh\", \"-c\", \"apk add y\"]\n"
            "ONBUILD RUN pip install z\n")
    df = parse_dockerfile(text)
    r1, r2, r3 = [i for i in df.instructions if i.keyword == "RUN"]
    s1 = run_script(df, r1)
    assert [(c.name, c.line) for c in s1.commands] == [("apt-get", 3), ("apt-get", 5)]
    assert s1.text.splitlines()[1].index("apt-get") == 19  # keyword and flags blanked, columns kept
    assert [(c.name, c.line) for c in run_script(df, r2).commands] == [("set", 7), ("echo", 8)]
    assert [(c.name, c.nested) for c in run_script(df, r3).commands] == [("sh", ""), ("apk", "sh -c")]
    trig = df.instructions[-1].trigger
    assert (trig.keyword, trig.args) == ("RUN", "pip install z")
    assert [(c.name, c.line) for c in run_script(df, trig).commands] == [("pip", 11)]
    assert script_text(df, r1)[1] == [2, 3, 5]


def test_parser_pairs_words_and_images():
    df = parse_dockerfile('FROM a\nENV A=1 B="x y" C=\'$z\'\nENV D e f\nLABEL "k.x"="v" y=z\nARG X Y=2\n'
                          'COPY --chown=1:1 "a b" c /dst/\n# hadolint ignore=DL3008\n')
    env1, env2, label, arg, copy = df.instructions[1:]
    assert env1.pairs == [("A", "1"), ("B", "x y"), ("C", "$z")] and env2.pairs == [("D", "e f")]
    assert label.pairs == [("k.x", "v"), ("y", "z")] and arg.arg_defaults == [("X", None), ("Y", "2")]
    assert copy.words == ["a b", "c", "/dst/"] and copy.flag("chown") == "1:1"
    assert [(c.line, c.text) for c in df.comments] == [(7, "hadolint ignore=DL3008")]
    r = split_image("localhost:5000/a/b:1@sha256:ab")
    assert (r.registry, r.path, r.tag, r.digest) == ("localhost:5000", "a/b", "1", "sha256:ab")
    assert split_image("python").repository == "library/python" and split_image("ghcr.io/o/i").repository == "o/i"


@pytest.mark.parametrize("text,env,complete,want", [
    ("$A/b", {"A": "x"}, False, "x/b"),
    ("${A:-d}", {"A": ""}, False, "d"),
    ("${A-d}", {}, True, "d"),
    ("${A:+y}", {"A": "1"}, False, "y"),
    ("${A#*/}", {"A": "a/b/c"}, False, "b/c"),
    ("${A##*/}", {"A": "a/b/c"}, False, "c"),
    ("${A%/*}", {"A": "a/b/c"}, False, "a/b"),
    ("'$A'\"$A\"\\$A", {"A": "v"}, False, "$Av$A"),
    ("$MISSING", {}, False, None),  # may be the base image's
    ("$MISSING", {}, True, ""),  # FROM lines see only global ARGs
    ("${U}", {"U": None}, True, None),  # a build argument without default
])
def test_expand(text, env, complete, want):
    assert expand(text, env, complete=complete) == want


def test_scopes_follow_buildkit():
    df = parse_dockerfile("ARG V=1\nARG BASE=alpine:3.19\nFROM $BASE AS one\nARG V\nENV E=$V-x\n"
                          "FROM one AS two\nRUN echo\nFROM scratch\nRUN echo\n")
    s = scopes(df)
    frm, _, env_e, from2, run2, from3, run3 = [s[id(i)] for i in df.instructions[2:]]
    assert frm["BASE"] == "alpine:3.19" and frm["V"] == "1"
    assert env_e["V"] == "1"  # a bare ARG takes the global default
    assert run2["E"] == "1-x" and "V" in run2  # ENV (and ARGs) inherited from the parent stage
    assert "E" not in run3 and "V" not in run3  # another stage sees neither


def test_buildkit_flags_healthcheck_shell():
    df = parse_dockerfile("FROM --platform=$BUILDPLATFORM golang:1.22 AS b\n"
                          "COPY --link --chmod=0755 --chown=app:app --exclude=*.md --from=b /out /usr/bin/\n"
                          "HEALTHCHECK --interval=5s --timeout=2s CMD curl -f http://localhost/ || exit 1\n"
                          'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
                          "RUN --mount=type=secret,id=tok --network=none --security=insecure make\n")
    frm, copy, hc, shell, run = df.instructions
    assert df.stages[0].platform == "$BUILDPLATFORM" and df.stages[0].name == "b"
    assert (copy.flag("link"), copy.flag("chmod"), copy.flag("exclude"), copy.flag("from")) == ("", "0755", "*.md", "b")
    assert copy.words == ["/out", "/usr/bin/"]
    assert hc.flags == ["--interval=5s", "--timeout=2s"] and hc.args.startswith("CMD curl")
    assert shell.exec_form == ["/bin/bash", "-o", "pipefail", "-c"]
    assert run.flag_values("mount") == ["type=secret,id=tok"] and run.flag("network") == "none"
