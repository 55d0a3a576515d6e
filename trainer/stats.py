"""Intervals for success rates and for gains measured on the same episodes.

A held-out success rate over 100 games has a 95% interval about +-10 points wide, and so does a single gain
computed as the difference of two such rates, so every headline figure carries one. Before/after evaluations
play the same tasks with the same seeds, so their episodes pair up: the paired interval of the gain drops the
game-to-game variance that two independent rates would carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


def wilson_interval(wins: int, episodes: int, z: float = Z95) -> tuple[float, float]:
    """95% interval of a success rate (Wilson score). Unlike p +- z*sqrt(p(1-p)/n) it stays inside [0, 1] and
    does not shrink to a point at 0 or 1 wins."""
    if episodes < 1 or not 0 <= wins <= episodes:
        raise ValueError(f"need 0 <= wins <= episodes and episodes >= 1, got {wins} of {episodes}")
    p = wins / episodes
    denominator = 1 + z * z / episodes
    centre = (p + z * z / (2 * episodes)) / denominator
    half = z * math.sqrt(p * (1 - p) / episodes + z * z / (4 * episodes * episodes)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_gain(before: Sequence[bool], after: Sequence[bool], z: float = Z95) -> tuple[float, float, float]:
    """Mean of ``after - before`` over episodes played on the same tasks, and its 95% interval (normal
    approximation on the per-episode differences)."""
    if len(before) != len(after) or not before:
        raise ValueError(f"paired outcomes need equal, non-zero lengths, got {len(before)} and {len(after)}")
    differences = [float(a) - float(b) for a, b in zip(after, before)]
    n = len(differences)
    mean = sum(differences) / n
    variance = sum((d - mean) ** 2 for d in differences) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(variance / n)
    return mean, mean - half, mean + half
