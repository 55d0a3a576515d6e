"""What a finished checkpoint is, on disk; importable without torch.

The rule lives here, once: a checkpoint is complete when its folder holds the ``COMPLETE`` marker, which
``CheckpointManager.save`` writes last (after ``deepspeed/``, ``hf/`` and ``trainer_state_rank<r>.pt``), just
before renaming ``.tmp-step_<n>`` to ``step_<n>``. ``CheckpointManager`` (trainer/learner/checkpoint.py) picks
and loads checkpoints with it, and ``turnrl train trainer.resume=PATH`` / ``turnrl eval --checkpoint PATH``
check their argument with it before anything heavy is imported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MARKER = "COMPLETE"
LATEST = "latest"
STEP_DIR = re.compile(r"^step_(\d+)$")
COMPLETE_CHECKPOINT = (
    f"a complete checkpoint is a step_<n> folder holding deepspeed/, hf/, trainer_state_rank<r>.pt "
    f"and the {MARKER} marker, written last"
)
"""One line for error messages: what a complete checkpoint folder holds."""
ADAPTER_CONFIG = "adapter_config.json"
"""What marks a peft adapter folder (a LoRA run's checkpoint holds one in ``adapter/``)."""


def is_complete(path: str | os.PathLike) -> bool:
    """The rule: a folder holding the ``COMPLETE`` marker."""
    path = Path(path)
    return path.is_dir() and (path / MARKER).is_file()


def complete_checkpoints(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of every complete ``step_<n>`` checkpoint directly under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = STEP_DIR.match(child.name)
        if match and is_complete(child):
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_complete(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``root``, or None."""
    complete = complete_checkpoints(root)
    return complete[-1][1] if complete else None


def _newest_inside(path: Path) -> Path | None:
    """The newest complete checkpoint of a checkpoints folder or of a run folder (its ``checkpoints/``)."""
    for root in (path, path / "checkpoints"):
        latest = latest_complete(root)
        if latest is not None:
            return latest
    return None


def why_incomplete(path: str | os.PathLike) -> str | None:
    """None when ``path`` is a complete checkpoint, else one line saying why not."""
    path = Path(path)
    if is_complete(path):
        return None
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is not a folder"
    reason = f"{path} is not a complete checkpoint (no {MARKER} marker)"
    newest = _newest_inside(path)
    if newest is not None:
        reason += f"; the newest complete checkpoint in it is {newest}"
    return reason


def model_folder(path: str | os.PathLike) -> Path:
    """The Hugging Face folder ``turnrl eval --checkpoint PATH`` loads: PATH itself when it holds
    ``config.json`` or is a peft adapter folder (``adapter_config.json``: the caller merges it into its base
    model), a complete checkpoint's ``hf/``, or the ``hf/`` of the newest complete checkpoint of a checkpoints
    folder or a run folder. FileNotFoundError with one line otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder")
    if (path / "config.json").is_file() or (path / ADAPTER_CONFIG).is_file():
        return path
    if (path / "hf").exists():  # a checkpoint folder: only a complete one
        reason = why_incomplete(path)
        if reason is not None:
            raise FileNotFoundError(f"{reason}; {COMPLETE_CHECKPOINT}")
        return path / "hf"
    newest = _newest_inside(path)
    if newest is not None:
        return newest / "hf"
    raise FileNotFoundError(
        f"{path} holds no Hugging Face model (config.json), complete checkpoint or run folder with one "
        f"({COMPLETE_CHECKPOINT})"
    )
