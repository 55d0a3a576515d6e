"""str_replace_editor semantics (view, create, str_replace, insert, undo_edit) on a real working copy."""

import os
import shutil

import pytest

from envs.swe.editor import Editor, EditorError

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

SOURCE = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture
def workdir(tmp_path):
    work = tmp_path / "work"
    (work / "pkg" / "deep" / "deeper").mkdir(parents=True)
    (work / "pkg" / "mod.py").write_text(SOURCE)
    (work / "pkg" / "deep" / "deeper" / "far.py").write_text("x = 1\n")
    (work / ".hidden").write_text("secret\n")
    return work


@pytest.fixture
def editor(workdir, tmp_path):
    from envs.swe.bwrap import BwrapBackend

    backend = BwrapBackend(cache_dir=tmp_path / "cache", work_root=tmp_path / "sandboxes")
    return Editor(backend.wrap(workdir), max_output_chars=2000)


def run(editor, **args):
    return editor.run(args)


def test_view_file_numbers_lines(editor):
    out = run(editor, command="view", path="/testbed/pkg/mod.py")
    assert "     1\tdef add(a, b):" in out
    assert "     6\t    return a - b" in out


def test_view_range(editor):
    out = run(editor, command="view", path="/testbed/pkg/mod.py", view_range=[5, -1])
    assert "     5\tdef sub(a, b):" in out and "def add" not in out
    with pytest.raises(EditorError, match="view_range"):
        run(editor, command="view", path="/testbed/pkg/mod.py", view_range=[4, 99])


def test_view_directory_two_levels_without_hidden(editor):
    out = run(editor, command="view", path="/testbed")
    assert "/testbed/pkg/mod.py" in out and "/testbed/pkg/deep" in out
    assert "far.py" not in out and ".hidden" not in out


def test_str_replace_requires_a_unique_match(editor, workdir):
    with pytest.raises(EditorError, match="2 times"):
        run(editor, command="str_replace", path="/testbed/pkg/mod.py", old_str="return a - b", new_str="x")
    with pytest.raises(EditorError, match="not found"):
        run(editor, command="str_replace", path="/testbed/pkg/mod.py", old_str="return a * b", new_str="x")
    out = run(
        editor,
        command="str_replace",
        path="/testbed/pkg/mod.py",
        old_str="def add(a, b):\n    return a - b",
        new_str="def add(a, b):\n    return a + b",
    )
    assert "return a + b" in out
    assert (workdir / "pkg" / "mod.py").read_text() == SOURCE.replace("return a - b", "return a + b", 1)


def test_insert_after_line_and_at_top(editor, workdir):
    run(editor, command="insert", path="/testbed/pkg/mod.py", insert_line=2, new_str="# after add")
    run(editor, command="insert", path="/testbed/pkg/mod.py", insert_line=0, new_str="import os\n")
    lines = (workdir / "pkg" / "mod.py").read_text().splitlines()
    assert lines[0] == "import os" and lines[3] == "# after add"
    with pytest.raises(EditorError, match="between 0 and"):
        run(editor, command="insert", path="/testbed/pkg/mod.py", insert_line=99, new_str="x")


def test_create_refuses_to_overwrite_and_makes_parents(editor, workdir):
    with pytest.raises(EditorError, match="already exists"):
        run(editor, command="create", path="/testbed/pkg/mod.py", file_text="")
    run(editor, command="create", path="/testbed/new/dir/file.py", file_text="print(1)\n")
    assert (workdir / "new" / "dir" / "file.py").read_text() == "print(1)\n"


def test_undo_edit_reverts_edits_in_order_and_creation(editor, workdir):
    path = workdir / "pkg" / "mod.py"
    run(editor, command="str_replace", path="/testbed/pkg/mod.py", old_str="def add", new_str="def plus")
    run(editor, command="insert", path="/testbed/pkg/mod.py", insert_line=0, new_str="# header")
    run(editor, command="undo_edit", path="/testbed/pkg/mod.py")
    assert path.read_text() == SOURCE.replace("def add", "def plus")
    run(editor, command="undo_edit", path="/testbed/pkg/mod.py")
    assert path.read_text() == SOURCE
    with pytest.raises(EditorError, match="no editor change to undo"):
        run(editor, command="undo_edit", path="/testbed/pkg/mod.py")
    run(editor, command="create", path="/testbed/tmp.txt", file_text="hi")
    run(editor, command="undo_edit", path="/testbed/tmp.txt")
    assert not (workdir / "tmp.txt").exists()


def test_paths_outside_the_working_copy_are_refused(editor, workdir, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file\n")
    os.symlink(outside, workdir / "link.txt")
    for path in ["/etc/passwd", "/testbed/../etc/passwd", "/testbed/link.txt"]:
        with pytest.raises(EditorError, match="outside"):
            run(editor, command="view", path=path)
    with pytest.raises(EditorError, match="outside"):
        run(editor, command="str_replace", path="/testbed/link.txt", old_str="host", new_str="pwned")
    with pytest.raises(EditorError, match="absolute"):
        run(editor, command="view", path="pkg/mod.py")
    assert outside.read_text() == "host file\n"


def test_missing_file_and_non_text(editor, workdir):
    with pytest.raises(EditorError, match="does not exist"):
        run(editor, command="view", path="/testbed/nope.py")
    (workdir / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(EditorError, match="UTF-8"):
        run(editor, command="view", path="/testbed/blob.bin")


def test_long_output_is_clipped(editor, workdir):
    (workdir / "big.py").write_text("x = 1\n" * 5000)
    out = run(editor, command="view", path="/testbed/big.py")
    assert len(out) < 2200 and "clipped" in out
