"""An IntervalSet keeps its intervals sorted, disjoint and non-adjacent."""

import bisect


class Interval:
    __slots__ = ("start", "end")

    def __init__(self, start, end):
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        self.start = start
        self.end = end

    def __eq__(self, other):
        return isinstance(other, Interval) and (self.start, self.end) == (other.start, other.end)

    def __lt__(self, other):
        return (self.start, self.end) < (other.start, other.end)

    def __hash__(self):
        return hash((self.start, self.end))

    def __repr__(self):
        return f"Interval({self.start!r}, {self.end!r})"

    @property
    def length(self):
        return self.end - self.start

    @property
    def is_empty(self):
        return self.start == self.end

    def contains(self, point):
        return self.start <= point < self.end

    def overlaps(self, other):
        return self.start < other.end and other.start < self.end

    def touches(self, other):
        """Overlapping or adjacent: the union is one interval."""
        return self.start <= other.end and other.start <= self.end

    def intersection(self, other):
        if not self.overlaps(other):
            return None
        return Interval(max(self.start, other.start), min(self.end, other.end))

    def hull(self, other):
        return Interval(min(self.start, other.start), max(self.end, other.end))


def merge_intervals(items):
    """Union of intervals as a sorted list of disjoint, non-adjacent, non-empty intervals."""
    merged = []
    for item in sorted(i for i in items if not i.is_empty):
        if merged and merged[-1].touches(item):
            merged[-1] = merged[-1].hull(item)
        else:
            merged.append(item)
    return merged


class IntervalSet:
    def __init__(self, items=()):
        self._items = merge_intervals(list(items))

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __eq__(self, other):
        return isinstance(other, IntervalSet) and self._items == other._items

    def __repr__(self):
        return f"IntervalSet({self._items!r})"

    def add(self, interval):
        self._items = merge_intervals(self._items + [interval])

    def remove(self, interval):
        """Subtract `interval`, splitting intervals that straddle it."""
        out = []
        for item in self._items:
            if not item.overlaps(interval):
                out.append(item)
                continue
            if item.start < interval.start:
                out.append(Interval(item.start, interval.start))
            if interval.end < item.end:
                out.append(Interval(interval.end, item.end))
        self._items = out

    def contains(self, point):
        starts = [i.start for i in self._items]
        index = bisect.bisect_right(starts, point) - 1
        return index >= 0 and self._items[index].contains(point)

    def total_length(self):
        return sum(i.length for i in self._items)

    def gaps(self):
        """The holes between consecutive intervals."""
        return [Interval(a.end, b.start) for a, b in zip(self._items, self._items[1:])]

    def span(self):
        if not self._items:
            return None
        return Interval(self._items[0].start, self._items[-1].end)

    def intersection(self, other):
        out = []
        i = j = 0
        a, b = self._items, list(other)
        while i < len(a) and j < len(b):
            common = a[i].intersection(b[j])
            if common is not None:
                out.append(common)
            if a[i].end < b[j].end:
                i += 1
            else:
                j += 1
        return IntervalSet(out)
