"""The gold-patch expert: from any working-copy state, the next editor action towards the gold fix.

It looks at the files the gold patch touches: a file already equal to its fixed text needs
nothing; otherwise the first hunk whose old text still occurs once is applied with str_replace
(the way an agent would); a file changed in some other way is replaced whole. When every file
matches, the expert submits. Its actions are structured dicts, as the env's `step` accepts them.
"""

from __future__ import annotations

import posixpath
import shlex

from envs.swe.patches import FilePatch, PatchError, apply_hunks, parse_diff
from envs.swe.sandbox import SANDBOX_ROOT, Sandbox, SandboxError


class GoldPatchExpert:
    def __init__(self, patch: str, sandbox: Sandbox) -> None:
        """Reads the base version of every patched file now, while the working copy is pristine."""
        self.sandbox = sandbox
        self.targets: list[tuple[str, FilePatch, str | None]] = []
        for file_patch in parse_diff(patch):
            path = posixpath.join(SANDBOX_ROOT, file_patch.path)
            if file_patch.new_path is None:
                self.targets.append((path, file_patch, None))
                continue
            base = "" if file_patch.old_path is None else self._read(path)
            if base is None:
                raise PatchError(f"gold patch modifies {file_patch.path}, which is not in the base commit")
            self.targets.append((path, file_patch, apply_hunks(base, file_patch.hunks)))

    def _read(self, path: str) -> str | None:
        if self.sandbox.path_kind(path) != "file":
            return None
        try:
            return self.sandbox.read_file(path).decode("utf-8")
        except (SandboxError, UnicodeDecodeError):
            return None

    def next_action(self) -> dict:
        for path, file_patch, gold in self.targets:
            current = self._read(path)
            if gold is None:
                if current is not None:
                    return {"tool": "bash", "command": f"rm -f {shlex.quote(path)}"}
                continue
            if current == gold:
                continue
            if current is None:
                return {"tool": "str_replace_editor", "command": "create", "path": path, "file_text": gold}
            for hunk in file_patch.hunks:
                if hunk.old_text and hunk.old_text != hunk.new_text and current.count(hunk.old_text) == 1:
                    return {
                        "tool": "str_replace_editor",
                        "command": "str_replace",
                        "path": path,
                        "old_str": hunk.old_text,
                        "new_str": hunk.new_text,
                    }
            if current:
                return {
                    "tool": "str_replace_editor",
                    "command": "str_replace",
                    "path": path,
                    "old_str": current,
                    "new_str": gold,
                }
            return {"tool": "bash", "command": f"rm -f {shlex.quote(path)}"}
        return {"tool": "submit"}
