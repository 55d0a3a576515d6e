"""GiGPO anchor-state step groups: turns of one episode group that start from the same env state.

Exact mode (default): identical `anchor` strings within an episode group form a step group; equal
anchors in different episode groups (different tasks) are never merged.

Similarity mode (`similarity_threshold` in (0, 1)): greedy clustering as in verl-agent. Each anchor
joins the first cluster whose representative (the cluster's first anchor) has
`difflib.SequenceMatcher(None, anchor, representative).ratio() >= threshold`, else founds a new
cluster. The result depends on the visiting order, so rows are visited in a canonical order that
does not depend on batch order: by trajectory id (ints numerically, then strings) and turn index,
which is verl-agent's order for a batch laid out trajectory-major. Repeated anchors are clustered
once (a repeat always lands in its first occurrence's cluster), and the cheap upper bounds
`real_quick_ratio` / `quick_ratio` skip most full comparisons without changing the result.
"""

from __future__ import annotations

import difflib

from torch import Tensor

from algorithms.batch import Id, StepBatch
from algorithms.segments import dense_ids


def build_step_groups(batch: StepBatch, similarity_threshold: float | None = None) -> tuple[Tensor, int]:
    """Step-group id per row (0..K-1, numbered by first appearance in batch order) and K."""
    if similarity_threshold is None:
        return dense_ids(list(zip(batch.group_id, batch.anchor)))
    if not 0.0 < similarity_threshold < 1.0:
        raise ValueError(f"similarity_threshold must be in (0, 1) or None, got {similarity_threshold}")
    cluster_of = _similarity_clusters(batch, similarity_threshold)
    return dense_ids([cluster_of[(g, a)] for g, a in zip(batch.group_id, batch.anchor)])


def _similarity_clusters(batch: StepBatch, threshold: float) -> dict[tuple[Id, str], tuple[Id, int]]:
    """Map (episode group, anchor) -> (episode group, cluster number)."""
    steps = batch.step.tolist()
    visit_order = sorted(range(batch.num_rows), key=lambda i: (_id_sort_key(batch.traj_id[i]), steps[i]))
    representatives: dict[Id, list[difflib.SequenceMatcher]] = {}
    cluster_of: dict[tuple[Id, str], tuple[Id, int]] = {}
    for i in visit_order:
        group, anchor = batch.group_id[i], batch.anchor[i]
        if (group, anchor) in cluster_of:
            continue
        matchers = representatives.setdefault(group, [])
        cluster_of[(group, anchor)] = (group, _first_match(matchers, anchor, threshold))
    return cluster_of


def _first_match(matchers: list[difflib.SequenceMatcher], anchor: str, threshold: float) -> int:
    """Index of the first cluster whose representative is similar enough; opens a new one otherwise."""
    for number, matcher in enumerate(matchers):
        matcher.set_seq1(anchor)
        if (
            matcher.real_quick_ratio() >= threshold
            and matcher.quick_ratio() >= threshold
            and matcher.ratio() >= threshold
        ):
            return number
    # seq2 holds the representative, so its index of characters is built once per cluster
    matchers.append(difflib.SequenceMatcher(None, anchor, anchor))
    return len(matchers) - 1


def _id_sort_key(value: Id) -> tuple[int, int | str]:
    return (0, value) if isinstance(value, int) else (1, str(value))
