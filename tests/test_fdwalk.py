"""imgopt.fdwalk: every entry once, any depth, symlinks not followed."""

import os

from imgopt import fdwalk


def _names(root):
    out = set()
    for dir_fd, name, st in fdwalk.walk(root):
        # the descriptor really is the entry's directory
        assert os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_ino == st.st_ino
        out.add(st.st_ino)
    return out


def test_matches_os_walk_on_a_normal_tree(tmp_path):
    for d in ("a/b/c", "a/d", "e"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("a/x", "a/b/y", "a/b/c/z", "e/w"):
        (tmp_path / f).write_text(f)
    os.symlink("/etc", tmp_path / "a" / "link")  # never followed
    expected = set()
    for dirpath, dirs, files in os.walk(tmp_path):
        for n in dirs + files:
            expected.add(os.lstat(os.path.join(dirpath, n)).st_ino)
    assert _names(str(tmp_path)) == expected
    assert len(expected) == 10


def test_deeper_than_recursion_limit_and_path_max(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    depth = 3000  # 'dd/' * 3000 is beyond PATH_MAX, and beyond the recursion limit
    try:
        for _ in range(depth):
            os.mkdir("dd", dir_fd=fd)
            nfd = os.open("dd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open("leaf", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd), "w") as f:
            f.write("x")
    finally:
        os.close(fd)
    entries = list((name, os.path.isdir) for _fd, name, _st in fdwalk.walk(str(tmp_path)))
    assert len(entries) == depth + 1
    assert entries[-1][0] == "leaf"
    from imgopt.scratch import remove_tree

    assert remove_tree(str(tmp_path / "dd"))
