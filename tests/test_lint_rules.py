"""imgopt lint rules: the registry, each rule's documented examples, and what each catches and does not.

Cases are small Dockerfiles; the hadolint behaviours are those of hadolint 2.15.1's rules and specs
(src/Hadolint/Rule/*.hs, test/Hadolint/Rule/*Spec.hs), the improvements are the ones each rule's
docs name with their hadolint issue.  ShellCheck is switched off here (tests/test_lint_shellcheck.py
covers it), so these tests check imgopt's own logic only.
"""

from __future__ import annotations

import importlib
import pkgutil
import textwrap

import pytest

import imgopt.lint.rules as registry
from imgopt.lint import lint_text
from imgopt.lint.config import LintConfig
from imgopt.lint.rules import RULES, load

# hadolint 2.15.1: every DL rule and its default severity (src/Hadolint/Rule/DL*.hs)
HADOLINT = {
    "DL1001": "ignore", "DL3000": "error", "DL3001": "info", "DL3002": "warning", "DL3003": "warning",
    "DL3004": "error", "DL3006": "warning", "DL3007": "warning", "DL3008": "warning", "DL3009": "info",
    "DL3010": "info", "DL3011": "error", "DL3012": "error", "DL3013": "warning", "DL3014": "warning",
    "DL3015": "info", "DL3016": "warning", "DL3018": "warning", "DL3019": "info", "DL3020": "error",
    "DL3021": "error", "DL3022": "warning", "DL3023": "error", "DL3024": "error", "DL3025": "warning",
    "DL3026": "error", "DL3027": "warning", "DL3028": "warning", "DL3029": "warning", "DL3030": "warning",
    "DL3032": "warning", "DL3033": "warning", "DL3034": "warning", "DL3035": "warning", "DL3036": "warning",
    "DL3037": "warning", "DL3038": "warning", "DL3040": "warning", "DL3041": "warning", "DL3042": "warning",
    "DL3043": "error", "DL3044": "error", "DL3045": "warning", "DL3046": "warning", "DL3047": "info",
    "DL3048": "style", "DL3049": "info", "DL3050": "info", "DL3051": "warning", "DL3052": "warning",
    "DL3053": "warning", "DL3054": "warning", "DL3055": "warning", "DL3056": "warning", "DL3057": "ignore",
    "DL3058": "warning", "DL3059": "info", "DL3060": "info", "DL3061": "error", "DL3062": "warning",
    "DL3063": "warning", "DL3064": "warning", "DL3065": "warning", "DL3066": "info", "DL3067": "warning",
    "DL4000": "error", "DL4001": "warning", "DL4003": "warning", "DL4004": "error", "DL4005": "warning",
    "DL4006": "warning",
}

# configuration a rule needs to say anything at all
NEEDS = {
    "DL1001": dict(overrides={"DL1001": "warning"}),
    "DL3057": dict(overrides={"DL3057": "warning"}),
    "DL3026": dict(trusted_registries=["registry.example.com"]),
    "DL3049": dict(label_schema={"org.opencontainers.image.source": "url"}),
    "DL3050": dict(label_schema={"version": "semver"}, strict_labels=True),
    "DL3051": dict(label_schema={"version": "semver"}),
    "DL3052": dict(label_schema={"org.opencontainers.image.source": "url"}),
    "DL3053": dict(label_schema={"org.opencontainers.image.created": "rfc3339"}),
    "DL3054": dict(label_schema={"org.opencontainers.image.licenses": "spdx"}),
    "DL3055": dict(label_schema={"org.opencontainers.image.revision": "hash"}),
    "DL3056": dict(label_schema={"version": "semver"}),
    "DL3058": dict(label_schema={"maintainer": "email"}),
}


def config(**kw) -> LintConfig:
    kw.setdefault("shellcheck", False)
    return LintConfig(**kw)


def codes(text: str, cfg: LintConfig | None = None, directory: str | None = None) -> dict[str, list[int]]:
    res = lint_text(textwrap.dedent(text).lstrip("\n"), "Dockerfile", cfg or config(), directory)
    out: dict[str, list[int]] = {}
    for f in res.findings():
        out.setdefault(f.code, []).append(f.line)
    return out


def lines(text: str, code: str, **cfg) -> list[int]:
    return codes(text, config(**cfg)).get(code, [])


# ------------------------------------------------------------------ the registry


def test_registry_lists_every_rule_module_once():
    modules = {m.name for m in pkgutil.iter_modules(registry.__path__)}
    assert sorted(RULES) == sorted(set(RULES)) and set(RULES) == modules
    rules = load()
    assert [r.id.lower() for r in rules if r.id != "SC"] == [n for n in RULES if n != "shellcheck"]
    assert len({r.id for r in rules}) == len(rules)


def test_every_hadolint_rule_with_its_severity():
    mine = {r.id: r.severity for r in load() if r.id.startswith("DL")}
    assert mine == HADOLINT
    assert len(mine) == 71


@pytest.mark.parametrize("rule", load(), ids=lambda r: r.id)
def test_rule_is_documented(rule):
    assert rule.severity in ("error", "warning", "info", "style", "ignore")
    assert rule.title and rule.what and rule.why and rule.bad and rule.good
    if rule.id.startswith("DL"):
        assert rule.origin == "hadolint" and rule.hadolint, "DL rules say how they compare with hadolint"
    mod = importlib.import_module(type(rule).__module__)
    assert mod.RULE is rule and mod.__doc__.startswith(rule.id)


def _example(text: str, rule_id: str) -> str:
    """A documented snippet as a whole Dockerfile (a FROM added when it has none)."""
    text = textwrap.dedent(text).strip("\n")
    has_from = any(line.upper().startswith("FROM ") for line in text.splitlines())
    if not has_from and rule_id not in ("IMG005", "DL3061"):
        if text.startswith("# escape") or text.startswith("# syntax"):
            head, _, rest = text.partition("\n")
            text = f"{head}\nFROM debian:12.5-slim\n{rest}"
        else:
            text = "FROM debian:12.5-slim\n" + text
    return text + "\n"


@pytest.mark.parametrize("rule", [r for r in load() if r.id != "SC"], ids=lambda r: r.id)
def test_documented_examples(rule, tmp_path):
    """The rule's own 'flagged' example is caught; its 'instead' example is not."""
    cfg = config(**NEEDS.get(rule.id, {}))
    plain, ignoring = tmp_path / "plain", tmp_path / "ignoring"  # build contexts without/with a .dockerignore
    plain.mkdir()
    ignoring.mkdir()
    (ignoring / ".dockerignore").write_text(".git\n")
    bad = codes(_example(rule.bad, rule.id), cfg, str(plain if rule.id == "IMG109" else ignoring))
    good = codes(_example(rule.good, rule.id), cfg, str(ignoring))
    assert rule.id in bad, bad
    assert rule.id not in good, good


# ------------------------------------------------------------------ hadolint's rules, case by case

CASES = [
    # (rule, Dockerfile, expected lines)  -- hadolint 2.15.1 behaviour unless the rule's docs say otherwise
    ("DL3000", "FROM a:1\nWORKDIR app\nWORKDIR /app\nWORKDIR $HOME\nWORKDIR C:\\\\app\n", [2]),
    ("DL3000", "FROM a:1\nENV D=rel\nWORKDIR $D\n", [3]),  # improvement: known relative value
    ("DL3001", "FROM a:1\nRUN ps aux && top\nRUN psql\n", [2]),
    ("DL3002", "FROM a:1\nUSER root\nFROM b:1\nUSER root\nUSER app\n", [2]),
    ("DL3003", "FROM a:1\nRUN cd /x && make\nRUN sh -c 'cd /x'\n", [2]),
    ("DL3004", "FROM a:1\nRUN sudo apt-get update\nONBUILD RUN sudo ls\n", [2, 3]),
    ("DL3006", "FROM debian\nFROM debian AS base\nFROM base\nFROM scratch\nFROM ruby@sha256:abc\n", [1, 2]),
    ("DL3006", "ARG B=alpine:3.19\nARG C=alpine\nARG D\nFROM ${B}\nFROM $C\nFROM $D\n", [5]),  # #339 / #979
    ("DL3006", "ARG P=alpine\nFROM alpine:3 AS build-alpine\nFROM build-${P}\n", []),  # #979
    ("DL3007", "FROM debian:latest\nFROM debian:latest@sha256:abc\nFROM debian:12\n", [1]),
    ("DL3007", "ARG T=latest\nFROM node:${T}\n", [2]),
    ("DL3008", "FROM a:1\nRUN apt-get install -y curl=1 ./x.deb /tmp/*.deb\nRUN apt-get install -y curl\n", [3]),
    ("DL3008", "FROM a:1\nRUN apt-get install -y -t buster-backports curl=7\n", []),  # -t's value is no package
    ("DL3008", "FROM a:1\nRUN d=\"python3=3.6.7-1\" && apt-get install -y $d\n", []),  # #928
    ("DL3008", "FROM a:1\nRUN apt-get install -y $PKGS\n", [2]),  # unknown value: as hadolint
    ("DL3009", "FROM a:1\nRUN apt-get update && apt-get install -y curl\n", [2]),
    ("DL3009", "FROM a:1\nRUN apt-get update && rm -rf /var/lib/apt/lists/*\n", []),
    ("DL3009", "FROM a:1\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update\n", []),
    ("DL3009", "FROM a:1 AS build\nRUN apt-get update\nFROM b:1\nCOPY --from=build /x /x\n", []),
    ("DL3009", "FROM a:1 AS base\nRUN apt-get update\nFROM base\n", [2]),
    ("DL3010", "FROM a:1\nCOPY app.tar.gz /tmp/\nRUN tar -xzf /tmp/app.tar.gz\n", [2]),
    ("DL3010", "FROM a:1\nCOPY app.tar.gz /tmp/\nRUN cp /tmp/app.tar.gz /x\n", []),
    ("DL3011", "FROM a:1\nEXPOSE 80 65536/tcp\nEXPOSE 8000-8010\n", [2]),
    ("DL3012", "FROM a:1\nHEALTHCHECK CMD a\nHEALTHCHECK CMD b\nFROM b:1\nHEALTHCHECK CMD c\n", [3]),
    ("DL3013", "FROM a:1\nRUN pip install flask\nRUN pip install flask==3 -r r.txt\nRUN pip install ./pkg\n", [2]),
    ("DL3013", "FROM a:1\nRUN python3 -m pip install --no-cache-dir requests\nRUN pip install -c c.txt x\n", [2]),
    ("DL3013", "FROM a:1\nRUN pip install git+https://x/y@v1 y.whl 'z[extra]>=1'\nRUN pip install -e .\n", []),
    ("DL3013", "FROM a:1\nRUN pip install z[extra]>=1\n", [2]),  # unquoted: ">=1" is a redirection
    ("DL3014", "FROM a:1\nRUN apt-get install curl\nRUN apt-get -qq install curl\nRUN apt-get -q -q install x\n", [2]),
    ("DL3014", "FROM a:1\nRUN apt-get -o APT::Get::Assume-Yes=true install curl\n", []),
    ("DL3015", "FROM a:1\nRUN apt-get install -y curl\nRUN apt-get install -y --no-install-recommends x\n", [2]),
    ("DL3015", "FROM a:1\nRUN echo 'APT::Install-Recommends \"false\";' > /etc/apt/apt.conf.d/no-rec\n"
               "RUN apt-get install -y curl\n", []),
    ("DL3016", "FROM a:1\nRUN npm install\nRUN npm install express@4 @types/node@20 ./local x.tgz\n"
               "RUN npm install -g typescript\nRUN npm i lodash\n", [4, 5]),
    ("DL3018", "FROM a:1\nRUN apk add --no-cache curl=8.5.0-r0 x.apk\nRUN apk add --no-cache curl\n", [3]),
    ("DL3018", "FROM a:1\nRUN apk -X https://r/edge/main add --no-cache lttng-ust=2.10.4-r0\n", []),  # #408
    ("DL3018", "FROM a:1\nRUN apk add --root /rootfs --no-cache curl=8.5.0-r0\n", []),  # option values
    ("DL3019", "FROM a:1\nRUN apk add curl=1\nRUN apk add --no-cache curl=1\n"
               "RUN --mount=type=cache,target=/var/cache/apk apk add curl=1\n", [2]),
    ("DL3020", "FROM a:1\nADD a.txt /x/\nADD https://x/y /y\nADD a.tar.gz /z/\n", [2]),
    ("DL3020", "FROM a:1\nARG U=https://example.com/x\nADD ${U} /x\n", []),  # hadolint#769
    ("DL3021", "FROM a:1\nCOPY a b /dst\nCOPY a b /dst/\nCOPY a /dst\n", [2]),
    ("DL3022", "FROM a:1 AS Build\nFROM b:1\nCOPY --from=build /a /a\nCOPY --from=nope /a /a\n"
               "COPY --from=0 /a /a\nCOPY --from=docker/buildx-bin /b /b\nCOPY --from=alpine:3 /c /c\n", [4]),
    ("DL3023", "FROM a:1 AS app\nCOPY --from=app /a /b\n", [2]),
    ("DL3024", "FROM a:1 AS x\nFROM b:1 AS x\nFROM c:1 AS y\n", [2]),
    ("DL3025", "FROM a:1\nCMD node x\nENTRYPOINT [\"a\"]\nHEALTHCHECK CMD curl -f x\nHEALTHCHECK NONE\n", [2, 4]),
    ("DL3027", "FROM a:1\nRUN apt install x\nRUN apt-get install x\n", [2]),
    ("DL3028", "FROM a:1\nRUN gem install bundler\nRUN gem install bundler:2 rails -v 7\n", [2]),
    ("DL3029", "FROM --platform=linux/amd64 a:1\nFROM --platform=$BUILDPLATFORM b:1\n", [1]),
    ("DL3030", "FROM a:1\nRUN yum install x\nRUN yum install -y x\n", [2]),
    ("DL3032", "FROM a:1\nRUN yum install -y x\nRUN yum install -y x && yum clean all\n"
               "RUN yum clean all && yum install -y x\n", [2, 4]),
    ("DL3033", "FROM a:1\nRUN yum install -y httpd\nRUN yum install -y httpd-2.4.57 x-1.0.rpm\n"
               "ARG V\nRUN yum install -y git-${V}\nRUN yum install -y x.rpm\n", [2, 6]),  # no dash: as hadolint
    ("DL3034", "FROM a:1\nRUN zypper install x\nRUN zypper -n install x\n", [2]),
    ("DL3035", "FROM a:1\nRUN zypper dup\n", [2]),
    ("DL3036", "FROM a:1\nRUN zypper install -y x\nRUN zypper install -y x && zypper clean\n", [2]),
    ("DL3037", "FROM a:1\nRUN zypper install -y x\nRUN zypper install -y x=1\n", [2]),
    ("DL3038", "FROM a:1\nRUN dnf install x\nRUN microdnf install -y x\n", [2]),
    ("DL3040", "FROM a:1\nRUN dnf install -y x\nRUN dnf install -y x && dnf clean all\n", [2]),
    ("DL3041", "FROM a:1\nRUN dnf install -y httpd\nRUN dnf install -y httpd-2.4.57\n", [2]),
    ("DL3042", "FROM a:1\nRUN pip install x==1\nRUN pip install --no-cache-dir x==1\n"
               "RUN pipx install x==1\nRUN PIP_NO_CACHE_DIR=1 pip install x==1\n", [2]),
    ("DL3042", "FROM a:1\nENV PIP_NO_CACHE_DIR=true\nRUN pip install x==1\n", []),
    ("DL3042", "FROM a:1\nRUN --mount=type=cache,target=/root/.cache pip install x==1\n", []),  # #497
    ("DL3043", "FROM a:1\nONBUILD FROM b\nONBUILD RUN x\n", [2]),
    ("DL3044", "FROM a:1\nENV A=1 B=$A\nENV C=1\nENV C=2 D=$C\nENV E=x F=\\$E\n", [2]),  # #1062
    ("DL3045", "FROM a:1\nCOPY a .\nWORKDIR /w\nCOPY a .\nFROM b:1\nCOPY a /abs\nCOPY a $DIR\n", [2]),
    ("DL3045", "FROM a:1 AS base\nWORKDIR /w\nFROM base\nCOPY a .\n", []),
    ("DL3046", "FROM a:1\nRUN useradd -u 123456 app\nRUN useradd -l -u 123456 app\nRUN useradd -u 1000 a\n", [2]),
    ("DL3047", "FROM a:1\nRUN wget http://x\nRUN wget -q http://x\nRUN wget -nv http://x\n"
               "RUN wget --progress=dot:giga http://x\n", [2]),
    ("DL3048", "FROM a:1\nLABEL Foo=1 org.x=2\nLABEL com.docker.x=1\nLABEL good.key-1=v\n", [2, 3]),
    ("DL3059", "FROM a:1\nRUN a\nRUN b\nRUN c && d\nRUN e\n", [3]),
    ("DL3059", "FROM a:1\nRUN a\n# step two\nRUN b\n", []),  # hadolint#1138: a comment separates
    ("DL3059", "FROM a:1\nRUN --mount=type=secret,id=x a\nRUN b\n", []),
    ("DL3060", "FROM a:1\nRUN yarn install\nRUN yarn install && yarn cache clean\n", [2]),
    ("DL3061", "ENV A=1\nARG B\nFROM a:1\n", [1]),
    ("DL3062", "FROM a:1\nRUN go install example.com/x@latest\nRUN go install example.com/x@v1 ./...\n"
               "RUN go run example.com/y arg\n", [2, 4]),
    ("DL3063", "FROM a:1 AS context\nFROM b:1 AS ok\n", [1]),
    ("DL3064", "FROM a:1\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x\nENV POSTGRES_PASSWORD_FILE=/run/s\n"
               "ENV GOPRIVATE=example.com\nARG VERSION\n", [2, 3]),  # #1245
    ("DL3065", "FROM --platform=$TARGETPLATFORM a:1\n", [1]),
    ("DL3066", "FROM a:1\nUSER app\nUSER 1000:1000\nARG U\nUSER ${U}\n", [2]),
    ("DL3067", "FROM a:1 AS b\nFROM c:1\nCOPY --from=b / /\nCOPY --from=b /app /app\n", [3]),
    ("DL4000", "FROM a:1\nMAINTAINER me\n", [2]),
    ("DL4001", "FROM a:1\nRUN wget x\nRUN curl y\nFROM b:1\nRUN curl z\n", [3]),
    ("DL4003", "FROM a:1\nCMD [\"a\"]\nCMD [\"b\"]\nFROM b:1\nCMD [\"c\"]\n", [3]),
    ("DL4004", "FROM a:1\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n", [3]),
    ("DL4005", "FROM a:1\nRUN ln -sf /bin/bash /bin/sh\n", [2]),
    ("DL4006", "FROM a:1\nRUN curl x | tar -x\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
               "RUN curl x | tar -x\nFROM b:1\nRUN a | b\n", [2, 6]),
    ("DL4006", "FROM a:1\nRUN set -euo pipefail; curl x | tar -x\nRUN (cd a && tar c .) | (cd b && tar x)\n", [3]),
    ("DL4006", "FROM a:1\nSHELL [\"pwsh\", \"-c\"]\nRUN a | b\n", []),
]


@pytest.mark.parametrize("rule,text,expected", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_case(rule, text, expected):
    assert lines(text, rule, **NEEDS.get(rule, {})) == expected


def test_onbuild_triggers_are_checked():
    text = "FROM a:1\nONBUILD RUN apt-get install curl\n"
    got = codes(text)
    assert got.get("DL3008") == [2] and got.get("DL3014") == [2] and got.get("DL3015") == [2]


def test_label_schema_rules():
    cfg = dict(label_schema={"version": "semver", "url": "url", "rev": "hash", "mail": "email", "when": "rfc3339",
                             "lic": "spdx", "team": "text"}, strict_labels=True)
    text = ("FROM a:1 AS build\nFROM b:1\nCOPY --from=build /x /x\n"
            "LABEL version=1.2 url=x rev=XYZ mail=nobody when=now lic=\"MIT AND\" team=\"\" extra=1\n")
    got = codes(text, config(**cfg))
    assert got["DL3056"] == [4] and got["DL3052"] == [4] and got["DL3055"] == [4] and got["DL3058"] == [4]
    assert got["DL3053"] == [4] and got["DL3054"] == [4] and got["DL3051"] == [4] and got["DL3050"] == [4]
    assert "DL3049" not in got  # the build stage is only a COPY source; the final stage has every label
    good = ("FROM b:1\nLABEL version=1.2.3 url=https://x.org rev=1a2b3c4 mail=a@b.org "
            "when=2024-03-01T12:00:00Z lic=\"MIT OR Apache-2.0\" team=web\n")
    assert not set(codes(good, config(**cfg))) & {f"DL30{n}" for n in range(49, 59)}
    assert codes("FROM b:1\nLABEL team=web\n", config(**cfg))["DL3049"] == [1] * 6


def test_trusted_registries():
    cfg = dict(trusted_registries=["*.example.com", "docker.io"])
    text = ("FROM debian:12 AS a\nFROM quay.io/x/y:1\nFROM r.example.com/z:1\nCOPY --from=gcr.io/p/q:1 /a /a\n"
            "COPY --from=a /b /b\nRUN --mount=type=bind,from=ghcr.io/o/i:1,target=/m ls\n")
    assert lines(text, "DL3026", **cfg) == [2, 4, 6]
    assert lines(text, "DL3026") == []  # no trusted registries: off


def test_pragmas():
    text = ("FROM debian\n"  # DL3006
            "# hadolint ignore=DL3008,DL3015\n"
            "RUN apt-get install -y curl\n"
            "# imgopt ignore=DL3059\n"
            "\n"
            "RUN apt-get install -y curl\n"
            "# hadolint global ignore=DL3006\n")
    got = codes(text)
    assert "DL3006" not in got and got["DL3008"] == [6] and got["DL3015"] == [6] and "DL3059" not in got
    assert lines(text, "DL1001", overrides={"DL1001": "warning"}) == [2, 4]
    assert codes(text, config(disable_ignore_pragma=True))["DL3006"] == [1]


def test_stage_pragma():
    # as hadolint: the pragma goes before the stage's FROM and covers the instructions after it
    text = "# hadolint stage ignore=DL3008\nFROM a:1\nRUN apt-get install -y x\nFROM b:1\nRUN apt-get install -y y\n"
    assert lines(text, "DL3008") == [5]


def test_overrides_and_ignores():
    text = "FROM debian\nRUN apt-get install -y curl\n"
    res = lint_text(text, "D", config(overrides={"DL3006": "error"}, ignored={"DL3008"}))
    got = {f.code: f.severity for f in res.findings()}
    assert got.get("DL3006") == "error" and "DL3008" not in got


# ------------------------------------------------------------------ parser diagnostics


def test_unparsable_input_gives_findings_not_crashes():
    assert codes("FROM a:1\nWOKRDIR /app\n")["IMG001"] == [2]
    assert codes("FROM a:1\nRUN <<EOF\necho hi\n")["IMG003"] == [2]
    assert codes("RUN echo hi\n")["IMG005"] == [0]
    assert codes("FROM a b c d\n")["IMG006"] == [1]
    assert codes("# escape=x\nFROM a:1\n")["IMG004"] == [1]
    assert codes("FROM a:1\nCMD ['node', 'app.js']\n")["IMG008"] == [2]
    for junk in ("\0\0\0", "FROM \\\n", "RUN \"unterminated\n", "FROM a:1\nRUN $((((\n", "\ufeff", ")))(((",
                 "FROM a:1\nRUN case x in\n", "FROM a:1\nONBUILD\n", "FROM a:1\nHEALTHCHECK\n", "ARG\nFROM $"):
        lint_text(junk, "junk", config())


# ------------------------------------------------------------------ cold-start rules

COLD = [
    ("IMG101", "FROM registry.cn-hangzhou.aliyuncs.com/acme/base:1\nFROM public.ecr.aws/docker/library/node:20\n"
               "FROM registry-vpc.cn-hangzhou.aliyuncs.com/acme/base:1\nFROM debian:12\n", [1, 2]),
    ("IMG102", "FROM python:3.12\n", [1]),
    ("IMG102", "FROM python:3.12-slim\n", []),
    ("IMG102", "FROM golang:1.22 AS build\nFROM python:3.12 AS other\nFROM alpine:3.19\n", []),  # only the image's base
    ("IMG102", "ARG PY=3.12\nFROM python:${PY}\n", [2]),
    ("IMG103", "FROM debian:12\nRUN apt-get install -y build-essential libpq-dev\n", [2]),
    ("IMG103", "FROM alpine:3\nRUN apk add --virtual .b gcc musl-dev && make && apk del .b\n", []),
    ("IMG103", "FROM debian:12\nRUN apt-get install -y gcc && make && apt-get purge -y gcc\n", []),
    ("IMG103", "FROM debian:12 AS build\nRUN apt-get install -y gcc\nFROM debian:12\nCOPY --from=build /x /x\n", []),
    ("IMG103", "FROM debian:12\nRUN apt-get install -y libpq5 ca-certificates python3-venv\n", []),
    ("IMG104", "FROM debian:12\nRUN apt-get update && apt-get install -y x\n", [2]),
    ("IMG104", "FROM debian:12\nRUN apt-get update && apt-get install -y x && rm -rf /var/lib/apt/lists/*\n", []),
    ("IMG104", "FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update\n", []),
    ("IMG104", "FROM alpine:3\nRUN apk add x\nRUN apk add --no-cache y\n", [2]),
    ("IMG104", "FROM python:3\nRUN /opt/venv/bin/pip install x\nRUN python -m pip install --no-cache-dir y\n"
               "RUN pip3 install z && rm -rf /root/.cache/pip\n", [2]),
    ("IMG104", "FROM python:3\nENV PIP_NO_CACHE_DIR=1\nRUN pip install x\n", []),
    ("IMG104", "FROM python:3\nRUN --mount=type=cache,target=/root/.cache pip install x\n", []),
    ("IMG104", "FROM python:3\nRUN uv pip install -r r.txt\nRUN uv sync --no-cache\nRUN poetry install\n", [2, 4]),
    ("IMG104", "FROM node:20\nRUN npm ci\nRUN npm ci && npm cache clean --force\nRUN yarn\nRUN pnpm install\n", [2, 4, 5]),
    ("IMG104", "FROM fedora:40\nRUN dnf install -y x\nRUN dnf install -y x && dnf clean all\n", [2]),
    ("IMG104", "FROM golang:1.22\nRUN go build ./...\n", [2]),
    ("IMG104", "FROM golang:1.22 AS build\nRUN go build ./...\nFROM scratch\nCOPY --from=build /x /x\n", []),
    ("IMG105", "FROM debian:12\nCOPY app/ /app/\nRUN rm -rf /app/tests\n", [3]),
    ("IMG105", "FROM debian:12\nWORKDIR /src\nRUN git clone https://x/y.git && make\nRUN rm -rf y\n", [4]),
    ("IMG105", "FROM debian:12\nRUN curl -o /tmp/x.tgz https://x && tar -xzf /tmp/x.tgz && rm /tmp/x.tgz\n", []),
    ("IMG105", "FROM debian:12\nCOPY a.txt /a.txt\nRUN rm -f /b.txt\n", []),
    ("IMG106", "FROM python:3\nCOPY wheels/ /wheels/\nRUN pip install --no-index --find-links /wheels -r r.txt\n", [2]),
    ("IMG106", "FROM debian:12\nCOPY pkg.deb /tmp/\nRUN dpkg -i /tmp/pkg.deb\n", [2]),
    ("IMG106", "FROM python:3\nCOPY requirements.txt /app/\nRUN pip install -r /app/requirements.txt\n", []),
    ("IMG106", "FROM debian:12\nADD rootfs.tar.gz /\n", []),
    ("IMG106", "FROM debian:12\nRUN curl -fsSLO https://x/tool.tar.gz && tar -xzf tool.tar.gz\n", [2]),
    ("IMG106", "FROM debian:12\nRUN curl -fsSL https://x/tool.tar.gz | tar -xz\n", []),
    ("IMG107", "FROM python:3\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n", [2]),
    ("IMG107", "FROM python:3\nCOPY requirements.txt /app/\nRUN pip install -r /app/requirements.txt\nCOPY . /app\n", []),
    ("IMG107", "FROM node:20\nCOPY . .\nRUN npm ci\n", [2]),
    ("IMG108", "FROM debian:12\nADD https://x/y.tgz /tmp/\nADD --checksum=sha256:ab https://x/z /z\n", [2]),
    ("IMG110", "FROM debian:12\nCMD node server.js\n", [2]),
    ("IMG110", "FROM debian:12\nENTRYPOINT [\"tini\", \"--\"]\nCMD node server.js\n", []),  # ENTRYPOINT in exec form
    ("IMG110", "FROM debian:12\nCMD [\"node\", \"server.js\"]\n", []),
    ("IMG110", "FROM debian:12 AS base\nCMD node x\nFROM base\n", [2]),
    ("IMG111", "FROM debian:12\nRUN apt-get update && apt-get -y upgrade\nRUN apk upgrade\n"
               "RUN yum update -y x\n", [2, 3]),
]


@pytest.mark.parametrize("rule,text,expected", COLD, ids=[f"{c[0]}-{k}" for k, c in enumerate(COLD)])
def test_cold_start_case(rule, text, expected, tmp_path):
    (tmp_path / ".dockerignore").write_text("")
    assert codes(text, config(), str(tmp_path)).get(rule, []) == expected


def test_registry_map():
    cfg = config(registry_map={"docker.io": "123.dkr.ecr.us-east-1.amazonaws.com/hub"})
    res = lint_text("FROM node:20-slim\n", "D", cfg)
    (f,) = [f for f in res.findings() if f.code == "IMG101"]
    assert "123.dkr.ecr.us-east-1.amazonaws.com/hub/node:20-slim" in f.message


def test_slim_bases_config():
    cfg = config(slim_bases={"acme/base": "acme/base-runtime"})
    (f,) = [f for f in lint_text("FROM acme/base:1\n", "D", cfg).findings() if f.code == "IMG102"]
    assert "acme/base-runtime" in f.message


def test_dockerignore_and_context_sizes(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "pack").write_bytes(b"x" * 300_000)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "build.log").write_bytes(b"y" * 150_000)
    text = "FROM debian:12\nCOPY . /src\nCOPY app/ /app/\nRUN rm /app/build.log\n"
    res = lint_text(text, "Dockerfile", config(), str(tmp_path))
    by = {f.code: f for f in res.findings()}
    assert ".git 300 kB" in by["IMG109"].message
    assert "150 kB in the image" in by["IMG105"].message
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert "IMG109" not in {f.code for f in lint_text(text, "Dockerfile", config(), str(tmp_path)).findings()}
    assert "IMG109" not in {f.code for f in lint_text(text, "-", config(), None).findings()}  # stdin: unknown


def test_costs_use_the_simulator_profiles():
    from imgopt.lint.costs import _rates
    from imgopt.simulate.profiles import load

    (f,) = [f for f in lint_text("FROM python:3.12\n", "D", config()).findings() if f.code == "IMG102"]
    client = load("client", "docker")
    public = load("registry", "public")
    rate = min(public.aggregate_bps, public.per_connection_bps * client.max_concurrent_downloads)
    expect = (380 - 45) * 1e6 / rate
    assert f"~{expect:.1f} s (public)" in f.message
    assert dict(_rates(("vpc", "public")))["public"] == pytest.approx(rate)
