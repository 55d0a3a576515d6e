"""The game set an ``ALFWorldEnv`` plays when it is given no data: generated once, then cached.

Location: ``$TURNRL_CACHE/alfworld/<preset>-n<train>-e<eval>-s<seed>-v<generator version>``
(``TURNRL_CACHE`` defaults to ``~/.cache/turnrl``). Several worker processes may construct envs at
the same moment, so the first one builds the set under a file lock into a temporary folder and
renames it into place; the others wait on the lock and then find it ready. Inside a daemonic
process (an ``EnvPool`` worker) no generator processes may be started, so the set is then built
in-process, which is slow: build it up front from the trainer (call ``default_data_dir``) and pass
the returned path as ``data_dir``.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import shutil
import time
from pathlib import Path

from envs.alfworld.generation import generate

log = logging.getLogger(__name__)

DEFAULT_PRESET = "standard"
DEFAULT_NUM_GAMES = 400


def cache_root() -> Path:
    return Path(os.environ.get("TURNRL_CACHE", "~/.cache/turnrl")).expanduser()


def eval_size(num_games: int, num_eval_games: int | None = None) -> int:
    """Games per eval split: ``num_eval_games`` when given, else a quarter of the train size, at least 10.

    Game ``i`` of a split depends only on (seed, split, i, preset), so sets that differ only in their
    train size share their first eval games: a fixed eval size keeps runs with more train games comparable.
    """
    if num_eval_games is not None:
        if num_eval_games < 1:
            raise ValueError(f"num_eval_games must be >= 1, got {num_eval_games}")
        return num_eval_games
    return max(10, num_games // 4)


def default_data_dir(
    preset: str = DEFAULT_PRESET,
    num_games: int = DEFAULT_NUM_GAMES,
    seed: int = 0,
    num_eval_games: int | None = None,
) -> Path:
    """Path of the generated set for these settings, building it first if it is not cached yet."""
    if preset not in generate.PRESETS:
        raise ValueError(f"unknown ALFWorld preset {preset!r}; choose from {sorted(generate.PRESETS)}")
    if num_games < 1:
        raise ValueError(f"num_games must be >= 1, got {num_games}")
    n_eval = eval_size(num_games, num_eval_games)
    name = f"{preset}-n{num_games}-e{n_eval}-s{seed}-v{generate.GENERATOR_VERSION}"
    target = cache_root() / "alfworld" / name
    if (target / generate.MANIFEST).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / generate.MANIFEST).exists():  # built by another process while we waited
            return target
        staging = target.parent / f".{name}.building-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        sizes = {"train": num_games, "eval_in_distribution": n_eval, "eval_out_of_distribution": n_eval}
        log.warning(
            "building the default ALFWorld game set (%s, %d+%d+%d games) in %s; this happens once",
            preset,
            num_games,
            n_eval,
            n_eval,
            target,
        )
        start = time.perf_counter()
        try:
            in_daemon = multiprocessing.current_process().daemon
            generate.generate(staging, sizes, seed=seed, config=preset, workers=1 if in_daemon else None)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.warning("default ALFWorld game set ready in %.0f s", time.perf_counter() - start)
    return target
