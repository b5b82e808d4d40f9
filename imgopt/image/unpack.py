"""Materialize an image's merged filesystem in a directory, safely.

:func:`unpack` is what ``imgopt trace`` runs the entrypoint in and what
``imgopt minify`` builds rootfs subsets with (``keep``).  Semantics are the
Docker engine's overlay2 driver, as modelled by :mod:`imgopt.image.filetree`:
whiteouts, opaque directories, later entries replacing earlier ones.

It works in two passes.  Pass 1 reads every layer once (digests verified) into
the metadata-only :class:`~imgopt.image.filetree.FileTree`, so the final state
of every path is known before anything is written.  Pass 2 writes only what is
visible in the final image (and kept): directories first, then each regular
file from the one layer entry that survives, then symlinks, hardlinks, device
nodes; directory modes and times last (so a 0555 directory can be filled).

Layer tars are hostile input.  Names are normalized (``..`` clamped at the
root, absolute paths made relative) by :mod:`imgopt.image.tarstream`, and on
disk every path is created relative to a directory file descriptor opened
component by component with ``O_NOFOLLOW``: a symlink in the image can never
redirect a write outside ``dest``.  Hardlinks are made between two paths of the
rootfs only (resolved the same way), never to a path named by the tar.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator

from imgopt.errors import BadInput
from imgopt.image.codecs import Compression
from imgopt.image.filetree import FileTree, Node
from imgopt.image.tarstream import Entry, Kind, iter_entries

Keep = Callable[[str], bool]
CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class UnpackResult:
    """What :func:`unpack` wrote (paths are absolute paths inside the image)."""

    root: str
    tree: FileTree  # the merged tree of the whole image (not only what was kept)
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why), e.g. device nodes
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, problem) from the layer tars


def unpack(image, dest: str, keep: Keep | None = None, *, owners: bool | None = None,
           xattrs: bool = False, devices: bool | None = None) -> UnpackResult:
    """Write the merged filesystem of ``image`` into ``dest``.

    ``dest`` must not exist or be an empty directory.  ``keep(path)`` (path
    absolute inside the image, e.g. ``"/usr/bin/env"``) selects what to write:
    a directory is created when it is kept or when anything below it is kept;
    ``None`` keeps everything.  ``owners`` (default: when running as root)
    applies uids/gids; ``devices`` (default: as root) creates device nodes,
    otherwise they are skipped and listed in :attr:`UnpackResult.skipped`;
    ``xattrs`` applies extended attributes (best effort).

    Raises :class:`~imgopt.errors.BadInput` for a corrupt image (digests are
    verified) and when ``dest`` is not an empty directory.
    """
    root_is_root = os.geteuid() == 0
    owners = root_is_root if owners is None else owners
    devices = root_is_root if devices is None else devices
    _prepare_dest(dest)
    tree, origins, problems = _read_tree(image)
    res = UnpackResult(os.path.abspath(dest), tree, problems=problems)
    want = _wanted(tree, keep)
    w = _Writer(res.root, owners, xattrs, devices, res)
    try:
        w.make_dirs(tree, want)
        groups, orphans = _link_groups(tree, want, origins, res)
        for i, layer in enumerate(image.layers):
            w.write_layer(i, layer, tree, want, groups)
        for path in orphans:  # hardlinks to something that is not a file: empty files
            w.write_bytes(path, tree.get(path), b"")
        w.finish_dirs(tree)
    finally:
        w.close()
    return res


# ------------------------------------------------------------------ pass 1


def _prepare_dest(dest: str) -> None:
    try:
        os.makedirs(dest, mode=0o755, exist_ok=True)
    except OSError as e:
        raise BadInput(dest, f"cannot create the unpack directory: {e.strerror}") from None
    if os.path.islink(dest) or not os.path.isdir(dest):
        raise BadInput(dest, "is not a directory")
    if os.listdir(dest):
        raise BadInput(dest, "unpack directory is not empty")


def _read_tree(image) -> tuple[FileTree, dict[str, tuple[int, str]], list[tuple[str, str]]]:
    """The merged tree, and where the content of each final hardlink comes from."""
    tree = FileTree()
    origins: dict[str, tuple[int, str]] = {}  # path -> (layer, path of the FILE entry holding its bytes)
    problems: list[tuple[str, str]] = []
    for i, layer in enumerate(image.layers):
        def note(name: str, problem: str, i: int = i) -> None:
            problems.append((name, f"layer {i}: {problem}"))
        entries = _layer_entries(layer, note)
        ch = tree.apply(i, _track_origins(tree, i, entries, origins))
        problems.extend((p, f"layer {i}: {why}") for p, why in ch.problems)
    return tree, origins, problems


def _layer_entries(layer, note: Callable[[str, str], None]) -> Iterator[tuple[Entry, None]]:
    """Entries of one layer, content skipped; digests verified at the end."""
    f = layer.open_seekable_tar()
    if f is not None:  # uncompressed on local disk: headers only, then hash the blob
        try:
            for e, _m, _r in iter_entries(f, layer.subject, note, seekable=True):
                yield e, None
        finally:
            f.close()
        layer.verify()
        return
    stream = layer.open_tar()
    try:
        for e, _m, _r in iter_entries(stream, layer.subject, note):
            yield e, None
        stream.verify()
    finally:
        stream.close()


def _track_origins(tree: FileTree, i: int, entries: Iterable[tuple[Entry, None]],
                   origins: dict[str, tuple[int, str]]) -> Iterator[tuple[Entry, None]]:
    """Pass entries through, noting which FILE entry each hardlink's bytes come from.

    Runs interleaved with :meth:`FileTree.apply`, so the tree reflects every
    earlier entry when a hardlink is seen.
    """
    for e, d in entries:
        if e.kind is Kind.FILE:
            origins[e.path] = (i, e.path)
        elif e.kind is Kind.HARDLINK:
            target = tree.get(e.linkname)
            src = origins.get(e.linkname) if target is not None and target.kind in (Kind.FILE, Kind.HARDLINK) else None
            if src is not None:
                origins[e.path] = src
            else:
                origins.pop(e.path, None)
        yield e, d


def _wanted(tree: FileTree, keep: Keep | None) -> set[str] | None:
    """Relative paths to write (kept paths and their parents); None for all."""
    if keep is None:
        return None
    want: set[str] = set()
    for path, _node in tree.walk():
        if path in want or not keep("/" + path):
            continue
        want.add(path)
        parent = path.rpartition("/")[0]
        while parent and parent not in want:
            want.add(parent)
            parent = parent.rpartition("/")[0]
    return want


def _link_groups(tree: FileTree, want: set[str] | None, origins: dict[str, tuple[int, str]],
                 res: UnpackResult) -> tuple[dict[tuple[int, str], list[str]], list[str]]:
    """(layer, path of a FILE entry) -> final hardlink paths sharing its bytes; and orphan links."""
    groups: dict[tuple[int, str], list[str]] = {}
    orphans: list[str] = []
    for path, node in tree.walk():
        if node.kind is not Kind.HARDLINK or (want is not None and path not in want):
            continue
        src = origins.get(path)
        if src is None:
            res.problems.append(("/" + path, f"hardlink to {node.linkname!r}, which is not a file: written empty"))
            orphans.append(path)
        else:
            groups.setdefault(src, []).append(path)
    return groups, orphans


# ------------------------------------------------------------------ pass 2


class _Writer:
    """Creates paths below ``root`` through O_NOFOLLOW directory descriptors."""

    def __init__(self, root: str, owners: bool, xattrs: bool, devices: bool, res: UnpackResult):
        self.root = root
        self.owners = owners
        self.xattrs = xattrs
        self.devices = devices
        self.res = res
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._fds: OrderedDict[str, int] = OrderedDict()
        self.dirs: list[str] = []

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        os.close(self.root_fd)

    # -------------------------------------------------------- directories

    def dir_fd(self, rel: str) -> int:
        """An fd for directory ``rel`` (no symlink followed on the way).

        Opened from the nearest cached ancestor down, one component at a time,
        without recursion (an image may nest directories 10,000 deep).
        """
        if not rel:
            return self.root_fd
        fd = self._fds.get(rel)
        if fd is not None:
            self._fds.move_to_end(rel)
            return fd
        # the nearest ancestor with an open fd (or the root), then down; only the
        # directory asked for is cached (a 10,000-deep chain must not hold 10,000 fds)
        missing: list[str] = [rel]
        base, owned = self.root_fd, False
        p = rel
        while True:
            p = p.rpartition("/")[0]
            if not p:
                break
            cached = self._fds.get(p)
            if cached is not None:
                self._fds.move_to_end(p)
                base = cached
                break
            missing.append(p)
        for d in reversed(missing):
            try:
                fd = os.open(d.rpartition("/")[2], _DIR_FLAGS, dir_fd=base)
            finally:
                if owned:
                    os.close(base)
            base, owned = fd, True
        self._fds[rel] = base
        if len(self._fds) > 64:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return base

    def _at(self, rel: str) -> tuple[int, str]:
        parent, _, name = rel.rpartition("/")
        return self.dir_fd(parent), name

    def make_dirs(self, tree: FileTree, want: set[str] | None) -> None:
        for path, node in tree.walk():  # parents before children
            if not node.is_dir or (want is not None and path not in want):
                continue
            pfd, name = self._at(path)
            os.mkdir(name, 0o700, dir_fd=pfd)
            self.dirs.append(path)
            self.res.dirs += 1

    def finish_dirs(self, tree: FileTree) -> None:
        """Directory owners, modes and times, children before parents (times survive).

        A post-order walk with one directory descriptor open at a time: down by
        name (``O_NOFOLLOW``), back up by ``..``, so depth costs neither
        recursion nor descriptors.
        """
        written = set(self.dirs)

        def subdirs(node: Node, path: str) -> Iterator[tuple[str, Node]]:
            for name in sorted(node.children or ()):
                child = node.children[name]  # type: ignore[index]
                cpath = f"{path}/{name}" if path else name
                if child.is_dir and cpath in written:
                    yield cpath, child

        for fd in self._fds.values():  # the walk below keeps its own single descriptor
            os.close(fd)
        self._fds.clear()
        fd = os.dup(self.root_fd)
        stack: list[tuple[str, Node, Iterator[tuple[str, Node]]]] = [("", tree.root, subdirs(tree.root, ""))]
        try:
            while stack:
                path, node, todo = stack[-1]
                nxt = next(todo, None)
                if nxt is not None:
                    cpath, cnode = nxt
                    cfd = os.open(cnode.name, _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = cfd
                    stack.append((cpath, cnode, subdirs(cnode, cpath)))
                    continue
                stack.pop()
                if not stack:
                    break
                up = os.open("..", _DIR_FLAGS, dir_fd=fd)  # before the mode can forbid it
                try:
                    self._meta(fd, None, node.mode, node.uid, node.gid, node.mtime, node.xattrs, symlink=False,
                               label=path)
                finally:
                    os.close(fd)
                    fd = up
        finally:
            os.close(fd)
        # the root directory is the runtime's (0755 root:root), whatever a layer says, as with overlay2
        self._meta(self.root_fd, ".", 0o755, 0, 0, tree.root.mtime, None, symlink=False, label="")

    # -------------------------------------------------------------- files

    def write_layer(self, i: int, layer, tree: FileTree, want: set[str] | None,
                    groups: dict[tuple[int, str], list[str]]) -> None:
        """Write the entries of layer ``i`` that are visible in the final tree."""
        local = layer.local if layer.compression is Compression.NONE else None
        f: BinaryIO | None = layer.open_seekable_tar() if local else None
        src_fd = os.open(local[0], os.O_RDONLY | os.O_CLOEXEC) if f is not None and local else -1
        stream = f if f is not None else layer.open_tar()
        try:
            for e, m, reader in iter_entries(stream, layer.subject, None, seekable=f is not None):
                if e.kind is Kind.FILE:
                    self._file_entry(i, e, tree, want, groups, reader,
                                     (src_fd, local[1] + m.offset_data) if src_fd >= 0 and local else None)
                elif e.kind in (Kind.SYMLINK, Kind.CHAR, Kind.BLOCK, Kind.FIFO):
                    node = tree.get(e.path)
                    if node is not None and node.layer == i and node.kind is e.kind and _is_wanted(e.path, want):
                        self._special(e)
            if f is None:
                stream.verify()  # type: ignore[union-attr]
        finally:
            stream.close()
            if src_fd >= 0:
                os.close(src_fd)

    def _file_entry(self, i: int, e: Entry, tree: FileTree, want: set[str] | None,
                    groups: dict[tuple[int, str], list[str]], reader, local: tuple[int, int] | None) -> None:
        node = tree.get(e.path)
        final = node is not None and node.layer == i and node.kind is Kind.FILE and _is_wanted(e.path, want)
        links = groups.get((i, e.path), [])
        if not final and not links:
            return
        first = e.path if final else links[0]
        meta_node = node if final else tree.get(first)
        assert meta_node is not None
        self._write(first, meta_node, None, e.size, reader, local)
        for other in links:
            if other != first:
                self._link(first, other)

    def write_bytes(self, rel: str, node: Node | None, data: bytes) -> None:
        self._write(rel, node or _Node0(), data, len(data))

    def _write(self, rel: str, node, data: bytes | None, size: int = 0, reader=None,
               local: tuple[int, int] | None = None) -> None:
        pfd, name = self._at(rel)
        _unlink_quiet(name, pfd)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            if data is not None:
                os.write(fd, data)
            elif local is not None:
                _copy_range(local[0], fd, local[1], size)
            else:
                while chunk := reader.read_member(CHUNK):
                    os.write(fd, chunk)
            self._meta(fd, None, node.mode, node.uid, node.gid, node.mtime, node.xattrs, symlink=False, label=rel)
        finally:
            os.close(fd)
        self.res.files += 1
        self.res.bytes += size

    def _link(self, src: str, dst: str) -> None:
        sfd, sname = self._at(src)
        dfd, dname = self._at(dst)
        _unlink_quiet(dname, dfd)
        os.link(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
        self.res.hardlinks += 1

    def _special(self, e: Entry) -> None:
        pfd, name = self._at(e.path)
        _unlink_quiet(name, pfd)
        if e.kind is Kind.SYMLINK:
            os.symlink(e.linkname, name, dir_fd=pfd)
            self.res.symlinks += 1
            self._meta(pfd, name, None, e.uid, e.gid, e.mtime, None, symlink=True, label=e.path)
            return
        if e.kind is Kind.FIFO:
            os.mkfifo(name, 0o600, dir_fd=pfd)
        elif not self.devices:
            self.res.skipped.append(("/" + e.path, f"{e.kind.value} device not created (not root)"))
            return
        else:
            kind = stat.S_IFCHR if e.kind is Kind.CHAR else stat.S_IFBLK
            try:
                os.mknod(name, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
            except OSError as err:
                self.res.skipped.append(("/" + e.path, f"{e.kind.value} device not created: {err.strerror}"))
                return
        self.res.devices += 1
        self._meta(pfd, name, e.mode, e.uid, e.gid, e.mtime, e.xattrs or None, symlink=False, label=e.path)

    # ----------------------------------------------------------- metadata

    def _meta(self, fd: int, name: str | None, mode: int | None, uid: int, gid: int, mtime: int,
              xattrs: dict[str, str] | None, *, symlink: bool, label: str | None = None) -> None:
        """Owner, then mode (chown clears setuid bits), xattrs, then times."""
        target: int | str = fd if name is None else name
        label = "/" + (label or str(name or ""))
        kw = {} if name is None else {"dir_fd": fd, "follow_symlinks": False}
        if self.owners:
            try:
                os.chown(target, uid, gid, **kw)  # type: ignore[arg-type]
            except OSError as e:
                self.res.skipped.append((label, f"owner {uid}:{gid} not set: {e.strerror}"))
        if mode is not None and not symlink:
            os.chmod(target, mode & 0o7777, **({} if name is None else {"dir_fd": fd}))  # type: ignore[arg-type]
        if self.xattrs and xattrs and name is None:
            for k, v in xattrs.items():
                try:
                    os.setxattr(fd, k, v.encode("utf-8", "surrogateescape"))
                except OSError:
                    pass
        try:
            os.utime(target, ns=(mtime * 10**9, mtime * 10**9), **kw)  # type: ignore[arg-type]
        except OSError:
            pass


class _Node0:
    """Metadata of a file written empty (hardlink to nothing)."""

    mode, uid, gid, mtime, xattrs = 0o644, 0, 0, 0, None


def _is_wanted(path: str, want: set[str] | None) -> bool:
    return want is None or path in want


def _unlink_quiet(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:  # cannot happen with a consistent tree; never recurse into it
        raise BadInput(name, "a directory is in the way of a file while unpacking") from None
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def _copy_range(src_fd: int, dst_fd: int, offset: int, size: int) -> None:
    """Copy ``size`` bytes at ``offset`` of ``src_fd`` in the kernel (fallback: pread)."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src_fd, dst_fd, size - done, offset + done)
            if n <= 0:
                break
            done += n
    except OSError:
        pass
    while done < size:
        chunk = os.pread(src_fd, min(CHUNK, size - done), offset + done)
        if not chunk:
            raise BadInput("layer", "tar archive is truncated")
        os.write(dst_fd, chunk)
        done += len(chunk)


__all__ = ["unpack", "UnpackResult", "Keep"]
