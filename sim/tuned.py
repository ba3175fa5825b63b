"""Tuned settings: choosing the best grid combination from a bench report, and reading the
tuned files that ``lightwatch tune`` writes (format: ``sim.tune.tuned_document``).

The best combination of a scenario has the lowest mean ``delay_s`` over the tuning seeds; ties go
to the lower worst-seed ``delay_s``, then to the grid order. Only combinations that finished every
seed are eligible.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config import read_toml
from sim.errors import InputError

TUNED_KIND = "lightwatch-tuned"
METRIC = "delay_s"

Value = float | bool | str


@dataclass(frozen=True)
class Choice:
    """The best combination of one scenario and its figures over the tuning seeds."""

    label: str  # bench label
    combo: dict[str, Value]
    delay_s: float
    worst_delay_s: float
    n_seeds: int
    window_s: tuple[float | None, float | None] = (None, None)  # begin_s, end_s set by the suite


def select_best(
    report: Mapping[str, Any], combos: Mapping[str, Mapping[str, Value]], seeds: Sequence[int]
) -> dict[str, Choice]:
    """Per scenario of a ``bench.json`` report: the combination (bench label in ``combos``) with
    the lowest mean ``delay_s`` over ``seeds``; ties by the lower worst-seed delay, then by the
    order of ``combos``. Combinations missing a seed are not eligible; a scenario without an
    eligible one is left out."""
    order = {label: i for i, label in enumerate(combos)}
    best: dict[str, Choice] = {}
    for scenario, per in report.get("results", {}).items():
        ranked = []
        for label, entry in per.items():
            if label not in combos:
                continue
            per_seed = entry.get("seeds", {})
            delays = [per_seed.get(str(s), {}).get(METRIC) for s in seeds]
            if any(d is None for d in delays):
                continue
            mean = sum(delays) / len(delays)
            ranked.append((mean, max(delays), order[label], label))
        if ranked:
            mean, worst, _, label = min(ranked)
            st = per[label].get("settings", {})
            window = (st.get("begin_s"), st.get("end_s"))
            best[scenario] = Choice(label, dict(combos[label]), mean, worst, len(seeds), window)
    return best


def load_tuned(path: str | Path) -> dict[str, Any]:
    """Read and check a tuned file; InputError (one line) when it is not one."""
    p = Path(path)
    doc = read_toml(p, "tuned file")
    if doc.get("kind") != TUNED_KIND or not isinstance(doc.get("scenarios"), dict):
        raise InputError(f"{p} is not a tuned file (written by lightwatch tune)")
    import controllers

    name = doc.get("controller")
    controllers.get(str(name))
    for scenario, entry in doc["scenarios"].items():
        try:
            controllers.create(str(name), entry.get("params", {}))
        except InputError as exc:
            raise InputError(f"{p} [{scenario}]: {exc}") from None
    return doc


def inert_axes(
    report: Mapping[str, Any], combos: Mapping[str, Mapping[str, Value]], seeds: Sequence[int]
) -> list[str]:
    """Grid keys that changed no result: every pair of combinations that differ only in the key
    and finished every seed of the same scenario gave identical per-seed ``delay_s`` (SUMO is
    deterministic per seed, so a parameter the controller reads almost always moves some
    figure; one that never does is likely not reaching it, e.g. a misspelled SUMO option). Keys
    with no such pair are not reported. In the order of the keys of the first combination."""
    keys = list(next(iter(combos.values()), {}))
    compared = dict.fromkeys(keys, False)
    changed = dict.fromkeys(keys, False)
    for per in report.get("results", {}).values():
        runs: dict[str, tuple[float, ...]] = {}
        for label, entry in per.items():
            per_seed = entry.get("seeds", {}) if label in combos else {}
            delays = tuple(per_seed.get(str(s), {}).get(METRIC) for s in seeds)
            if delays and None not in delays:
                runs[label] = delays
        for a, b in itertools.combinations(runs, 2):
            differ = [k for k in keys if combos[a].get(k) != combos[b].get(k)]
            if len(differ) == 1:
                compared[differ[0]] = True
                changed[differ[0]] |= runs[a] != runs[b]
    return [k for k in keys if compared[k] and not changed[k]]
