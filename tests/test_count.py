"""Behaviour of the count controller in real SUMO runs (short windows, fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import bundled_scenario, resco_dir

from sim.runner import RunConfig, run


def _delay(tmp_path: Path, scenario: str, controller: str, **kw: object) -> float:
    cfg = RunConfig(
        scenario=scenario,
        controller=controller,
        seed=1,
        out=str(tmp_path / f"{controller}-{len(kw)}"),
        **kw,
    )
    return float(run(cfg).summary["delay_s"])


def test_count_beats_fixed_and_sumo_actuated_on_single(tmp_path: Path) -> None:
    scenario = bundled_scenario("single")
    count = _delay(tmp_path, scenario, "count", end_s=900.0)
    assert count < _delay(tmp_path, scenario, "fixed", end_s=900.0)
    assert count < _delay(tmp_path, scenario, "sumo-actuated", end_s=900.0)


def test_count_beats_fixed_on_cologne1_with_permissive_lefts(tmp_path: Path) -> None:
    """cologne1's greens mix protected and permissive ('g') lefts: left-turners waiting for a gap
    must not hold the green (SUMO's own actuated program loses to fixed time here)."""
    scenario = str(resco_dir("cologne1"))
    window = {"begin_s": 25200.0, "end_s": 26100.0}
    assert _delay(tmp_path, scenario, "count", **window) < 0.8 * _delay(
        tmp_path, scenario, "fixed", **window
    )


def test_upstream_sensing_sees_queues_behind_a_one_metre_lane(tmp_path: Path) -> None:
    """ingolstadt7's lane 10425609#1 is 1 m long: its detector must continue upstream."""
    from sim.scenario import scan_net
    from sim.sensing import upstream_chain

    net = resco_dir("ingolstadt7") / "ingolstadt7.net.xml"
    scan = scan_net(net)
    chain = upstream_chain(scan, "10425609#1_1", 100.0)
    assert chain[-1] == "10425609#1_1"
    assert len(chain) >= 2
    assert sum(scan.lane_length_m[x] for x in chain) >= 40.0


@pytest.mark.parametrize("yield_ratio", [0.0, 2.0])
def test_count_params_reach_the_run(tmp_path: Path, yield_ratio: float) -> None:
    cfg = RunConfig(
        scenario=bundled_scenario("single"),
        controller="count",
        end_s=300.0,
        params={"yield_ratio": yield_ratio},
        out=str(tmp_path / "r"),
    )
    summary = run(cfg).summary
    assert summary["manifest"]["controller_params"]["yield_ratio"] == yield_ratio
    assert np.isfinite(summary["delay_s"])


def test_no_green_is_started_only_for_the_starvation_bound_to_cut_it(tmp_path: Path) -> None:
    """single under saturated demand: phases reach the starvation bound (120 s) often. A green
    that count asks for must not end by starvation at its min green (5 s): when a phase is that
    close to the bound, count asks for that phase instead."""
    import csv
    import itertools

    out = tmp_path / "sat"
    cfg = RunConfig(
        scenario=bundled_scenario("single"),
        controller="count",
        profile="saturated",
        seed=1,
        end_s=1800.0,
        out=str(out),
    )
    run(cfg)
    rows = list(csv.DictReader((out / "signals.csv").open(encoding="utf-8")))
    greens = [
        (float(b["time_s"]) - float(a["time_s"]), b["ended"])
        for a, b in itertools.pairwise(rows)
        if a["stage"] == "0"
    ]
    starved = [d for d, why in greens if why == "starvation"]
    assert starved, "no green ended by starvation: the scenario no longer tests the rule"
    assert not [d for d in starved if d <= 5.0 + 0.5], starved


def test_count_beats_fixed_on_single_at_peak_with_protected_lefts(tmp_path: Path) -> None:
    """single's left-turn pockets at peak demand: left-turners stand on their permissive green
    (oncoming traffic leaves no gaps), so count must show the protected-left greens for them
    rather than wait for the starvation bound while the pockets overflow into the through lanes
    (it did, and lost to the fixed plan)."""
    scenario = bundled_scenario("single")
    window = {"profile": "peak", "end_s": 1800.0}
    assert _delay(tmp_path, scenario, "count", **window) < _delay(
        tmp_path, scenario, "fixed", **window
    )
