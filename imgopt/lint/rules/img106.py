"""IMG106: Installer archives copied in and left in the image"""

from __future__ import annotations

import fnmatch
import posixpath

from imgopt.lint.coldstart import absolute, cd_dirs, context_size, copy_parts, covers, final_instructions, rm_targets
from imgopt.lint.costs import describe
from imgopt.lint.helpers import basename, is_pip_install
from imgopt.lint.rule import Rule


INSTALLER_EXT = (".deb", ".rpm", ".apk", ".whl", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
                 ".tar.zst", ".zip", ".egg")
EXTRACTED_BY_ADD = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst")


def installs_from(c, path: str, cwd: str) -> bool:
    """Does command ``c`` install packages from ``path`` (an archive, or a directory of them)?"""
    n = c.basename
    installer = (is_pip_install(c) or n in ("dpkg", "rpm", "apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper",
                                           "tar", "unzip", "npm", "yarn", "pnpm", "gem", "easy_install", "uv"))
    if not installer:
        return False
    args = c.args
    links = set(c.flag_values("f") + c.flag_values("find-links")) if is_pip_install(c) or n == "uv" else set()
    for k, a in enumerate(args):
        v = a.split("=", 1)[1] if a.startswith("--") and "=" in a else a
        if "$" in v or not v or (v.startswith("-") and v not in links):
            continue
        p = absolute(v, cwd)
        if v in links and (p == path or covers(p, path)):
            return True  # pip --find-links DIR
        inside = p == path or p.startswith(path.rstrip("/") + "/") or (
            any(ch in p for ch in "*?[") and (fnmatch.fnmatchcase(path, p) or p.startswith(path.rstrip("/") + "/")))
        if inside and (p == path and path.lower().endswith(INSTALLER_EXT) or p.lower().endswith(INSTALLER_EXT)):
            return True
    return False


class IMG106(Rule):
    id = "IMG106"
    severity = "warning"
    title = "Installer copied into the image and left there"
    config = ("cost-registries",)
    what = """Flags a COPY/ADD, in the final image's stages, of package files (`*.deb`, `*.rpm`, `*.apk`,
`*.whl`, archives) or of a directory that a later RUN installs from (`pip install --find-links
/wheels`, `dpkg -i /tmp/*.deb`...), and a RUN that downloads such a file and does not remove it in
the same RUN.  Their size is given when they are in the build context."""
    why = """The installed result is what the application needs; the installer stays in its COPY layer
for every pull, even if a later RUN deletes it.  Mount it for the one RUN that installs it
(`RUN --mount=type=bind,source=wheels,target=/wheels pip install --no-index --find-links /wheels ...`)
or install in a build stage."""
    bad = """COPY wheels/ /wheels/
RUN pip install --no-index --find-links /wheels -r requirements.txt"""
    good = """RUN --mount=type=bind,source=wheels,target=/wheels \\
    pip install --no-cache-dir --no-index --find-links /wheels -r requirements.txt"""

    def check(self, ctx):
        steps = list(final_instructions(ctx))
        for k, step in enumerate(steps):
            ins = step.ins
            if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None:
                srcs, dest = copy_parts(ins)
                if not srcs:
                    continue
                d = absolute(ctx.expand(ins, dest) or dest, step.cwd)
                multi = len(srcs) > 1 or dest.endswith("/")
                for s in srcs:
                    if s.startswith(("http://", "https://")) or s in (".", "./", "*"):
                        continue
                    low = s.lower().rstrip("/")
                    if ins.keyword == "ADD" and low.endswith(EXTRACTED_BY_ADD):
                        continue  # ADD unpacks local tar archives
                    target = posixpath.join(d, basename(s.rstrip("/"))) if multi and not s.endswith("/") else d
                    archive = low.endswith(INSTALLER_EXT)
                    if not archive and target.rstrip("/").count("/") < 2 and target.rstrip("/") in (
                            "", "/usr", "/etc", "/opt", "/var", "/srv", "/home", "/root"):
                        continue  # a tree copied over the root or a system directory: not an installer
                    user = self._used_by(ctx, steps[k + 1:], target)
                    if not archive and user is None:
                        continue
                    if archive and user is None and not low.endswith((".deb", ".rpm", ".apk", ".whl")):
                        continue  # an archive nobody installs from may be data
                    size = context_size(ctx, s.rstrip("/"))
                    how = f", installed from at line {user.start_line}" if user is not None else ""
                    yield self.hit(ins, f"{s} is copied into the image{how} and stays in this layer: bind-mount it "
                                        "for the RUN that installs it, or install in a build stage",
                                   describe(size) if size else "")
            elif ins.keyword == "RUN":
                yield from self._downloads(ctx, step)

    @staticmethod
    def _used_by(ctx, later, target):
        for st in later:
            if st.ins.keyword != "RUN":
                continue
            cmds = ctx.commands(st.ins)
            for c, cwd in zip(cmds, cd_dirs(cmds, st.cwd)):
                if installs_from(c, target, cwd):
                    return st.ins
        return None

    def _downloads(self, ctx, step):
        from imgopt.lint.rules.img105 import downloads

        ins = step.ins
        cmds = ctx.commands(ins)
        dirs = cd_dirs(cmds, step.cwd)
        got = [(p, c) for c, cwd in zip(cmds, dirs) for p in downloads(c, cwd)]
        if not got:
            return
        removed = [absolute(t, cwd) for c, cwd in zip(cmds, dirs) for t in rm_targets(c)]
        for p, c in got:
            if not p.lower().endswith(INSTALLER_EXT):
                continue
            if any(covers(r, p) for r in removed):
                continue
            yield self.hit(ins, f"{p} is downloaded and not removed in the same RUN: the archive stays in this "
                                "layer (remove it in this RUN, or pipe the download into the extractor)")
            return


RULE = IMG106()
