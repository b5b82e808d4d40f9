"""DL3033: Specify version with yum install -y <package>-<version>"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3033(Rule):
    id = "DL3033"
    severity = "warning"
    origin = "hadolint"
    title = "Specify version with `yum install -y <package>-<version>`."
    what = """Flags `yum install` of a package without `-version` (`.rpm` files need none; a package name
with `${VAR}` is fine when VAR is an ARG or an ENV of the stage), and `yum module install` of a module
without `:stream`."""
    why = """An unpinned install takes whatever the repository has at build time."""
    bad = """RUN yum install -y httpd"""
    good = """RUN yum install -y httpd-2.4.57"""
    hadolint = "Same as hadolint."
    manager = ("yum",)
    skip_subcommands = ("module",)

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            env = ctx.env(ins)
            cmds = ctx.commands(ins, hadolint=True)
            pkgs, modules = [], []
            for c in cmds:
                if c.name not in self.manager or "install" not in c.args:
                    continue
                args = [a for a in c.args_no_flags() if a not in ("install", "module")]
                if c.has_args("module"):
                    modules.extend(args)
                elif not c.has_args(*self.skip_subcommands):
                    pkgs.extend(args)
            if not all(version_fixed(p, env) for p in pkgs) or not all(":" in m for m in modules):
                yield self.hit(ins)


def version_fixed(pkg: str, env) -> bool:
    parts = pkg.split("-")
    if len(parts) <= 1:
        return False
    if pkg.endswith(".rpm"):
        return True
    if "$" in pkg:
        return any("${" + v + "}" in pkg for v in env)
    rest = parts[1:]
    ok_chars = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.~^_:+")
    return all(all(ch in ok_chars for ch in p) for p in rest) and any(p[:1].isdigit() for p in rest)


RULE = DL3033()
