"""``sim.stats.mean_ci``: exact Student-t intervals, checked on closed forms and by coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.stats import mean_ci, mean_ci_by_key, relative_change


def test_no_values_and_one_value() -> None:
    m, h = mean_ci([])
    assert math.isnan(m) and math.isnan(h)
    assert mean_ci([4.5]) == (4.5, 0.0)


def test_two_and_three_values_match_the_closed_form_quantiles() -> None:
    # t quantiles with 1 and 2 degrees of freedom have closed forms:
    # t(p; 1) = tan(pi (p - 1/2)),  t(p; 2) = (2p - 1) / sqrt(2 p (1 - p))
    p = 0.975
    m, h = mean_ci([1.0, 3.0])  # mean 2, sd sqrt(2)
    assert m == 2.0
    assert h == pytest.approx(math.tan(math.pi * (p - 0.5)) * math.sqrt(2) / math.sqrt(2))
    m, h = mean_ci([1.0, 2.0, 6.0])  # mean 3, sd sqrt(7)
    assert m == 3.0
    t_2 = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    assert h == pytest.approx(t_2 * math.sqrt(7) / math.sqrt(3))


@pytest.mark.parametrize("n", [3, 5, 12, 40])
def test_the_interval_covers_the_true_mean_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(n)
    n_trials = 8000
    samples = rng.normal(10.0, 3.0, size=(n_trials, n))
    hits = 0
    for row in samples:
        m, h = mean_ci(row.tolist())
        hits += abs(m - 10.0) <= h
    coverage = hits / n_trials
    # binomial standard error at 95 %: sqrt(0.95 * 0.05 / 8000) ~ 0.0024
    assert abs(coverage - 0.95) < 0.01, coverage


def test_other_confidence_levels_widen_and_narrow() -> None:
    values = [3.0, 5.0, 4.0, 6.0]
    _, h90 = mean_ci(values, 0.90)
    _, h95 = mean_ci(values)
    _, h99 = mean_ci(values, 0.99)
    assert 0 < h90 < h95 < h99
    with pytest.raises(ValueError):
        mean_ci(values, 1.0)


def test_mean_ci_by_key_uses_the_numeric_keys_all_samples_share() -> None:
    mean, half = mean_ci_by_key(
        [{"a": 1, "b": 2.0, "flag": True, "m": {}}, {"a": 3, "b": 4.0, "c": 1.0}]
    )
    assert list(mean) == ["a", "b"]
    assert mean == {"a": 2.0, "b": 3.0}
    assert half["a"] == pytest.approx(mean_ci([1.0, 3.0])[1])


def test_relative_change() -> None:
    assert relative_change(100.0, 110.0) == pytest.approx(0.1)
    assert relative_change(-100.0, -110.0) == pytest.approx(-0.1)
    assert relative_change(0.0, 0.0) == 0.0
    assert relative_change(0.0, 1.0) == math.inf
