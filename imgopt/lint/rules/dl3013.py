"""DL3013: Pin versions in pip"""

from __future__ import annotations

from imgopt.lint.helpers import is_pip_install
from imgopt.lint.rule import Rule


VERSION_SYMBOLS = ("==", ">=", "<=", ">", "<", "!=", "~=", "===")
VCS = ("git+file", "git+https", "git+ssh", "git+http", "git+git", "git", "hg+file", "hg+http", "hg+https",
       "hg+ssh", "hg+static-http", "svn", "svn+svn", "svn+http", "svn+https", "svn+ssh", "bzr+http",
       "bzr+https", "bzr+ssh", "bzr+sftp", "bzr+ftp", "bzr+lp")
VALUE_FLAGS = ("abi", "b", "build", "e", "editable", "extra-index-url", "f", "find-links", "i", "index-url",
               "implementation", "no-binary", "only-binary", "platform", "prefix", "progress-bar", "proxy",
               "python", "python-version", "root", "root-user-action", "src", "t", "target", "trusted-host",
               "upgrade-strategy")


def version_fixed(p: str) -> bool:
    vcs = p.startswith(VCS)
    return (any(s in p for s in VERSION_SYMBOLS) or (vcs and "@" in p) or p.endswith((".whl", ".tar.gz"))
            or (not vcs and "/" in p))


def packages(cmd) -> list[str]:
    args = cmd.args_no_flags(VALUE_FLAGS)
    if "install" in args:
        args = args[args.index("install"):]
    while args and args[0] == "install":
        args = args[1:]
    return args


class DL3013(Rule):
    id = "DL3013"
    severity = "warning"
    origin = "hadolint"
    title = ("Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` "
             "or `pip install --requirement <requirements file>`")
    what = """Flags `pip install` of a package without a version specifier (`==`, `>=`, `~=`...), unless
it installs from a requirements or constraints file, a local path or wheel, or a VCS URL with `@ref`.
`pip3` and `python -m pip` count."""
    why = """An unpinned pip install takes the newest release at build time; builds stop being repeatable
and may break when a dependency releases."""
    bad = """RUN pip install flask"""
    good = """RUN pip install flask==3.0.2"""
    hadolint = """Same as hadolint, which recognises commands whose name as written starts with `pip` or
`python`: `/opt/venv/bin/pip install flask` is not checked (kept so for compatibility; imgopt's
IMG104 does look at a virtual environment's pip)."""

    def check(self, ctx):
        for ins in ctx.runs(onbuild=True):
            for cmd in ctx.commands(ins, hadolint=True):
                if not is_pip_install(cmd, hadolint=True):
                    continue
                args = cmd.args
                if "--requirement" in args or "-r" in args or "." in args:
                    continue
                if cmd.has_flag("constraint", "c"):
                    continue
                if not all(version_fixed(p) for p in packages(cmd)):
                    yield self.hit(ins)
                    break


RULE = DL3013()
