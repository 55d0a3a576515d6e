"""Unified diffs: make them, read them into per-file hunks, apply them to text.

The generator writes gold patches and test patches with `make_diff`; the gold-patch expert reads
them back with `parse_diff` to turn each hunk into an editor action. `git apply` stays the
authority when a patch is applied to a working copy; `apply_hunks` only exists so the expert
can predict the fixed file without running anything.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    pass


@dataclass
class Hunk:
    old_start: int
    old_lines: list[str] = field(default_factory=list)  # lines with their newline, context + removed
    new_lines: list[str] = field(default_factory=list)  # context + added

    @property
    def old_text(self) -> str:
        return "".join(self.old_lines)

    @property
    def new_text(self) -> str:
        return "".join(self.new_lines)


@dataclass
class FilePatch:
    old_path: str | None  # None for a created file
    new_path: str | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def make_diff(path: str, old: str, new: str, context: int = 3) -> str:
    """A git-style diff of one text file ('' on either side means absent)."""
    if old == new:
        return ""
    old_name = f"a/{path}" if old else "/dev/null"
    new_name = f"b/{path}" if new else "/dev/null"
    body = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name, n=context
    )
    lines = [f"diff --git a/{path} b/{path}\n"]
    if not old:
        lines.append("new file mode 100644\n")
    elif not new:
        lines.append("deleted file mode 100644\n")
    for line in body:
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_diff(text: str) -> list[FilePatch]:
    """Per-file hunks of a unified diff (git or plain); raises PatchError on malformed input."""
    files: list[FilePatch] = []
    lines = text.splitlines(keepends=True)
    i = 0
    current: FilePatch | None = None
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = FilePatch(_strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:]))
            files.append(current)
            i += 2
            continue
        match = HUNK_HEADER.match(line)
        if match:
            if current is None:
                raise PatchError(f"hunk before any file header at line {i + 1}")
            old_count = int(match.group(2)) if match.group(2) is not None else 1
            new_count = int(match.group(4)) if match.group(4) is not None else 1
            hunk = Hunk(old_start=int(match.group(1)))
            i += 1
            while (old_count > 0 or new_count > 0) and i < len(lines):
                body = lines[i]
                tag, content = body[:1], body[1:]
                if body.startswith("\\"):
                    i += 1
                    continue
                if tag == " " or body in ("\n", "\r\n"):
                    content = content if tag == " " else body
                    hunk.old_lines.append(content)
                    hunk.new_lines.append(content)
                    old_count -= 1
                    new_count -= 1
                elif tag == "-":
                    hunk.old_lines.append(content)
                    old_count -= 1
                elif tag == "+":
                    hunk.new_lines.append(content)
                    new_count -= 1
                else:
                    raise PatchError(f"unexpected line in hunk at line {i + 1}: {body!r}")
                i += 1
            if old_count != 0 or new_count != 0:
                raise PatchError("hunk is shorter than its header says")
            if i < len(lines) and lines[i].startswith("\\"):
                _drop_final_newline(hunk, lines[i - 1][:1])
                i += 1
            current.hunks.append(hunk)
            continue
        i += 1
    return files


def _drop_final_newline(hunk: Hunk, tag: str) -> None:
    """'\\ No newline at end of file' applies to the line just before it."""
    targets = {"-": [hunk.old_lines], "+": [hunk.new_lines], " ": [hunk.old_lines, hunk.new_lines]}
    for side in targets.get(tag, []):
        if side and side[-1].endswith("\n"):
            side[-1] = side[-1][:-1]


def apply_hunks(text: str, hunks: list[Hunk]) -> str:
    """Apply hunks by exact text search (each old block must occur exactly once)."""
    for hunk in hunks:
        old, new = hunk.old_text, hunk.new_text
        if not old:
            text = new + text if hunk.old_start <= 1 else text + new
            continue
        count = text.count(old)
        if count != 1:
            raise PatchError(f"hunk at line {hunk.old_start} matches {count} places")
        text = text.replace(old, new, 1)
    return text


def touched_paths(text: str) -> list[str]:
    return [f.path for f in parse_diff(text)]
