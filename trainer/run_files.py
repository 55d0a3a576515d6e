"""Reading and writing a run folder's text files so that a run killed at any moment leaves them readable.

``metrics.jsonl`` and ``samples.jsonl`` are appended line by line: a kill can cut the last line. Every reader
(``turnrl plot``, ``scripts/results.py``, the resume) goes through ``read_jsonl``, which keeps the complete
records before a cut last line. ``summary.json`` and other whole files are replaced atomically: a reader sees
the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _complete_lines(path: Path) -> list[bytes]:
    """The file's newline-terminated lines; an unterminated last line is what a kill leaves mid-write."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return lines[:-1]  # the part after the last newline: empty, or a cut record


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete record of a JSONL file written by this project, in order (blank lines skipped).

    Each record is written with its newline last, so a kill mid-write leaves an unterminated last line: it is
    left out. A terminated line that does not parse is an error naming the file and line (the file was not
    written by a run, or was edited)."""
    path = Path(path)
    records = []
    for number, line in enumerate(_complete_lines(path), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not a JSON record ({exc})") from None
    return records


def count_records(path: str | os.PathLike) -> int:
    """Complete lines in a JSONL file (what ``keep_records`` keeps)."""
    return len(_complete_lines(Path(path)))


def keep_records(path: str | os.PathLike, count: int) -> None:
    """Cut a JSONL file back to its first ``count`` complete lines (a resume drops what the killed run wrote
    after its checkpoint, and any cut line); a missing file stays missing."""
    path = Path(path)
    if not path.exists():
        return
    lines = _complete_lines(path)[:count]
    write_text_atomic(path, b"".join(line + b"\n" for line in lines).decode())
