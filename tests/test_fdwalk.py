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


def test_events_leave_each_directory_after_its_contents_from_its_parent(tmp_path):
    for d in ("a/b", "c"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("x")
    order = []
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for kind, dir_fd, name, _st in fdwalk.events(fd):
            if kind is fdwalk.LEAVE:  # dir_fd holds the directory just left
                assert os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            order.append((kind, name))
    finally:
        os.close(fd)
    assert order == [("entry", "a"), ("entry", "b"), ("entry", "f"), ("leave", "b"), ("leave", "a"),
                     ("entry", "c"), ("leave", "c")]


def test_remove_tree_removes_what_blocks_its_own_removal(tmp_path):
    """Directories without read or write permission (0000, 0500) are made ours and removed."""
    from imgopt.scratch import remove_tree

    top = tmp_path / "t"
    (top / "locked" / "inner").mkdir(parents=True)
    (top / "locked" / "inner" / "f").write_text("x")
    (top / "readonly").mkdir()
    (top / "readonly" / "g").write_text("y")
    os.chmod(top / "readonly", 0o500)
    os.chmod(top / "locked", 0o000)
    assert remove_tree(str(top)) and not top.exists()
