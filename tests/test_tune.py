"""``lightwatch tune``: grid parsing, labels, best-setting selection, the refusal of evaluation
seeds, typed controller parameters, SUMO program options, and one real tuning run."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import controllers
from controllers.base import parse_value
from sim.errors import InputError
from sim.tune import (
    Interrupted,
    bench_label,
    check_tuning_seeds,
    combinations,
    display_label,
    parse_grid,
    parse_seeds,
    run_bench,
    tuned_document,
)
from sim.tuned import inert_axes, load_tuned, select_best
from tests.conftest import bundled_scenario, run_cli, sumo_running

BENCH_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")  # what the bench accepts


# --------------------------------------------------------------------------------------------
# seeds and grid


def test_seeds_parse_ranges_and_lists() -> None:
    assert parse_seeds("1-5") == (1, 2, 3, 4, 5)
    assert parse_seeds("1-3,7") == (1, 2, 3, 7)
    assert parse_seeds("4") == (4,)
    for bad in ("a", "5-1", "1,1", "1-", ""):
        with pytest.raises(InputError):
            parse_seeds(bad)


def test_evaluation_seeds_are_refused_unless_allowed() -> None:
    check_tuning_seeds((1, 2, 3, 4, 5), allow_eval_seeds=False)
    with pytest.raises(InputError, match="6,7 are evaluation seeds"):
        check_tuning_seeds((5, 6, 7), allow_eval_seeds=False)
    check_tuning_seeds((6, 7), allow_eval_seeds=True)


def test_cli_refuses_evaluation_seeds_in_one_line(tmp_path: Path) -> None:
    res = run_cli(
        "tune", "--controller", "greedy", "--grid", "period_s=5,10", "--scenario", "single",
        "--seeds", "4-6", "--out", str(tmp_path / "t"),
    )  # fmt: skip
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--allow-eval-seeds" in lines[0]
    assert not (tmp_path / "t").exists()  # nothing written


def test_cli_bad_grid_is_one_line(tmp_path: Path) -> None:
    for grid in ("max_gap_s", "no_such_key=1,2"):
        res = run_cli(
            "tune", "--controller", "sumo-actuated", "--grid", grid, "--scenario", "single",
            "--out", str(tmp_path / "t"),
        )  # fmt: skip
        assert res.returncode == 2
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: --grid")
        assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (["max_gap_s"], "KEY=V1,V2"),
        (["max_gap_s=2,"], "KEY=V1,V2"),
        (["=2,3"], "KEY=V1,V2"),
        (["no_such_key=1,2"], "no key 'no_such_key'"),
        (["max_gap_s=2,x"], "must be a number"),
        (["build_all_detectors=true,maybe"], "true or false"),
        (["max_gap_s=2,3", "max-gap-s=4"], "given twice"),
        (["max_gap_s=2,2.0"], "repeats a value"),
        (["max_wait_s=60,120"], "no key 'max_wait_s'"),  # SUMO times it: no run keys
    ],
)
def test_bad_grids_are_one_line_input_errors(grid: list[str], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_grid("sumo-actuated", grid)


def test_grid_values_take_the_parameter_types_and_targets() -> None:
    axes = parse_grid("sumo-actuated", ["max_gap_s=2,3.5", "build-all-detectors=YES,0"])
    assert [(a.key, a.target, a.values) for a in axes] == [
        ("max_gap_s", "params", (2.0, 3.5)),
        ("build_all_detectors", "params", (True, False)),
    ]
    # lightwatch-timed controllers may also vary run settings such as max green
    axes = parse_grid("greedy", ["period_s=5,10", "max_green_s=40,60"])
    assert [(a.key, a.target) for a in axes] == [("period_s", "params"), ("max_green_s", "run")]


def test_combinations_and_labels() -> None:
    axes = parse_grid("sumo-actuated", ["max_gap_s=2,4", "max_green_s=30,60.5"])
    combos = combinations(axes)
    assert combos == [
        {"max_gap_s": 2.0, "max_green_s": 30.0},
        {"max_gap_s": 2.0, "max_green_s": 60.5},
        {"max_gap_s": 4.0, "max_green_s": 30.0},
        {"max_gap_s": 4.0, "max_green_s": 60.5},
    ]
    labels = [bench_label("sumo-actuated", c) for c in combos]
    assert labels[0] == "sumo-actuated@max_gap_s-2+max_green_s-30"
    assert len(set(labels)) == 4 and all(BENCH_LABEL.match(x) for x in labels)
    assert (
        display_label("sumo-actuated", combos[1]) == "sumo-actuated[max_gap_s=2,max_green_s=60.5]"
    )
    flags = combinations(parse_grid("sumo-actuated", ["build_all_detectors=true,false"]))
    assert bench_label("sumo-actuated", flags[1]) == "sumo-actuated@build_all_detectors-false"


# --------------------------------------------------------------------------------------------
# selection


def _entry(delays: dict[int, float]) -> dict:
    return {"n_seeds": len(delays), "seeds": {str(s): {"delay_s": d} for s, d in delays.items()}}


def test_best_setting_is_the_lowest_mean_then_the_lowest_worst_seed() -> None:
    combos = {"g@a": {"a": 1.0}, "g@b": {"a": 2.0}, "g@c": {"a": 3.0}, "g@d": {"a": 4.0}}
    report = {
        "results": {
            # a and b tie on the mean (10); b's worst seed is lower; c is lower but misses a seed
            "x": {
                "g@a": _entry({1: 8.0, 2: 12.0}),
                "g@b": _entry({1: 9.0, 2: 11.0}),
                "g@c": _entry({1: 5.0}),
                "other": _entry({1: 1.0, 2: 1.0}),  # not a grid label: ignored
            },
            # the lowest mean wins even with the worst single seed
            "y": {"g@a": _entry({1: 1.0, 2: 30.0}), "g@d": _entry({1: 16.0, 2: 16.0})},
            # nothing eligible
            "z": {"g@c": _entry({2: 1.0})},
        }
    }
    best = select_best(report, combos, (1, 2))
    assert set(best) == {"x", "y"}
    assert best["x"].label == "g@b" and best["x"].delay_s == 10.0 and best["x"].worst_delay_s == 11
    assert best["y"].label == "g@a" and best["y"].combo == {"a": 1.0}
    # on an exact tie of both, the grid order decides
    tie = {"results": {"x": {"g@b": _entry({1: 2.0}), "g@a": _entry({1: 2.0})}}}
    assert select_best(tie, combos, (1,))["x"].label == "g@a"


def test_a_key_that_never_changes_a_delay_is_reported_inert() -> None:
    combos = {f"g@{a}-{b}": {"a": a, "b": b} for a, b in itertools.product((1.0, 2.0), ("x", "y"))}
    same, other = _entry({1: 5.0, 2: 6.0}), _entry({1: 5.0, 2: 7.0})
    report = {
        "results": {
            # b never matters; a matters on seed 2 of one scenario only
            "s": {"g@1.0-x": same, "g@1.0-y": same, "g@2.0-x": same, "g@2.0-y": same},
            "t": {"g@1.0-x": same, "g@1.0-y": same, "g@2.0-x": other, "g@2.0-y": other},
        }
    }
    assert inert_axes(report, combos, (1, 2)) == ["b"]
    # a pair where one side misses a seed compares nothing: no verdict on a key never compared
    partial = {"results": {"s": {"g@1.0-x": same, "g@1.0-y": _entry({1: 5.0})}}}
    assert inert_axes(partial, combos, (1, 2)) == []
    assert inert_axes(partial, combos, (1,)) == ["b"]


def test_tuned_file_round_trip(tmp_path: Path) -> None:
    axes = parse_grid("sumo-actuated", ["max_gap_s=2,4", "build_all_detectors=true,false"])
    combos = {bench_label("sumo-actuated", c): c for c in combinations(axes)}
    report = {"results": {"single": {k: _entry({1: 10.0 + i}) for i, k in enumerate(combos)}}}
    best = select_best(report, combos, (1,))
    doc = tuned_document(
        "sumo-actuated", axes, (1,), best, {"end_s": 120.0}, {"sumo": "1.28.0"}, "lightwatch tune"
    )
    path = tmp_path / "t.toml"
    path.write_text(tomli_w.dumps(doc))
    back = load_tuned(path)
    entry = back["scenarios"]["single"]
    assert entry["params"] == {"max_gap_s": 2.0, "build_all_detectors": True}
    assert entry["label"] == "sumo-actuated[max_gap_s=2,build_all_detectors=true]"
    assert back["grid"] == {"max_gap_s": [2.0, 4.0], "build_all_detectors": [True, False]}
    assert back["seeds"] == [1] and back["window"] == {"end_s": 120.0}
    path.write_text('kind = "something else"\n')
    with pytest.raises(InputError, match="not a tuned file"):
        load_tuned(path)


# --------------------------------------------------------------------------------------------
# the bench subprocess


def test_bench_exit_codes_map_to_errors(tmp_path: Path) -> None:
    suite = tmp_path / "s.toml"
    with pytest.raises(InputError, match="refused"):
        run_bench(suite, tmp_path, None, False, [sys.executable, "-c", "raise SystemExit(2)"])
    with pytest.raises(Exception, match="failed"):
        run_bench(suite, tmp_path, None, False, [sys.executable, "-c", "raise SystemExit(1)"])
    run_bench(
        suite,
        tmp_path,
        2,
        True,
        [sys.executable, "-c", "import sys; assert '--resume' in sys.argv"],
    )


def test_sigterm_stops_the_bench_and_says_resume(tmp_path: Path) -> None:
    # the child ignores SIGINT, as a bench started from a background shell does, and sends
    # SIGTERM to this process; the handler passes SIGTERM on, and the child stops on it
    marker = tmp_path / "terminated"
    code = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "def stop(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"os.kill(os.getppid(), {int(signal.SIGTERM)})\n"
        "time.sleep(30)\n"
    )
    with pytest.raises(Interrupted, match="--resume"):
        run_bench(tmp_path / "s.toml", tmp_path, None, False, [sys.executable, "-c", code])
    assert marker.exists()  # the bench itself was told to stop, not left running
    assert signal.getsignal(signal.SIGTERM) is not None  # the old handler is back


# --------------------------------------------------------------------------------------------
# typed parameters and SUMO program options


def test_bool_and_str_parameters() -> None:
    for text, want in (("true", True), ("No", False), ("YES", True), ("0", False), (1, True)):
        assert parse_value("flag", text, bool) is want
    with pytest.raises(InputError, match="parameter 'flag' must be true or false"):
        parse_value("flag", "maybe", bool)
    assert parse_value("mode", " queue ", str) == "queue"
    with pytest.raises(InputError, match="parameter 'mode' must be a non-empty string"):
        parse_value("mode", 3.0, str)
    with pytest.raises(InputError, match="parameter 'gap' must be a number"):
        parse_value("gap", True, float)
    p = controllers.get("sumo-actuated").parse_params(
        {"build-all-detectors": "yes", "max_gap_s": 2}
    )
    assert p.build_all_detectors is True and p.max_gap_s == 2.0
    with pytest.raises(InputError, match="'extend_max_dur' must be true or false"):
        controllers.create("sumo-delay", {"extend_max_dur": "sometimes"})


def test_program_options_reach_sumo(tmp_path: Path) -> None:
    from sim.scenario import bundled_scenarios, from_sumocfg, scan_net

    sc = from_sumocfg(bundled_scenarios()[bundled_scenario("single")], name="single")
    scan = scan_net(sc.net_file)
    act = controllers.create(
        "sumo-actuated",
        {"max_gap_s": 2.5, "jam_threshold_s": 30, "build_all_detectors": "true",
         "detector_length_m": 1.5, "passing_time_s": 2.2, "max_green_s": 45},
    )  # fmt: skip
    dly = controllers.create("sumo-delay", {"extend_max_dur": "yes", "min_time_loss_s": 2})
    expect = {
        "actuated": {"max-gap": "2.5", "jam-threshold": "30", "build-all-detectors": "true",
                     "detector-length": "1.5", "passing-time": "2.2", "detector-gap": "2"},
        "delay_based": {"extendMaxDur": "true", "minTimeloss": "2", "detectorRange": "100"},
    }  # fmt: skip
    for ctl, kind in ((act, "actuated"), (dly, "delay_based")):
        workdir = tmp_path / kind
        workdir.mkdir()
        (path,) = ctl.additional_files(scan, workdir)
        logic = ET.parse(path).getroot().find("tlLogic")
        assert logic is not None and logic.get("type") == kind
        params = {p.get("key"): p.get("value") for p in logic.findall("param")}
        assert expect[kind].items() <= params.items()
        greens = [p for p in logic.findall("phase") if "y" not in p.get("state", "")]
        assert max(float(p.get("maxDur", 0)) for p in greens) == max(
            ctl.params.max_green_s, max(float(p.get("duration", 0)) for p in greens)
        )
        with sumo_running(sc.net_file, "-a", str(path), "--end", "30") as api:
            for _ in range(20):
                api.simulationStep()
            for tls in scan.tls_ids:
                assert api.trafficlight.getProgram(tls) == "lightwatch"
                for key, value in expect[kind].items():
                    assert api.trafficlight.getParameter(tls, key) == value


def test_the_delay_program_uses_its_time_loss_threshold(tmp_path: Path) -> None:
    # SUMO's delay_based program extends a green only for vehicles whose time loss exceeds the
    # threshold; a threshold no vehicle reaches never extends one, so its greens end sooner
    from sim.runner import RunConfig, run

    def mean_green_steps(min_time_loss_s: float) -> float:
        states: list[str] = []

        def on_step(backend: Any, timing: Any) -> None:
            api = backend.api
            states.append(api.trafficlight.getRedYellowGreenState(api.trafficlight.getIDList()[0]))

        cfg = RunConfig(
            scenario="single", controller="sumo-delay", seed=1, end_s=900,
            params={"min_time_loss_s": min_time_loss_s},
            out=str(tmp_path / f"tl{min_time_loss_s:g}"),
        )  # fmt: skip
        run(cfg, on_step=on_step)
        runs = [len(list(g)) for st, g in itertools.groupby(states) if "y" not in st]
        return sum(runs) / len(runs)

    assert mean_green_steps(1e6) < 0.8 * mean_green_steps(1.0)


def test_max_green_defaults_match_count() -> None:
    count_max = controllers.get("count").timing_defaults.max_green_s
    assert controllers.create("sumo-actuated").params.max_green_s == count_max
    assert controllers.create("sumo-delay").params.max_green_s == count_max


# --------------------------------------------------------------------------------------------
# end to end


def test_tune_end_to_end_on_single(tmp_path: Path) -> None:
    scenario = bundled_scenario("single")
    out, save = tmp_path / "tune", tmp_path / "tuned" / "sumo-actuated.toml"
    args = (
        "tune", "--controller", "sumo-actuated", "--grid", "max_gap_s=1,5", "--scenario",
        scenario, "--seeds", "1-2", "--end", "120", "--jobs", "2", "--out", str(out),
        "--save", str(save),
    )  # fmt: skip
    res = run_cli(*args, timeout_s=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[4/4]" in res.stderr  # the bench's progress lines pass through
    assert "warning" not in res.stderr  # max_gap_s changes the delays
    report = json.loads((out / "bench.json").read_text())
    per = report["results"]["single"]
    assert set(per) == {"sumo-actuated@max_gap_s-1", "sumo-actuated@max_gap_s-5"}
    means = {label: entry["mean"]["delay_s"] for label, entry in per.items()}
    assert len(set(means.values())) == 2  # the setting matters on this scenario
    best = min(means, key=means.__getitem__)
    tuned = load_tuned(save)
    entry = tuned["scenarios"]["single"]
    assert entry["params"]["max_gap_s"] == float(best.rsplit("-", 1)[1])
    assert entry["delay_s"] == pytest.approx(means[best], abs=1e-3)
    assert tuned["seeds"] == [1, 2] and tuned["window"] == {"end_s": 120.0}
    # the runs carried the setting: the manifest of a run of the best label has it
    summary = json.loads((out / "runs" / "single" / best / "seed1" / "summary.json").read_text())
    assert summary["manifest"]["controller_params"]["max_gap_s"] == entry["params"]["max_gap_s"]
    # --resume reuses every run and chooses the same
    again = run_cli(*args, "--resume", timeout_s=600)
    assert again.returncode == 0 and "4 already done, 0 to run" in again.stderr
    assert tomllib.loads(save.read_text())["scenarios"] == tuned["scenarios"]


def test_tune_warns_of_a_grid_key_that_changes_nothing(tmp_path: Path) -> None:
    # single has no buses and no riders: every vehicle weighs one car whatever person_weight is
    res = run_cli(
        "tune", "--controller", "count", "--grid", "person_weight=0,1", "--grid",
        "yield_min_s=5,20", "--scenario", bundled_scenario("single"), "--seeds", "1",
        "--end", "300", "--jobs", "2", "--out", str(tmp_path / "tune"), timeout_s=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "--grid person_weight changed no result" in warnings[0]


# --------------------------------------------------------------------------------------------
# benchmarks/evaluate.py: the headline table


def _evaluate():  # the script is not a package module
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("evaluate", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _seeds(*runs: tuple[float, float, float]) -> dict[str, dict[str, float]]:
    """Seeds 6, 7, ... with (delay_s, running, throughput_veh_h)."""
    return {
        str(6 + i): {"delay_s": d, "running": r, "throughput_veh_h": t}
        for i, (d, r, t) in enumerate(runs)
    }


def test_jams_are_runs_far_above_the_best_other_column_on_the_same_seed() -> None:
    ev = _evaluate()
    per = {
        "a": _seeds((50, 500, 900), (20, 100, 1000)),  # seed 6: 500 > 2 x 100 + 20
        "b": _seeds((20, 100, 1000), (20, 100, 1000)),
        "c": _seeds((21, 220, 1000), (20, 110, 1000)),  # 220 = 2 x 100 + 20: not far above
    }
    assert ev.jams(per, "a") == ["6"] and ev.jams(per, "b") == [] and ev.jams(per, "c") == []
    per["b"]["7"]["gridlock_at_s"] = 1200.0  # gridlock while the others move: a jam
    assert ev.jams(per, "b") == ["7"]
    for c in ("a", "c"):
        per[c]["7"]["gridlock_at_s"] = 900.0  # everyone gridlocked: not this one's failure
    assert ev.jams(per, "b") == []


def test_cells_use_the_t_interval_and_show_the_worst_seed() -> None:
    ev = _evaluate()
    assert ev.ci95([1.0, 2.0, 3.0]) == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    assert ev.ci95([5.0]) == 0.0
    text = ev.cell(_seeds((1, 0, 0), (2, 0, 0), (3, 0, 0)), True, ["7"])
    assert text == "**2.0 ± 2.5** / 3 jam s7"


def test_acceptance_summary() -> None:
    ev = _evaluate()
    table = {
        "x": {  # count 10 vs best tuned peer 20 (greedy.tuned beats greedy)
            "fixed": _seeds((30, 10, 1000), (9, 10, 1000)),
            "greedy": _seeds((25, 10, 1000), (25, 10, 1000)),
            "greedy.tuned": _seeds((20, 10, 1000), (20, 10, 1000)),
            "count": _seeds((10, 10, 1000), (10, 10, 1000)),  # seed 7: 10 > 1.01 x 9
        },
        "y": {  # count 40 vs 20, and 1 % less throughput than the best
            "fixed": _seeds((50, 10, 1000), (50, 10, 1000)),
            "greedy": _seeds((20, 10, 1000), (20, 10, 1000)),
            "count": _seeds((40, 10, 990), (40, 10, 990)),
        },
    }
    text = ev.acceptance(table, ["fixed", "greedy", "count"])
    assert "| x | 10.0 | `greedy.tuned` | 20.0 | 0.500 |" in text
    assert "| y | 40.0 | `greedy` | 20.0 | 2.000 |" in text
    assert "over 2 rows: 1.000" in text  # geometric mean of 0.5 and 2
    assert "above the best tuned peer's: y (2.000)" in text
    assert "x s7 (10.0 vs 9.0)" in text and "x s6" not in text.split("1.01 x fixed")[1]
    assert "y (990 vs 1000 veh/h)" in text and "count's jams: none" in text


def test_tuned_suites_group_rows_by_network(tmp_path: Path) -> None:
    ev = _evaluate()
    suite = tmp_path / "eval.toml"
    suite.write_text(
        'seeds = [6]\ncontrollers = ["greedy"]\n'
        '[[scenarios]]\nname = "single"\n'
        '[[scenarios]]\nname = "single"\nlabel = "single.peak"\nprofile = "peak"\n'
        '[[scenarios]]\nname = "corridor"\n'
    )
    tuned = {
        "greedy": {"scenarios": {"single": {"params": {"period_s": 5.0}, "settings": {}}}},
        "sotl": {"scenarios": {"corridor": {"params": {"theta_veh_s": 30.0}, "settings": {}}}},
    }
    suites, same = ev.tuned_suites(suite, tuned)
    assert set(suites) == {"single"}  # sotl's corridor setting is its default: not run again
    assert [s["label"] for s in suites["single"]["scenarios"]] == ["single", "single.peak"]
    assert suites["single"]["controllers"] == [
        {"name": "greedy", "label": "greedy.tuned", "params": {"period_s": 5.0}}
    ]
    assert same == {("single", "greedy"): False, ("single.peak", "greedy"): False,
                    ("corridor", "sotl"): True}  # fmt: skip


def test_networks_restrict_the_suite_to_their_rows_with_the_same_runs(tmp_path: Path) -> None:
    ev = _evaluate()
    (tmp_path / "suites").mkdir()
    suite = tmp_path / "suites" / "eval.toml"
    suite.write_text(
        'seeds = [6]\nroot = ".."\ncontrollers = ["greedy"]\n'
        '[[scenarios]]\nname = "single"\n'
        '[[scenarios]]\nname = "corridor"\n'
        '[[scenarios]]\nname = "single"\nlabel = "single.peak"\nprofile = "peak"\n'
        '[[scenarios]]\npath = "maps/cologne1"\n'
    )
    path = ev.restrict(suite, ["single", "cologne1"], tmp_path / "out")
    assert path.parent == tmp_path / "out" / "suites"
    doc = tomllib.loads(path.read_text())
    assert ev.suite_rows(doc) == ["single", "single.peak", "cologne1"]
    assert doc["scenarios"][1] == {"name": "single", "label": "single.peak", "profile": "peak"}
    assert doc["root"] == str(tmp_path.resolve())  # paths resolve as from the full suite
    assert doc["seeds"] == [6] and doc["controllers"] == ["greedy"]
    with pytest.raises(InputError, match=r"no network 'grid4x4'.*single, corridor, cologne1"):
        ev.restrict(suite, ["grid4x4"], tmp_path / "out")


def test_the_table_of_some_networks_shows_only_their_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = _evaluate()
    out, tuned = tmp_path / "eval", tmp_path / "tuned"
    tuned.mkdir()
    cols = {c: {"seeds": _seeds((20, 10, 1000))} for c in ("fixed", "greedy", "count")}
    bench = {"seeds": [6], "lightwatch_version": "x", "sumo_version": "y"}
    bench["results"] = {"single": cols, "single.peak": cols, "corridor": cols}
    (out / "default").mkdir(parents=True)
    (out / "default" / "bench.json").write_text(json.dumps(bench))
    suite = tmp_path / "eval.toml"
    suite.write_text(
        'seeds = [6]\ncontrollers = ["fixed", "greedy", "count"]\n'
        '[[scenarios]]\nname = "single"\n'
        '[[scenarios]]\nname = "single"\nlabel = "single.peak"\nprofile = "peak"\n'
        '[[scenarios]]\nname = "corridor"\n'
    )
    args = ["--suite", str(suite), "--out", str(out), "--tuned-dir", str(tuned)]
    args += ["--records", str(tmp_path / "records.json")]
    assert ev.main([*args, "--networks", "single"]) == 0
    text = capsys.readouterr().out
    assert "| single |" in text and "| single.peak |" in text and "| corridor |" not in text
    assert ev.main(args) == 0  # without --networks: every row of the bench
    assert "| corridor |" in capsys.readouterr().out
    del bench["results"]["single.peak"]
    (out / "default" / "bench.json").write_text(json.dumps(bench))
    assert ev.main([*args, "--networks", "single"]) == 2
    assert "has no results for single.peak; run with --run" in capsys.readouterr().err


def test_evaluate_names_a_bad_network_in_one_line(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluate.py"
    out = tmp_path / "eval"
    r = subprocess.run(
        [sys.executable, str(script), "--networks", "atlantis", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: --networks: eval.toml has no network 'atlantis'")
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_committed_grids_parse_and_hold_each_peers_defaults() -> None:
    grids = tomllib.loads((Path(__file__).resolve().parents[1] / "benchmarks/tuned/grids.toml")
                          .read_text())  # fmt: skip
    assert set(grids) == {
        "sumo-actuated",
        "sumo-delay",
        "greedy",
        "max-pressure",
        "sotl",
        "webster",
    }
    for peer, grid in grids.items():
        axes = parse_grid(peer, [f"{k}=" + ",".join(map(str, v)) for k, v in grid.items()])
        ctl = controllers.create(peer)
        for a in axes:
            default = (
                getattr(ctl.params, a.key) if a.target == "params"
                else getattr(ctl.timing_defaults, a.key)
            )  # fmt: skip
            assert default in a.values, (peer, a.key)


def test_committed_tuned_settings_come_from_their_grid() -> None:
    # every benchmarks/tuned/NAME.toml was searched over the committed grid of its peer, on the
    # choosing seeds only, and names networks of the evaluation suite
    root = Path(__file__).resolve().parents[1]
    grids = tomllib.loads((root / "benchmarks/tuned/grids.toml").read_text())
    rows = {
        s.get("label") or s.get("name") or Path(s["path"]).name
        for s in tomllib.loads((root / "benchmarks/suites/eval.toml").read_text())["scenarios"]
    }
    networks = {row.split(".", 1)[0] for row in rows}
    for path in sorted((root / "benchmarks/tuned").glob("*.toml")):
        if path.name == "grids.toml":
            continue
        doc = load_tuned(path)
        peer = doc["controller"]
        assert path.stem == peer
        assert set(doc["seeds"]) <= {1, 2, 3, 4, 5}
        grid = {k: [float(v) for v in vs] for k, vs in grids[peer].items()}
        assert {k: [float(v) for v in vs] for k, vs in doc["grid"].items()} == grid
        assert doc["scenarios"] and set(doc["scenarios"]) <= networks, path.name
        for entry in doc["scenarios"].values():
            chosen = {**entry.get("params", {}), **entry.get("settings", {})}
            assert set(chosen) == set(grid)
            assert all(float(v) in grid[k] for k, v in chosen.items())


def test_records_let_one_column_be_run_again_and_the_rest_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = _evaluate()
    ran: list[str] = []
    monkeypatch.setattr(ev, "bench", lambda suite, out, jobs: ran.append(Path(suite).name))
    out, tuned, records = tmp_path / "eval", tmp_path / "tuned", tmp_path / "records.json"
    tuned.mkdir()
    suite = tmp_path / "eval.toml"
    suite.write_text(
        'seeds = [6, 7]\ncontrollers = ["fixed", "greedy", "count"]\n'
        '[[scenarios]]\nname = "single"\n[[scenarios]]\nname = "corridor"\n'
    )
    args = ["--suite", str(suite), "--out", str(out), "--tuned-dir", str(tuned)]
    args += ["--records", str(records)]

    def write_bench(cols: dict[str, dict]) -> None:
        bench = {"seeds": [6, 7], "lightwatch_version": "x", "sumo_version": "y"}
        bench["results"] = {"single": cols, "corridor": cols}
        (out / "default").mkdir(parents=True, exist_ok=True)
        (out / "default" / "bench.json").write_text(json.dumps(bench))

    full = {
        "fixed": {"seeds": _seeds((40, 10, 1000), (40, 10, 1000))},
        "greedy": {"seeds": _seeds((30, 10, 1000), (30, 10, 1000))},
        "count": {"seeds": _seeds((20, 10, 1000), (20, 10, 1000))},
    }
    write_bench(full)
    assert ev.main([*args, "--run"]) == 0
    first = capsys.readouterr().out
    assert "| single | 40.0 ± 0.0 / 40 | 30.0 ± 0.0 / 30 | **20.0 ± 0.0** / 20 |" in first
    assert "cells from records" not in first
    saved = json.loads(records.read_text())
    assert set(saved["cells"]["corridor"]) == {"fixed", "greedy", "count"}
    assert saved["cells"]["single"]["count"]["seeds"]["6"] == {
        "delay_s": 20, "running": 10, "throughput_veh_h": 1000}  # fmt: skip

    # count changes: only its column is run, the others come from the records
    write_bench({"count": {"seeds": _seeds((35, 10, 1000), (35, 10, 1000))}})
    assert ev.main([*args, "--run", "--controllers", "count"]) == 0
    second = capsys.readouterr().out
    assert ran[-1].endswith("-all-count.toml")
    assert "| single | 40.0 ± 0.0 / 40 | **30.0 ± 0.0** / 30 | 35.0 ± 0.0 / 35 |" in second
    assert "cells from records (commit, date of their runs): 4 at " in second
    assert json.loads(records.read_text())["cells"]["single"]["count"]["seeds"]["7"][
        "delay_s"] == 35  # fmt: skip

    # without any runs: the table from the records alone
    shutil.rmtree(out)
    assert ev.main(args) == 0
    assert "| corridor | 40.0 ± 0.0 / 40 | **30.0 ± 0.0** / 30 | 35.0 ± 0.0 / 35 |" in (
        capsys.readouterr().out
    )
    assert ev.main([*args, "--controllers", "atlantis"]) == 2
    assert "--controllers: eval.toml has no controller 'atlantis'" in capsys.readouterr().err
