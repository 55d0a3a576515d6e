"""Finding ALFWorld games on disk: the official ``json_2.1.1`` layout, which our generator also writes.

Both official game releases unpack into this layout (2.1.1 and the 2.1.2 re-release that
``alfworld-download`` of alfworld 0.4.x fetches, see ``releases``); each game's release is read from
its grammar and a split that mixes them is refused.

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

from envs.alfworld.releases import release_of_text

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
    release: str


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


def _solvable_and_release(game_file: Path) -> tuple[bool, str]:
    """The solvable flag (absent means unchecked: skip, as ALFWorld does) and the release, read
    without parsing the whole (large) game file; a truncated or foreign file raises here."""
    text = game_file.read_text()
    match = _SOLVABLE.search(text)
    return bool(match) and match.group(1) == "true", release_of_text(text, game_file)


def _check_one_release(folder: str, entries: list[GameEntry]) -> None:
    """A split mixing releases (a half-applied patch, two downloads unpacked into one folder) would
    score an agent on two command grammars at once; name one game of each release."""
    first: dict[str, str] = {}
    for entry in entries:
        first.setdefault(entry.release, entry.game_file)
    if len(first) > 1:
        listed = "; ".join(f"{release}: {path}" for release, path in sorted(first.items()))
        raise ValueError(
            f"ALFWorld split {folder} mixes game releases ({listed}); use one release per data dir"
        )


@functools.cache
def _collect(folder: str) -> tuple[GameEntry, ...]:
    entries = []
    skipped = 0
    missing_game_files = 0
    for traj_file in sorted(Path(folder).rglob("traj_data.json")):
        game_dir = traj_file.parent
        rel = game_dir.relative_to(folder).as_posix()
        game_file = game_dir / "game.tw-pddl"
        if "movable" in rel or "Sliced" in rel:
            skipped += 1
            continue
        if not game_file.exists():
            skipped += 1
            missing_game_files += 1
            continue
        try:
            traj = json.loads(traj_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"malformed ALFWorld traj_data.json at {traj_file}: {err}") from err
        # ALFWorld's expert wrapper reads pddl_params at every reset: missing, it would fail mid-training.
        missing = [key for key in ("task_type", "pddl_params") if key not in traj]
        if missing:
            raise ValueError(f"malformed ALFWorld traj_data.json at {traj_file}: missing {missing}")
        task_type = traj["task_type"]
        if task_type not in SUPPORTED_TASK_TYPES:
            skipped += 1
            continue
        solvable, release = _solvable_and_release(game_file)
        if not solvable:
            skipped += 1
            continue
        entries.append(GameEntry(rel, str(game_file), str(traj_file), task_type, release))
    if not entries and missing_game_files:
        raise FileNotFoundError(
            f"ALFWorld split {folder}: {missing_game_files} trials have traj_data.json but no game.tw-pddl; "
            "the game archive (json_2.1.2_tw-pddl.zip, fetched by alfworld-download) was not unpacked here"
        )
    _check_one_release(folder, entries)
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
