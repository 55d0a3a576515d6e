"""What a model's actions look like: greedy episodes on a split, each action kind with its admissible share.

A held-out success of 0 says nothing about why. This plays greedy episodes with a model folder (an SFT start, an
exported checkpoint) and counts, per kind of action (the word before ``[``, or the first word), how many were
valid (with ``rollout.invalid_turn: inadmissible``, how many the env listed as admissible), with the commonest
invalid ones: a model that recalls names instead of copying them from its prompt shows there.

    python scripts/action_report.py --model runs/<run>/sft_model --config configs/quickstart_webshop.yaml
    python scripts/action_report.py --model runs/<run>/sft_model --split train --episodes 40 [overrides ...]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

from trainer.config import ConfigError, check_model_folder, load_config

_KIND = re.compile(r"^\s*([A-Za-z_]+)")


def action_kind(action: object) -> str:
    """``click[b0abc]`` -> ``click``; ``go to desk 1`` -> ``go``; anything else -> ``other``."""
    match = _KIND.match(str(action))
    return match.group(1).lower() if match else "other"


def repeats_a_rejected_action(trajectory) -> bool:
    """The episode wrote one rejected action twice or more: the student is stuck where nothing changes."""
    rejected = collections.Counter(str(turn.action) for turn in trajectory.turns if not turn.valid)
    return any(count > 1 for count in rejected.values())


def report(trajectories, examples: int = 5) -> str:
    """A markdown table: per action kind, turns, valid turns and the commonest invalid actions."""
    turns = collections.Counter()
    accepted = collections.Counter()
    rejected: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for trajectory in trajectories:
        for turn in trajectory.turns:
            kind = action_kind(turn.action)
            turns[kind] += 1
            if turn.valid:
                accepted[kind] += 1
            else:
                rejected[kind][str(turn.action)] += 1
    won = sum(t.won for t in trajectories)
    lost = [t for t in trajectories if not t.won]
    looping = sum(repeats_a_rejected_action(t) for t in lost)
    lines = [
        f"{len(trajectories)} episodes, {won} won; of the {len(lost)} lost, {looping} repeat an action the env "
        "rejected (a loop)",
        "",
        "| action kind | turns | valid | commonest invalid |",
        "|---|---|---|---|",
    ]
    for kind, count in turns.most_common():
        common = ", ".join(f"`{a}` x{n}" for a, n in rejected[kind].most_common(examples))
        lines.append(
            f"| {kind} | {count} | {accepted[kind]} ({accepted[kind] / count:.0%}) | {common or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="Hugging Face model folder")
    parser.add_argument("--config", type=Path, help="config file (default: the quickstart)")
    parser.add_argument(
        "--split", choices=["train", "eval"], default="eval", help="the env's training or held-out tasks"
    )
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("overrides", nargs="*", help="dotted config overrides")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes: {args.episodes} is not a positive number of episodes")
    try:
        config = load_config(args.config, args.overrides)
        check_model_folder(args.model, config.model.max_context_tokens, key="--model")
    except ConfigError as exc:
        parser.error(str(exc))

    from rollout import play
    from trainer.build import splits
    from trainer.run import model_on_split

    split = splits(config)[0 if args.split == "train" else 1]
    with model_on_split(config, args.model, split, args.episodes, min(16, args.episodes)) as (runner, tasks):
        trajectories = play(runner, tasks, greedy=True, seed=config.trainer.seed, desc=split)
    print(f"{args.model} on {config.env.name} {split} tasks, greedy:\n")
    print(report(trajectories))


if __name__ == "__main__":
    main()
