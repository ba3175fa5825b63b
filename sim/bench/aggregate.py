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


def per_seed(
    suite: Suite, results: Mapping[str, dict[str, Any]], scenario: str, controller: str
) -> dict[int, dict[str, Any]]:
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


def compare_report(
    suite: Suite, results: Mapping[str, dict[str, Any]], failed: Mapping[str, str]
) -> dict[str, Any]:
    """The content of ``compare.json`` for a suite of one scenario (``lightwatch compare``).

    ``{"scenario", "seeds", "controllers": {name: {"mean": {key: mean, key_ci95: half-width},
    "seeds": {seed: summary}}}, "failed": {run key: message}}``; controllers without a finished
    seed are left out.
    """
    (scenario,) = suite.scenarios
    entries = aggregate(suite, results).get(scenario, {})
    controllers: dict[str, Any] = {}
    for name in suite.controllers:
        entry = entries.get(name)
        if entry is None:
            continue
        mean_row: dict[str, float] = {}
        for key, m in entry["mean"].items():
            mean_row[key] = m
            mean_row[key + "_ci95"] = entry["ci95"][key]
        runs = per_seed(suite, results, scenario, name)
        controllers[name] = {"mean": mean_row, "seeds": {str(s): v for s, v in runs.items()}}
    return {
        "scenario": scenario,
        "seeds": list(suite.seeds),
        "controllers": controllers,
        "failed": dict(failed),
    }
