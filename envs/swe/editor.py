"""The str_replace_editor tool: view, create, str_replace, insert, undo_edit on sandbox files.

Semantics follow the editor used by OpenHands, SWE-agent and R2E-Gym (so agents trained here
transfer): absolute paths, numbered views, str_replace demanding exactly one match, insert after a
line number (0 = top), and a per-file undo history of this editor's own edits. File access goes
through the `Sandbox`, which confines every path to the working copy.
"""

from __future__ import annotations

import posixpath

from envs.swe.sandbox import SANDBOX_ROOT, Sandbox, SandboxError

SNIPPET_CONTEXT = 4


class EditorError(RuntimeError):
    """The edit was refused; the message is shown to the agent."""


class Editor:
    def __init__(self, sandbox: Sandbox, max_output_chars: int = 10_000) -> None:
        self.sandbox = sandbox
        self.max_output_chars = max_output_chars
        self.history: dict[str, list[str | None]] = {}

    def run(self, args: dict) -> str:
        command = args["command"]
        path = self._normalize(args["path"])
        try:
            if command == "view":
                return self._clip(self.view(path, args.get("view_range")))
            if command == "create":
                return self.create(path, args["file_text"])
            if command == "str_replace":
                return self._clip(self.str_replace(path, args["old_str"], args.get("new_str", "")))
            if command == "insert":
                return self._clip(self.insert(path, args["insert_line"], args["new_str"]))
            if command == "undo_edit":
                return self.undo(path)
        except SandboxError as exc:
            raise EditorError(str(exc)) from exc
        raise EditorError(f"unknown editor command {command!r}")

    # ----- commands ----------------------------------------------------------------------------
    def view(self, path: str, view_range: list[int] | None = None) -> str:
        kind = self.sandbox.path_kind(path)
        if kind is None:
            raise EditorError(f"{path} does not exist")
        if kind == "dir":
            if view_range is not None:
                raise EditorError("view_range only applies to files")
            entries = self.sandbox.list_dir(path, max_depth=2)
            listing = "\n".join(entries) if entries else "(empty)"
            return f"Files and directories in {path}, two levels deep, hidden entries left out:\n{listing}"
        lines = self._read(path).split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        start, end = 1, len(lines)
        if view_range is not None:
            start, end = view_range
            if end == -1:
                end = len(lines)
            if not 1 <= start <= max(len(lines), 1):
                raise EditorError(f"view_range start {start} is outside the file's lines 1..{len(lines)}")
            if end < start or end > len(lines):
                raise EditorError(
                    f"view_range end {view_range[1]} must be -1 or between {start} and {len(lines)}"
                )
        body = _numbered(lines[start - 1 : end], start)
        return f"{path} (lines {start}-{end} of {len(lines)}):\n{body}"

    def create(self, path: str, file_text: str) -> str:
        if self.sandbox.path_kind(path) is not None:
            raise EditorError(
                f"{path} already exists; `create` does not overwrite (edit it with str_replace)"
            )
        self.sandbox.write_file(path, file_text.encode("utf-8"))
        self.history.setdefault(path, []).append(None)
        return f"Created {path} ({len(file_text.splitlines())} lines)."

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        text = self._read(path)
        count = text.count(old_str)
        if count == 0:
            raise EditorError(
                f"old_str was not found in {path}; it must match the file exactly, whitespace included"
            )
        if count > 1:
            starts = _occurrence_lines(text, old_str)
            raise EditorError(
                f"old_str occurs {count} times in {path} (starting on lines {starts}); include more lines to make it unique"
            )
        position = text.index(old_str)
        updated = text[:position] + new_str + text[position + len(old_str) :]
        self._write(path, text, updated)
        first = text.count("\n", 0, position) + 1
        last = first + new_str.count("\n")
        return f"Edited {path}. The changed region now reads:\n{_snippet(updated, first, last)}"

    def insert(self, path: str, insert_line: int, new_str: str) -> str:
        text = self._read(path)
        lines = text.splitlines(keepends=True)
        if not 0 <= insert_line <= len(lines):
            raise EditorError(f"insert_line {insert_line} must be between 0 and {len(lines)}")
        block = new_str if new_str.endswith("\n") else new_str + "\n"
        if insert_line > 0 and not lines[insert_line - 1].endswith("\n"):
            lines[insert_line - 1] += "\n"
        updated = "".join(lines[:insert_line]) + block + "".join(lines[insert_line:])
        self._write(path, text, updated)
        first = insert_line + 1
        return f"Inserted into {path}. The region now reads:\n{_snippet(updated, first, first + block.count(chr(10)) - 1)}"

    def undo(self, path: str) -> str:
        stack = self.history.get(path)
        if not stack:
            raise EditorError(f"there is no editor change to undo for {path}")
        previous = stack.pop()
        if previous is None:
            self.sandbox.remove_file(path)
            return f"Undid the creation of {path}; the file is gone."
        self.sandbox.write_file(path, previous.encode("utf-8"))
        return f"Reverted the last edit of {path}."

    # ----- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _normalize(path: str) -> str:
        if not path.startswith("/"):
            raise EditorError(f"path must be absolute (for example {SANDBOX_ROOT}/{path}), got {path!r}")
        return posixpath.normpath(path)

    def _read(self, path: str) -> str:
        kind = self.sandbox.path_kind(path)
        if kind is None:
            raise EditorError(f"{path} does not exist")
        if kind != "file":
            raise EditorError(f"{path} is not a regular file")
        data = self.sandbox.read_file(path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EditorError(f"{path} is not UTF-8 text") from exc

    def _write(self, path: str, before: str, after: str) -> None:
        self.sandbox.write_file(path, after.encode("utf-8"))
        self.history.setdefault(path, []).append(before)

    def _clip(self, text: str) -> str:
        if len(text) <= self.max_output_chars:
            return text
        return text[: self.max_output_chars] + "\n[output clipped: view fewer lines with view_range]"


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{number:6}\t{line}" for number, line in enumerate(lines, start=first))


def _snippet(text: str, first: int, last: int) -> str:
    lines = text.split("\n")
    start = max(1, first - SNIPPET_CONTEXT)
    end = min(len(lines), last + SNIPPET_CONTEXT)
    return _numbered(lines[start - 1 : end], start)


def _occurrence_lines(text: str, needle: str) -> list[int]:
    out, position = [], text.find(needle)
    while position != -1:
        out.append(text.count("\n", 0, position) + 1)
        position = text.find(needle, position + 1)
    return out
