import math

import pytest
from stats import (
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


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5
    assert mean([5]) == 5


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])


def test_median_odd_and_even():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([7]) == 7


def test_mode():
    assert mode([1, 2, 2, 3]) == 2
    assert mode(["b", "a", "a", "b"]) == "b"


def test_sample_variance():
    assert variance([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(32 / 7)


def test_population_variance():
    assert variance([2, 4, 4, 4, 5, 5, 7, 9], sample=False) == 4


def test_variance_needs_two_values():
    with pytest.raises(ValueError):
        variance([1])
    assert variance([1], sample=False) == 0


def test_stdev():
    assert stdev([2, 4, 4, 4, 5, 5, 7, 9], sample=False) == 2
    assert stdev([1, 3]) == pytest.approx(math.sqrt(2))


def test_percentile_endpoints():
    data = [15, 20, 35, 40, 50]
    assert percentile(data, 0) == 15
    assert percentile(data, 100) == 50
    assert percentile(data, 50) == 35


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 25) == pytest.approx(1.75)
    assert percentile([10, 20], 90) == pytest.approx(19)


def test_percentile_range_check():
    with pytest.raises(ValueError):
        percentile([1, 2], 101)
    with pytest.raises(ValueError):
        percentile([1, 2], -1)


def test_zscores():
    assert zscores([1, 2, 3]) == pytest.approx([-1, 0, 1])


def test_zscores_constant():
    with pytest.raises(ValueError):
        zscores([4, 4, 4])


def test_histogram():
    assert histogram([1, 2, 2, 3, 4, 5], bins=4) == [1, 2, 1, 2]


def test_histogram_explicit_range():
    assert histogram([0, 5, 10, 15, 20], bins=2, low=0, high=10) == [1, 2]


def test_histogram_bad_arguments():
    with pytest.raises(ValueError):
        histogram([1, 2], bins=0)
    with pytest.raises(ValueError):
        histogram([3, 3], bins=2)


def test_moving_average():
    assert moving_average([1, 2, 3, 4, 5], 2) == [1.5, 2.5, 3.5, 4.5]
    assert moving_average([1, 2, 3], 3) == [2]
    assert moving_average([1, 2], 3) == []


def test_moving_average_window_one():
    assert moving_average([4, 8], 1) == [4, 8]
    with pytest.raises(ValueError):
        moving_average([1], 0)


def test_summary():
    assert summary([3, 1, 2]) == {"count": 3, "min": 1, "max": 3, "mean": 2, "median": 2}
