"""Half-open intervals [start, end) and sets of disjoint intervals."""

from intervals.interval import Interval, IntervalSet, merge_intervals

__all__ = ["Interval", "IntervalSet", "merge_intervals"]
