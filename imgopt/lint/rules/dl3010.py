"""DL3010: Use ADD for extracting archives into an image"""

from __future__ import annotations

from imgopt.lint.helpers import basename, is_archive
from imgopt.lint.rule import Rule


class DL3010(Rule):
    id = "DL3010"
    severity = "info"
    origin = "hadolint"
    title = "Use `ADD` for extracting archives into an image"
    what = """Flags a COPY of a local archive that a later RUN of the same stage extracts with tar or
unzip/gunzip."""
    why = """The copied archive stays in the COPY layer even if the RUN deletes it; `ADD archive.tar.gz /dir`
extracts it in one layer and stores only the files."""
    bad = """COPY app.tar.gz /tmp/
RUN tar -xzf /tmp/app.tar.gz -C /opt && rm /tmp/app.tar.gz"""
    good = """ADD app.tar.gz /opt/"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for st in ctx.stages:
            archives: list[tuple[object, str]] = []
            reported: set[int] = set()
            for ins in st.instructions:
                if ins.keyword == "COPY" and ins.flag("from") is None:
                    words = ins.words
                    if len(words) < 2:
                        continue
                    srcs, dest = words[:-1], words[-1]
                    if is_archive(dest):
                        archives.append((ins, basename(dest)))
                    else:
                        archives.extend((ins, basename(s)) for s in srcs if is_archive(s))
                elif ins.keyword == "RUN" and archives:
                    cmds = ctx.commands(ins, hadolint=True)
                    for cins, name in archives:
                        if id(cins) in reported:
                            continue
                        if any(_extracts(c, name) for c in cmds):
                            reported.add(id(cins))
                            yield self.hit(cins)


UNZIP = frozenset({"unzip", "gunzip", "bunzip2", "unlzma", "unxz", "zgz", "uncompress", "zcat", "gzcat"})


def _extracts(cmd, name: str) -> bool:
    if cmd.name == "tar":
        if not any(a in ("--extract", "--get") or (a.startswith("-") and "x" in a) for a in cmd.args):
            return False
    elif cmd.name not in UNZIP:
        return False
    return name in [basename(a) for a in cmd.args_no_flags()]


RULE = DL3010()
