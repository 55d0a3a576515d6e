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


# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(degrees_of_freedom: int) -> float:
    """Two-sided 95% quantile of Student's t; beyond 30 degrees of freedom the Cornish-Fisher expansion around
    the normal quantile (error below 1e-3 there)."""
    if degrees_of_freedom < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {degrees_of_freedom}")
    if degrees_of_freedom <= len(_T95):
        return _T95[degrees_of_freedom - 1]
    z, df = Z95, degrees_of_freedom
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df * df)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean of a few independent measurements (e.g. one gain per RL seed) and its 95% t interval. With 3 seeds
    the interval is +-4.3 standard errors: run-to-run spread, which a per-episode interval does not see."""
    if len(values) < 2:
        raise ValueError(f"an interval over runs needs at least 2 values, got {len(values)}")
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t95(n - 1) * math.sqrt(variance / n)
    return mean, mean - half, mean + half
