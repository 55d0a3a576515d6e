"""A clone must run, test and read on its own: no tracked file may point at the development ``shared`` folder
beside the repository, which users do not have (the reference vectors live in tests/data)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = "/".join(("..", "shared"))  # spelled in pieces: this file names no such path


def test_no_tracked_file_refers_to_a_folder_outside_the_repo() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    this = Path(__file__).resolve().relative_to(REPO).as_posix()
    offenders = []
    for name in listed.stdout.decode().split("\0"):
        path = REPO / name
        if not name or name == this or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        offenders += [
            f"{name}:{number}" for number, line in enumerate(text.splitlines(), 1) if OUTSIDE in line
        ]
    assert not offenders, f"these lines refer to {OUTSIDE}, which a clone does not have: {offenders}"
