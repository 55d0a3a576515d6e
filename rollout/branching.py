"""Groups that start where the current policy fails (``rollout.branch_at_failure``).

A group of G episodes that all start from the reset spends most of its turns where the policy already acts
well; the turn where it goes wrong is reached by only some members, at different points, so the contrast
between a right and a wrong answer there is thin. Here each task is first played once greedily (the policy's
own best guess, same task and reset seed as its group) up to its first failure, and the whole group then starts
from the state just before it: every member replays the greedy episode's earlier actions (env steps, no model
call) and the policy plays from that state on. GiGPO's step group at the branch state then holds all G members.

A failure is the first turn whose action the env rejected or the runner counted invalid, or whose action led
back to a state the episode had already been in; a state is the env's anchor (GiGPO's state key, the
observation when the env gives none) together with its admissible actions, so holding an object or not tells
two visits of one place apart. A greedy episode without a failure (won cleanly, or ended by the turn limit or
an env error) leaves its group starting from the reset.

Replayed actions are no turns: they produce no rows, no advantage and no reward in the episode's return (a
branched member's return is the reward it earned from the branch on; the prefix is the same for every member,
so it carries no contrast). The greedy probe is not trained either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rollout.runner import FROM_RESET, EpisodeRunner, Prefix
from rollout.trajectory import RolloutBatch, Trajectory, Turn


def state_key(turn: Turn) -> tuple[str, tuple[str, ...] | None]:
    """The state a turn acted in: its anchor and the admissible actions the env listed there."""
    actions = turn.admissible_actions
    return turn.anchor, None if actions is None else tuple(actions)


def first_failure(trajectory: Trajectory) -> int | None:
    """Index of the episode's first failed turn (rejected, invalid, or leading back to a state seen before);
    None when it has none. A return is known once the next turn shows where the action led."""
    turns = trajectory.turns
    seen: set[tuple[str, tuple[str, ...] | None]] = set()
    for index, turn in enumerate(turns):
        seen.add(state_key(turn))
        if turn.rejected or not turn.valid:
            return index
        if index + 1 < len(turns) and state_key(turns[index + 1]) in seen:
            return index
    return None


def branch_prefix(probe: Trajectory) -> Prefix:
    """The prefix that leads to the state before the probe's first failure (the reset's when there is none)."""
    failure = None if probe.env_error else first_failure(probe)
    if failure is None:
        return FROM_RESET
    return Prefix(
        actions=tuple(turn.action for turn in probe.turns[:failure]), anchor=probe.turns[failure].anchor
    )


def failure_prefixes(runner: EpisodeRunner, task_ids: Sequence[Any], *, seed: int) -> list[Prefix]:
    """One greedy probe per task (the same reset seeds as ``runner.run(task_ids, seed=seed)``), each stopped at
    its first failure, and the prefix it gives."""
    greedy = replace(runner.config.sampling, temperature=0.0)
    probes = runner.run(
        task_ids,
        group_size=1,
        sampling=greedy,
        seed=seed,
        desc="probe",
        stop_when=lambda trajectory: first_failure(trajectory) is not None,
    )
    return [branch_prefix(probe) for probe in probes]


def rollout_from_failures(runner: EpisodeRunner, task_ids: Sequence[Any], *, seed: int) -> RolloutBatch:
    """``runner.rollout(task_ids, seed=seed)`` with each group started before its greedy probe's first failure."""
    return runner.rollout(task_ids, seed=seed, prefixes=failure_prefixes(runner, task_ids, seed=seed))
