"""Helpers of ``benchmarks/speed.py`` and ``benchmarks/sweep.py``: row selection, ratios, memory
accounting of a real process, sweep bookkeeping, and a real interrupted-and-resumed sweep."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from conftest import bundled_scenario

REPO = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


speed = _load("speed")
sweep = _load("sweep")


# --- speed.py ---------------------------------------------------------------------------------


def test_parse_rows_orders_and_rejects() -> None:
    assert speed.parse_rows("metro,grid4x4") == ["grid4x4", "metro"]
    assert speed.parse_rows("all") == list(speed.ALL_ROWS)
    with pytest.raises(ValueError, match="nope"):
        speed.parse_rows("grid4x4,nope")


def test_ratio_is_of_medians() -> None:
    assert speed.ratio([3.0, 100.0, 4.0], [2.0, 2.0, 8.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        speed.ratio([], [1.0])
    with pytest.raises(ValueError):
        speed.ratio([1.0], [0.0])


def test_verdict_against_target() -> None:
    assert speed.verdict(1.3, 1.3) == "≤ 1.3× met"
    assert speed.verdict(1.31, 1.3) == "≤ 1.3× not met"
    assert speed.verdict(9.0, None) == "-"


def test_vmhwm_parsing() -> None:
    text = "Name:\tpython\nVmPeak:\t  9000 kB\nVmHWM:\t   5120 kB\nVmRSS:\t 4000 kB\n"
    assert speed.vmhwm_kb(text) == 5120
    assert speed.vmhwm_kb("Name:\tzombie\n") == 0


def test_render_markdown() -> None:
    rows = [("a", "1.2×", "≤ 1.3× met"), ("longer", "x", "-")]
    md = speed.render(rows, markdown=True).splitlines()
    assert md[0] == "| measurement | result | target |" and md[2] == "| a | 1.2× | ≤ 1.3× met |"
    assert speed.render(rows, markdown=False).splitlines()[0] == "a       1.2×  [≤ 1.3× met]"


def test_run_process_measures_peak_memory_of_the_tree() -> None:
    """A child that holds 200 MB for a moment under a parent that holds little: the tree's peak
    counts the child (a wait4-only figure of the parent alone would not)."""
    child = "b = bytearray(200 * 2**20); import time; time.sleep(0.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    m = speed.run_process([sys.executable, "-c", parent])
    assert 200 <= m.rss_mb < 1024  # the child counts; two interpreters add some
    assert m.wall_s >= 0.5 and m.cpu_s > 0


# --- sweep.py ---------------------------------------------------------------------------------


def test_sweep_suite_plans_a_thousand_runs() -> None:
    doc = tomllib.loads((REPO / "benchmarks" / "suites" / "sweep.toml").read_text())
    assert sweep.n_planned(doc) == 1000
    assert doc["defaults"]["end_s"] == 300.0
    small = sweep.suite_with_seeds(doc, 3, end_s=60)
    assert small["seeds"] == [1, 2, 3] and small["defaults"]["end_s"] == 60.0
    assert sweep.n_planned(small) == 15 and sweep.n_planned(doc) == 1000  # a copy
    with pytest.raises(ValueError):
        sweep.suite_with_seeds(doc, 0)


def test_overhead_and_throughput() -> None:
    # 10 runs of 2 s each on 2 workers in 12 s: 2.4 s of worker time per run, 0.4 s overhead
    assert sweep.per_run_overhead_s(12.0, 2, [2.0] * 10) == pytest.approx(0.4)
    assert sweep.runs_per_minute(30, 45.0) == pytest.approx(40.0)


def test_finished_and_reused_runs(tmp_path: Path) -> None:
    for seed, wall in ((1, 1.5), (2, 2.5)):
        run = tmp_path / "runs" / "single" / "count" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"wall_s": wall}))
    (tmp_path / "runs" / "single" / "count" / "seed3.partial").mkdir()
    before = sweep.finished_runs(tmp_path)
    assert sorted(before) == ["runs/single/count/seed1", "runs/single/count/seed2"]
    assert sweep.sim_walls(tmp_path) == [1.5, 2.5]
    after = {**before, "runs/single/count/seed2": before["runs/single/count/seed2"] + 1}
    assert sweep.reused_runs(before, after) == ["runs/single/count/seed1"]


def test_interrupted_sweep_resumes_without_redoing_runs(tmp_path: Path) -> None:
    """2 seeds x 2 controllers, 60 s: SIGINT after the first finished run, then --resume reuses
    it untouched and completes the other three."""
    bundled_scenario("single")
    doc = {
        "seeds": [1, 2],
        "scenarios": ["single"],
        "controllers": ["fixed", "count"],
        "defaults": {"end_s": 60.0},
    }
    suite = sweep.write_suite(doc, tmp_path, "tiny")
    res = sweep.interrupt_and_resume(suite, tmp_path / "out", 4, after_n=1, jobs=1)
    assert 1 <= res.n_before < 4
    assert res.interrupt_rc != 0
    assert res.n_reused == res.n_before
    assert res.n_after == 4


def test_the_kernel_row_tiles_every_layout_field() -> None:
    """The ``kernel`` row's tiled layout keeps up with ``NetworkLayout`` (a new field stops it)."""
    per_round_s, n = _load("speed_kernel").kernel_round_s(n_signals=40, rounds=3)
    assert n == 40 and per_round_s > 0
