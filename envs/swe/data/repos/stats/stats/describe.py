"""Statistics of finite sequences; empty input is an error, never a silent NaN."""

import math
from collections import Counter


def _require(data, minimum=1):
    values = list(data)
    if len(values) < minimum:
        raise ValueError(f"need at least {minimum} value(s), got {len(values)}")
    return values


def mean(data):
    values = _require(data)
    return sum(values) / len(values)


def median(data):
    values = sorted(_require(data))
    middle = len(values) // 2
    if len(values) % 2 == 1:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def mode(data):
    """Most common value; ties go to the value seen first."""
    values = _require(data)
    counts = Counter(values)
    best = max(counts.values())
    for value in values:
        if counts[value] == best:
            return value
    raise AssertionError("unreachable")


def variance(data, sample=True):
    values = _require(data, 2 if sample else 1)
    center = mean(values)
    squares = sum((x - center) ** 2 for x in values)
    return squares / (len(values) - 1 if sample else len(values))


def stdev(data, sample=True):
    return math.sqrt(variance(data, sample))


def percentile(data, q):
    """Linear interpolation between closest ranks, q in [0, 100]."""
    if q < 0 or q > 100:
        raise ValueError("q must be between 0 and 100")
    values = sorted(_require(data))
    position = (len(values) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    fraction = position - lower
    return values[lower] + (values[upper] - values[lower]) * fraction


def zscores(data):
    values = _require(data, 2)
    center = mean(values)
    spread = stdev(values)
    if spread == 0:
        raise ValueError("all values are equal")
    return [(x - center) / spread for x in values]


def histogram(data, bins, low=None, high=None):
    """Counts in `bins` equal-width bins over [low, high]; the last bin includes `high`."""
    values = _require(data)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    if high <= low:
        raise ValueError("high must be greater than low")
    width = (high - low) / bins
    counts = [0] * bins
    for x in values:
        if x < low or x > high:
            continue
        index = int((x - low) / width)
        counts[min(index, bins - 1)] += 1
    return counts


def moving_average(data, window):
    values = list(data)
    if window < 1:
        raise ValueError("window must be at least 1")
    if window > len(values):
        return []
    total = sum(values[:window])
    out = [total / window]
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        out.append(total / window)
    return out


def summary(data):
    values = _require(data)
    return {
        "count": len(values),
        "min": min(values),
        "max": max(values),
        "mean": mean(values),
        "median": median(values),
    }
