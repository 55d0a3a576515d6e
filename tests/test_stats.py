"""Intervals of success rates and paired gains, against values computed by hand."""

import pytest

from trainer.stats import mean_interval, paired_gain, t95, wilson_interval


def test_wilson_interval_known_values():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)  # no collapse to a point at 0 wins
    assert wilson_interval(52, 100) == pytest.approx((0.4231, 0.6153), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_paired_gain_uses_the_per_episode_differences():
    before = [False, False, True, True]
    after = [True, False, True, True]
    mean, low, high = paired_gain(before, after)
    # differences 1, 0, 0, 0: mean 0.25, sd 0.5, standard error 0.25
    assert mean == 0.25 and (low, high) == pytest.approx((0.25 - 1.96 * 0.25, 0.25 + 1.96 * 0.25), abs=1e-3)
    # the same two rates on unrelated episodes would be wider; identical outcomes give a zero-width interval
    assert paired_gain([True, False], [True, False]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal"):
        paired_gain([True], [True, False])


def test_summary_headline_carries_the_intervals():
    from trainer.loop import _headline

    before = {"episodes": 4, "success_rate": 0.5, "outcomes": [False, False, True, True]}
    after = {"episodes": 4, "success_rate": 0.75, "outcomes": [True, False, True, True]}
    out = _headline(before, after, "")
    assert out["success_before_rl"] == 0.5 and out["gain"] == 0.25
    assert out["success_before_rl_ci95"] == pytest.approx(list(wilson_interval(2, 4)))
    assert out["gain_ci95"] == pytest.approx([0.25 - 1.96 * 0.25, 0.25 + 1.96 * 0.25], abs=1e-3)
    old_checkpoint = {key: value for key, value in before.items() if key != "outcomes"}
    assert "gain_sampled_ci95" not in _headline(old_checkpoint, after, "_sampled")


def test_t_interval_over_seeds():
    assert t95(2) == 4.303 and t95(30) == 2.042
    assert t95(31) == pytest.approx(2.0395, abs=1e-3) and t95(120) == pytest.approx(1.9799, abs=1e-3)
    # gains +10, +4, +7: mean 7, sd 3, standard error sqrt(3); 4.303 of them either side
    mean, low, high = mean_interval([10.0, 4.0, 7.0])
    assert mean == 7.0 and (low, high) == pytest.approx((7 - 4.303 * 3**0.5, 7 + 4.303 * 3**0.5))
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])
