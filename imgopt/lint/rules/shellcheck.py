"""SC: ShellCheck findings in RUN scripts"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class ShellCheck(Rule):
    id = "SC"
    severity = "warning"
    origin = "shellcheck"
    title = "ShellCheck finding in a RUN script"
    multi_code = True  # reports SCxxxx codes, each with ShellCheck's own severity
    late = True  # checked after the other rules, so ShellCheck runs while they do
    config = ("shellcheck",)
    what = """Runs ShellCheck (the Debian package `shellcheck`, when installed) on every shell-form RUN and
reports its findings with their SC codes and ShellCheck's severities, on the Dockerfile line they are
on.  All scripts of all files go to one `shellcheck` run.  Without ShellCheck, one note says so."""
    why = """ShellCheck finds the shell mistakes that make builds fail or do the wrong thing: unquoted
variables, `cd` without `|| exit`, useless `cat`, broken tests."""
    bad = """RUN cd $DIR && make"""
    good = """RUN cd "$DIR" && make"""
    hadolint = """As in hadolint: the same prelude (shebang of the SHELL in effect, the proxy variables and
every ARG/ENV name declared), no check of exec-form RUNs or non-POSIX shells, and SC2187, SC1090,
SC1091 excluded; SC2154 (variable not assigned) is excluded too, as hadolint does not report it
(base images set most such variables).  Findings are reported on the line they are on, not on the
RUN's first line; `# hadolint ignore=SC2086` above the RUN still applies."""

    def __init__(self):
        self._batch = None
        self._results = None
        self._note = ""

    def begin(self, contexts):
        from imgopt.lint.shellcheck import Batch, find_binary

        self._batch, self._results, self._note = None, None, ""
        cfg = contexts[0].config if contexts else None
        if cfg is None or "SC" in cfg.ignored:
            return
        binary = find_binary(cfg.shellcheck)
        jobs = []
        for ctx in contexts:
            jobs.extend(self._jobs(ctx))
        if binary is None:
            if jobs and cfg.shellcheck is not False:
                self._note = ("ShellCheck is not installed (Debian package 'shellcheck'): RUN scripts were "
                              "not checked for SC findings")
            return
        self._batch = Batch(binary, jobs)
        self._batch.start()

    def _jobs(self, ctx):
        from imgopt.lint.shellcheck import Job, wanted

        pragma_shell = ctx.pragmas.shell
        names: set[str] = set()
        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                names = set()
                continue
            if ins.keyword == "ARG":
                names |= {n for n, _ in ins.arg_defaults}
            elif ins.keyword == "ENV":
                names |= {n for n, _ in ins.pairs}
            run = ins if ins.keyword == "RUN" else (ins.trigger if ins.trigger is not None and
                                                       ins.trigger.keyword == "RUN" else None)
            if run is None or run.exec_form is not None:
                continue
            shell = ctx.shell_of(ins)
            shell_words = " ".join(shell) if shell else (pragma_shell or "/bin/sh -c")
            script = ctx.script(run)
            if not wanted(shell_words, script.text):
                continue
            sh = shell[0] if shell else (pragma_shell or "/bin/sh").split()[0]
            yield Job((ctx, ins), sh, sorted(names), script.text, script.line_map)

    def check(self, ctx):
        if self._batch is None:
            return
        if self._results is None:
            comments = self._batch.results()
            self._results = {}
            for c in comments:
                self._results.setdefault(id(c.key[0]), []).append(c)
            if self._batch.error:
                self._note = self._batch.error
        seen = set()
        for c in self._results.get(id(ctx), []):
            ins = c.key[1]
            k = (c.line, c.code, c.message)
            if k in seen:
                continue
            seen.add(k)
            yield Hit(c.line, c.message, c.column, ins, ins.end_line, code=c.code, severity=c.level)

    def notes(self):
        return [self._note] if self._note else []


RULE = ShellCheck()
