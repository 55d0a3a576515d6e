import pytest
from intervals import Interval, IntervalSet, merge_intervals


def test_interval_basics():
    iv = Interval(2, 5)
    assert iv.length == 3
    assert not iv.is_empty
    assert Interval(3, 3).is_empty


def test_interval_rejects_reversed():
    with pytest.raises(ValueError):
        Interval(5, 2)


def test_contains_is_half_open():
    iv = Interval(2, 5)
    assert iv.contains(2)
    assert iv.contains(4.5)
    assert not iv.contains(5)
    assert not iv.contains(1)


def test_overlaps():
    assert Interval(0, 5).overlaps(Interval(4, 8))
    assert not Interval(0, 5).overlaps(Interval(5, 8))
    assert Interval(0, 10).overlaps(Interval(3, 4))


def test_touches():
    assert Interval(0, 5).touches(Interval(5, 8))
    assert not Interval(0, 5).touches(Interval(6, 8))


def test_intersection():
    assert Interval(0, 5).intersection(Interval(3, 8)) == Interval(3, 5)
    assert Interval(0, 5).intersection(Interval(5, 8)) is None
    assert Interval(2, 3).intersection(Interval(0, 10)) == Interval(2, 3)


def test_hull():
    assert Interval(0, 2).hull(Interval(5, 7)) == Interval(0, 7)


def test_ordering():
    assert sorted([Interval(3, 4), Interval(1, 9), Interval(1, 2)]) == [
        Interval(1, 2),
        Interval(1, 9),
        Interval(3, 4),
    ]


def test_merge_overlapping():
    assert merge_intervals([Interval(1, 3), Interval(2, 6), Interval(8, 10)]) == [
        Interval(1, 6),
        Interval(8, 10),
    ]


def test_merge_adjacent_and_unsorted():
    assert merge_intervals([Interval(5, 7), Interval(1, 5)]) == [Interval(1, 7)]


def test_merge_drops_empty():
    assert merge_intervals([Interval(1, 1), Interval(2, 3)]) == [Interval(2, 3)]


def test_merge_contained():
    assert merge_intervals([Interval(0, 10), Interval(2, 3)]) == [Interval(0, 10)]


def test_set_add_merges():
    s = IntervalSet([Interval(0, 2)])
    s.add(Interval(4, 6))
    s.add(Interval(2, 4))
    assert list(s) == [Interval(0, 6)]
    assert len(s) == 1


def test_set_remove_splits():
    s = IntervalSet([Interval(0, 10)])
    s.remove(Interval(3, 5))
    assert list(s) == [Interval(0, 3), Interval(5, 10)]


def test_set_remove_edges():
    s = IntervalSet([Interval(0, 4), Interval(6, 10)])
    s.remove(Interval(3, 7))
    assert list(s) == [Interval(0, 3), Interval(7, 10)]
    s.remove(Interval(0, 3))
    assert list(s) == [Interval(7, 10)]


def test_set_contains():
    s = IntervalSet([Interval(0, 2), Interval(5, 8)])
    assert s.contains(0)
    assert s.contains(6)
    assert not s.contains(2)
    assert not s.contains(3)
    assert not s.contains(-1)
    assert not s.contains(8)


def test_set_total_length():
    assert IntervalSet([Interval(0, 2), Interval(1, 4), Interval(10, 11)]).total_length() == 5


def test_set_gaps():
    s = IntervalSet([Interval(0, 2), Interval(5, 8), Interval(9, 12)])
    assert s.gaps() == [Interval(2, 5), Interval(8, 9)]


def test_set_span():
    assert IntervalSet([Interval(3, 4), Interval(0, 1)]).span() == Interval(0, 4)
    assert IntervalSet().span() is None


def test_set_intersection():
    a = IntervalSet([Interval(0, 5), Interval(10, 15)])
    b = IntervalSet([Interval(3, 12), Interval(14, 20)])
    assert list(a.intersection(b)) == [Interval(3, 5), Interval(10, 12), Interval(14, 15)]


def test_set_equality():
    assert IntervalSet([Interval(0, 1), Interval(1, 2)]) == IntervalSet([Interval(0, 2)])
