"""Descriptive statistics."""

from stats.describe import (
    histogram,
    mean,
    median,
    mode,
    moving_average,
    percentile,
    stdev,
    summary,
    variance,
    zscores,
)

__all__ = [
    "histogram",
    "mean",
    "median",
    "mode",
    "moving_average",
    "percentile",
    "stdev",
    "summary",
    "variance",
    "zscores",
]
