"""Results of a suite per scenario × controller: mean and 95 % confidence interval over seeds.

Used by ``lightwatch bench`` (``bench.json``) and ``lightwatch compare`` (``compare.json``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim import __version__
from sim.bench.suite import Suite
from sim.stats import mean_ci_by_key, numeric
from sim.sumo_home import sumo_version


def per_seed(suite: Suite, results: Mapping[str, Any], scenario: str, controller: str) -> dict:
    """``{seed: summary}`` of the finished runs of one scenario × controller, in seed order."""
    return {
        seed: results[k]
        for seed in suite.seeds
        if (k := f"{scenario}/{controller}/seed{seed}") in results
    }


def aggregate(suite: Suite, results: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``{scenario: {controller: {"n_seeds", "mean", "ci95", "settings", "seeds"}}}``.

    ``results`` maps run keys (``scenario/controller/seedN``) to summaries. ``mean`` and
    ``ci95`` hold every numeric summary key (mean over the seeds that finished and the half-width
    of its 95 % confidence interval); ``seeds`` the numeric keys of each seed. Pairs without a
    finished seed are left out.
    """
    table: dict[str, Any] = {}
    for s in suite.scenarios:
        for c in suite.controllers:
            runs = per_seed(suite, results, s, c)
            if not runs:
                continue
            mean, ci = mean_ci_by_key(runs.values())
            table.setdefault(s, {})[c] = {
                "n_seeds": len(runs),
                "mean": mean,
                "ci95": ci,
                "settings": suite.settings.get((s, c), {}),
                "seeds": {str(seed): numeric(v) for seed, v in runs.items()},
            }
    return table


def bench_report(
    suite: Suite, table: dict[str, Any], failed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The content of ``bench.json``; ``failed`` maps run keys to their error messages."""
    return {
        "suite": suite.name,
        "suite_file": str(suite.path) if suite.path else None,
        "seeds": list(suite.seeds),
        "lightwatch_version": __version__,
        "sumo_version": sumo_version(),
        "skipped": list(suite.skipped),
        "failed": dict(failed or {}),
        "results": table,
    }
