"""IMG108: ADD of a URL"""

from __future__ import annotations

from imgopt.lint.coldstart import copy_parts
from imgopt.lint.rule import Rule


class IMG108(Rule):
    id = "IMG108"
    severity = "warning"
    title = "ADD of a URL"
    what = """Flags ADD whose source is an http(s) URL (after ARG expansion), unless it has `--checksum`."""
    why = """The download is not verified, its layer cache depends on the server's headers rather than on the
content, and the downloaded file (often an archive that a later RUN unpacks and deletes) stays in its
own layer.  `RUN curl -fsSL URL | tar -xz` (or curl, verify, extract, rm in one RUN) keeps only the
result; `ADD --checksum=sha256:...` at least pins the content."""
    bad = """ADD https://example.com/tool-1.2.tar.gz /tmp/
RUN tar -xzf /tmp/tool-1.2.tar.gz -C /opt && rm /tmp/tool-1.2.tar.gz"""
    good = """RUN curl -fsSL https://example.com/tool-1.2.tar.gz | tar -xz -C /opt"""

    def check(self, ctx):
        for ins in ctx.of("ADD"):
            if ins.flag("checksum") is not None:
                continue
            srcs, _ = copy_parts(ins)
            for s in srcs:
                v = ctx.expand(ins, s) if "$" in s else s
                if v and v.startswith(("http://", "https://")):
                    final = " and stays in the image" if ctx.in_final_image(ins) else ""
                    yield self.hit(ins, f"ADD {v} downloads unverified{final}: use RUN curl ... in one step "
                                        "(or ADD --checksum)")
                    break


RULE = IMG108()
