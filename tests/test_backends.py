"""libsumo and TraCI give identical results for a seed; runs are deterministic per seed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from conftest import bundled_scenario

from sim.runner import RunConfig, RunResult, run

END_S = 600.0
VOLATILE = ("wall_s", "manifest")  # wall-clock time, and the manifest names the backend


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    """The bundled ``single`` scenario, count controller, first 600 s, four runs."""
    scenario = bundled_scenario("single")
    root = tmp_path_factory.mktemp("backends")
    out: dict[str, RunResult] = {}
    for label, backend, seed in [
        ("libsumo-1", "libsumo", 1),
        ("traci-1", "traci", 1),
        ("libsumo-1-again", "libsumo", 1),
        ("libsumo-2", "libsumo", 2),
    ]:
        cfg = RunConfig(
            scenario=scenario,
            controller="count",
            seed=seed,
            end_s=END_S,
            backend=backend,
            out=str(root / label),
        )
        out[label] = run(cfg)
        assert out[label].summary["manifest"]["backend"] == backend
    return out


def metrics(result: RunResult) -> dict[str, Any]:
    return {k: v for k, v in result.summary.items() if k not in VOLATILE}


def trips(result: RunResult) -> list[dict[str, str]]:
    """Every tripinfo record with all its attributes, in file order."""
    root = ET.parse(result.out_dir / "tripinfo.xml").getroot()
    return [dict(el.attrib) for el in root.iter("tripinfo")]


def text(result: RunResult, name: str) -> str:
    return (result.out_dir / name).read_text(encoding="utf-8")


def test_libsumo_and_traci_give_identical_results(runs: dict[str, RunResult]) -> None:
    a, b = runs["libsumo-1"], runs["traci-1"]
    assert metrics(a) == metrics(b)
    assert text(a, "queues.csv") == text(b, "queues.csv")
    assert trips(a) == trips(b)
    signals_a = a.out_dir / "signals.csv"
    if signals_a.exists():
        assert signals_a.read_text(encoding="utf-8") == text(b, "signals.csv")


def test_same_seed_gives_identical_runs(runs: dict[str, RunResult]) -> None:
    a, b = runs["libsumo-1"], runs["libsumo-1-again"]
    assert metrics(a) == metrics(b)
    assert text(a, "queues.csv") == text(b, "queues.csv")
    assert trips(a) == trips(b)


def test_different_seeds_give_different_runs(runs: dict[str, RunResult]) -> None:
    a, b = runs["libsumo-1"], runs["libsumo-2"]
    assert trips(a) != trips(b)
    keys = ("delay_s", "trip_time_s", "waiting_time_s", "queue_mean_veh")
    assert any(a.summary[k] != b.summary[k] for k in keys)


def test_the_runs_are_not_empty(runs: dict[str, RunResult]) -> None:
    """Identity above would hold trivially for runs without traffic."""
    s = runs["libsumo-1"].summary
    assert s["arrived"] > 50
    assert s["queue_max_veh"] > 0
    lines = text(runs["libsumo-1"], "queues.csv").splitlines()
    assert len(lines) > END_S / 5
    assert any(int(line.rsplit(",", 1)[1]) > 0 for line in lines[1:])


def test_unknown_backend_is_an_input_error() -> None:
    from sim.backend import Backend
    from sim.errors import InputError

    with pytest.raises(InputError, match="unknown backend"):
        Backend("no-such-backend")
