"""Finding ALFWorld games on disk: the official ``json_2.1.1`` layout, which our generator also writes.

A game is a folder holding ``traj_data.json`` and a ``game.tw-pddl`` marked solvable, under
``<root>/json_2.1.1/{train,valid_seen,valid_unseen}/<task folder>/<trial folder>/``. The same rules as
ALFWorld's ``AlfredTWEnv.collect_game_files`` apply (movable-receptacle and sliced tasks are skipped,
unsolvable games are skipped), so official data downloaded with ``alfworld-download`` and our
generated sets are read by one code path. A game's task id is its folder relative to the split
folder, which names the task type (verl-agent counts per-type success by substrings of it).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

JSON_DIR = "json_2.1.1"

# Our split names (as in ALFWorld's AlfredTWEnv) -> the official folder names.
SPLIT_DIRS: dict[str, str] = {
    "train": "train",
    "eval_in_distribution": "valid_seen",
    "eval_out_of_distribution": "valid_unseen",
}
_SPLIT_ALIASES = {v: k for k, v in SPLIT_DIRS.items()}

SUPPORTED_TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

_SOLVABLE = re.compile(r'"solvable"\s*:\s*(true|false)')


@dataclass(frozen=True)
class GameEntry:
    task_id: str
    game_file: str
    traj_file: str
    task_type: str


def canonical_split(split: str) -> str:
    """Accept our split names and the official folder names alike."""
    if split in SPLIT_DIRS:
        return split
    if split in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[split]
    raise ValueError(
        f"unknown ALFWorld split {split!r}; use one of {sorted(SPLIT_DIRS)} (or {sorted(_SPLIT_ALIASES)})"
    )


def split_dir(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / JSON_DIR / SPLIT_DIRS[canonical_split(split)]


def _is_solvable(game_file: Path) -> bool:
    """Read the flag without parsing the whole (large) game file; absent means unchecked, skip."""
    match = _SOLVABLE.search(game_file.read_text())
    return bool(match) and match.group(1) == "true"


@functools.cache
def _collect(folder: str) -> tuple[GameEntry, ...]:
    entries = []
    skipped = 0
    for traj_file in sorted(Path(folder).rglob("traj_data.json")):
        game_dir = traj_file.parent
        rel = game_dir.relative_to(folder).as_posix()
        game_file = game_dir / "game.tw-pddl"
        if "movable" in rel or "Sliced" in rel or not game_file.exists():
            skipped += 1
            continue
        try:
            task_type = json.loads(traj_file.read_text())["task_type"]
        except (OSError, json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"malformed ALFWorld traj_data.json at {traj_file}: {err}") from err
        if task_type not in SUPPORTED_TASK_TYPES or not _is_solvable(game_file):
            skipped += 1
            continue
        entries.append(GameEntry(rel, str(game_file), str(traj_file), task_type))
    if skipped:
        log.info(
            "ALFWorld %s: %d games, %d skipped (unsupported type, unsolvable or missing game file)",
            folder,
            len(entries),
            skipped,
        )
    return tuple(entries)


def collect_games(root: str | os.PathLike, split: str) -> list[GameEntry]:
    """All playable games of a split, sorted by task id (listing is cached per process)."""
    folder = split_dir(root, split)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no ALFWorld split folder {folder}: expected the official layout "
            f"<data_dir>/{JSON_DIR}/{{train,valid_seen,valid_unseen}}/**/traj_data.json + game.tw-pddl"
        )
    games = list(_collect(str(folder.resolve())))
    if not games:
        raise FileNotFoundError(
            f"no playable ALFWorld games (traj_data.json + solvable game.tw-pddl) under {folder}"
        )
    return games
