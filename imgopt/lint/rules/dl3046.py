"""DL3046: useradd without flag -l and high UID will result in excessively large Image"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3046(Rule):
    id = "DL3046"
    severity = "warning"
    origin = "hadolint"
    title = "`useradd` without flag `-l` and high UID will result in excessively large Image."
    what = """Flags `useradd -u UID` with a UID of six digits or more and without `-l`/`--no-log-init`."""
    why = """useradd writes the user's record into /var/log/lastlog and faillog at offset UID x record
size; the files are sparse on disk but stored in full in the layer, which can be gigabytes."""
    bad = """RUN useradd -u 123456 app"""
    good = """RUN useradd -l -u 123456 app"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for c in ctx.commands(ins, hadolint=True):
                if c.name == "useradd" and not c.has_flag("l", "no-log-init") and c.has_flag("u", "uid") and \
                        any(len(v) > 5 for v in c.flag_values("u")):
                    yield self.hit(ins)
                    break


RULE = DL3046()
