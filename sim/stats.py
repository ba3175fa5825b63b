"""Statistics over seeds: means with exact Student-t confidence intervals.

A benchmark repeats each scenario × controller over a few SUMO seeds (typically 2-10); the seeds
are independent samples, so the interval of the mean uses Student's t with ``n - 1`` degrees of
freedom (``scipy.stats.t``), exact for any ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CONFIDENCE = 0.95


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Mean of ``values`` (shape ``(n,)``) and the half-width of its confidence interval.

    The half-width is ``t(1 - (1 - confidence) / 2; n - 1) * sd / sqrt(n)`` with the sample
    standard deviation ``sd`` (``n - 1`` in the denominator). One value has no spread: its
    half-width is 0 (tables then show the mean alone). No values: ``(nan, nan)``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy.stats import t as student_t  # here: scipy.stats costs ~1 s to import

    quantile = float(student_t.ppf(0.5 + confidence / 2.0, n - 1))
    return mean, quantile * sd / math.sqrt(n)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def numeric(summary: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a run summary (booleans, ``None`` and nested tables left out),
    with ``delay_by_vclass_s`` flattened into ``delay_bus_s``, ``delay_passenger_s``, ..."""
    out = {k: float(v) for k, v in summary.items() if _is_number(v)}
    by_class = summary.get("delay_by_vclass_s")
    if isinstance(by_class, Mapping):
        out.update({f"delay_{c}_s": float(v) for c, v in by_class.items() if _is_number(v)})
    return out


def mean_ci_by_key(
    samples: Iterable[Mapping[str, Any]], confidence: float = CONFIDENCE
) -> tuple[dict[str, float], dict[str, float]]:
    """``(mean, half_width)`` per numeric key present in every one of ``samples`` (e.g. the
    summaries of one scenario × controller over its seeds), keys sorted."""
    rows = [numeric(s) for s in samples]
    if not rows:
        return {}, {}
    keys = sorted(set.intersection(*(set(r) for r in rows)))
    mean: dict[str, float] = {}
    half: dict[str, float] = {}
    for key in keys:
        mean[key], half[key] = mean_ci([r[key] for r in rows], confidence)
    return mean, half


def relative_change(baseline: float, current: float) -> float:
    """``(current - baseline) / |baseline|``; ``±inf`` from a zero baseline (0 if both are 0)."""
    diff = current - baseline
    if baseline == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(baseline)
