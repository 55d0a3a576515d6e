"""Counting an ALFWorld data folder's games per split and task type, against the published sizes.

    python -m envs.alfworld.splits DATA_DIR      (DATA_DIR holds json_2.1.1/; default $ALFWORLD_DATA)

Published numbers are over ALFWorld's own game lists (``AlfredTWEnv.collect_game_files``: movable and
sliced tasks, unsolvable games and trials without a game file skipped), which ``dataset`` applies, so
a complete download prints train 3553, valid_seen 140, valid_unseen 134. A smaller count means a
partial download or unzip; the table says which task types are short.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from envs.alfworld import dataset

# ALFWorld's README: "3,553 training games, 140 seen and 134 unseen validation games".
PUBLISHED: dict[str, int] = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}


def split_counts(data_dir: str | os.PathLike) -> dict[str, tuple[Counter, set[str]]]:
    """Per official split folder present: games per task type and the game releases found."""
    counts = {}
    for split, folder in dataset.SPLIT_DIRS.items():
        if not dataset.split_dir(data_dir, split).is_dir():
            continue
        games = dataset.collect_games(data_dir, split)
        counts[folder] = (Counter(g.task_type for g in games), {g.release for g in games})
    if not counts:
        raise FileNotFoundError(f"no ALFWorld split folders under {Path(data_dir) / dataset.JSON_DIR}")
    return counts


def summary_line(data_dir: str | os.PathLike) -> str:
    """One line for ``turnrl doctor``: games per split, release, and whether the sizes are the published ones."""
    counts = split_counts(data_dir)
    parts = [f"{folder} {sum(c.values())}" for folder, (c, _) in counts.items()]
    releases = sorted(set().union(*(r for _, r in counts.values())))
    complete = all(sum(counts[f][0].values()) == n for f, n in PUBLISHED.items() if f in counts)
    verdict = "published sizes" if complete and len(counts) == len(PUBLISHED) else "not the published sizes"
    return f"{', '.join(parts)} (release {'/'.join(releases)}; {verdict})"


def format_table(counts: dict[str, tuple[Counter, set[str]]]) -> str:
    folders = list(counts)
    lines = [f"{'task type':<32}" + "".join(f"{f:>14}" for f in folders)]
    for task_type in dataset.SUPPORTED_TASK_TYPES:
        lines.append(f"{task_type:<32}" + "".join(f"{counts[f][0][task_type]:>14}" for f in folders))
    lines.append(f"{'total':<32}" + "".join(f"{sum(counts[f][0].values()):>14}" for f in folders))
    lines.append(f"{'published':<32}" + "".join(f"{PUBLISHED[f]:>14}" for f in folders))
    lines.append(f"{'release':<32}" + "".join(f"{'/'.join(sorted(counts[f][1])):>14}" for f in folders))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m envs.alfworld.splits", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "data_dir",
        nargs="?",
        default=os.environ.get("ALFWORLD_DATA"),
        help="folder holding json_2.1.1/ (default: $ALFWORLD_DATA)",
    )
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("give DATA_DIR or set ALFWORLD_DATA")
    try:
        counts = split_counts(args.data_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(counts))
    short = [f for f, n in PUBLISHED.items() if f in counts and sum(counts[f][0].values()) != n]
    if short:
        print(f"differs from the published size: {', '.join(short)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
