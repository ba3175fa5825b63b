"""Result files: queues and signals agree with SUMO, config files round-trip, Parquet, progress."""

from __future__ import annotations

import io
import json
import re
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CONTRACT_METRICS, bundled_scenario, run_cli

from sim.results import read_table, stage_of

END_S = 300.0
SAMPLE_EVERY_S = 25.0
METRIC_KEYS = CONTRACT_METRICS


def _observe_run(controller: str, out: Path) -> tuple[Any, ...]:
    """Run grid4x4 in this process and read SUMO directly from the ``on_step`` hook.

    Returns the halting vehicles per (time, signal, approach edge) at sampled steps, the signal
    ids, every signal's state string at every step (in the order of the ids), and the run result.
    """
    from sim.runner import RunConfig, run

    halting: dict[tuple[float, str, str], int] = {}
    states: dict[float, list[str]] = {}
    lanes_of: dict[tuple[str, str], list[str]] = {}
    tls_ids: list[str] = []

    def on_step(backend: Any, timing: Any) -> None:
        api = backend.api
        t = float(api.simulation.getTime())
        if not tls_ids:
            tls_ids.extend(api.trafficlight.getIDList())
        states[t] = [api.trafficlight.getRedYellowGreenState(x) for x in tls_ids]
        if not lanes_of:
            for tls in tls_ids:
                for lane in dict.fromkeys(api.trafficlight.getControlledLanes(tls)):
                    lanes_of.setdefault((tls, api.lane.getEdgeID(lane)), []).append(lane)
        if t % SAMPLE_EVERY_S == 0:
            for (tls, edge), lanes in lanes_of.items():
                halting[(t, tls, edge)] = sum(api.lane.getLastStepHaltingNumber(x) for x in lanes)

    cfg = RunConfig(
        scenario=bundled_scenario("grid4x4"), controller=controller, end_s=END_S, out=str(out)
    )
    result = run(cfg, on_step=on_step)
    return halting, tls_ids, states, result


@pytest.fixture(scope="module", params=["count", "fixed"])
def observed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp(request.param) / "run"
    return request.param, *_observe_run(request.param, out)


def test_queues_csv_matches_sumo(observed: Any) -> None:
    _, halting, _, _, result = observed
    q = read_table(result.out_dir / "queues.csv")
    recorded = {
        (float(t), s, a): int(h)
        for t, s, a, h in zip(q["time_s"], q["signal"], q["approach"], q["halting"], strict=True)
    }
    assert len(halting) > 100
    compared = [(k, v, recorded[k]) for k, v in halting.items()]  # KeyError: a sample is missing
    mismatches = [c for c in compared if c[1] != c[2]]
    assert not mismatches, mismatches[:5]
    assert sum(v for _, v, _ in compared) > 0, "no queue at any sampled step: nothing compared"
    # every approach SUMO reports is recorded, and no other
    assert {k[1:] for k in halting} == {k[1:] for k in recorded}


def test_signals_csv_replays_sumo_states(observed: Any) -> None:
    """Replaying the rows of signals.csv gives the state SUMO shows at every step."""
    controller, _, ids, states, result = observed
    sig = read_table(result.out_dir / "signals.csv")
    rows: dict[str, list[tuple[float, str, int, int]]] = defaultdict(list)
    for t, s, st, ph, stg in zip(
        sig["time_s"], sig["signal"], sig["state"], sig["phase"], sig["stage"], strict=True
    ):
        rows[s].append((float(t), st, int(ph), int(stg)))
    assert set(rows) == set(ids)
    n_changes = 0
    for s_idx, s in enumerate(ids):
        times = np.array([r[0] for r in rows[s]])
        assert np.all(np.diff(times) > 0), f"{s}: rows not strictly increasing in time"
        n_changes += len(times) - 1
        for t, shown in states.items():
            k = int(np.searchsorted(times, t, side="right")) - 1
            assert k >= 0, f"{s}: no row at or before {t}"
            assert rows[s][k][1] == shown[s_idx], f"{controller} {s} at {t} s"
        for _, st, _, stg in rows[s]:
            assert stg == stage_of(st)
            assert stg != 0 or any(c in "Gg" for c in st)
    assert n_changes > len(ids), "signals barely changed: the replay proves little"


def _metrics(path: Path) -> dict[str, Any]:
    summary = json.loads((path / "summary.json").read_text())
    return {k: summary[k] for k in METRIC_KEYS}


def test_save_config_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    first = run_cli(
        "run",
        "--scenario",
        bundled_scenario("grid4x4"),
        "--controller",
        "count",
        "--seed",
        "3",
        "--end",
        f"{END_S:g}",
        "--min-green-s",
        "7",
        "-p",
        "extend_veh=1",
        "--out",
        str(tmp_path / "a"),
        "--save-config",
        str(cfg),
    )
    assert first.returncode == 0, first.stderr
    data = tomllib.loads(cfg.read_text())
    # the keys are the run settings (RunConfig fields), as in bench suites
    assert data["min_green_s"] == 7.0
    assert data["seed"] == 3
    assert data["end_s"] == END_S and data["begin_s"] == 0.0  # window resolved from the scenario
    assert data["params"] == {"extend_veh": 1.0}
    assert "out" not in data
    from sim.config import field_kinds

    assert set(data) <= set(field_kinds())
    again = run_cli("run", "--config", str(cfg), "--out", str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["manifest"]["config"]
    b = json.loads((tmp_path / "b" / "summary.json").read_text())["manifest"]["config"]
    assert {k: v for k, v in a.items() if k not in ("out", "begin_s")} == {
        k: v for k, v in b.items() if k not in ("out", "begin_s")
    }


def test_flags_override_config_and_unknown_keys_fail(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'scenario = "{bundled_scenario("single")}"\nend_s = 60.0\nmin_green_s = 7.0\n'
        'sumo_args = ["--time-to-impatience", "200"]\n[params]\nextend_veh = 2.0\n'
    )
    saved = tmp_path / "saved.toml"
    res = run_cli(
        "run",
        "--config",
        str(cfg),
        "--min-green-s",
        "9",
        "--save-config",
        str(saved),
        "--out",
        str(tmp_path / "o"),
    )
    assert res.returncode == 0, res.stderr
    data = tomllib.loads(saved.read_text())
    assert data["min_green_s"] == 9.0 and data["params"] == {"extend_veh": 2.0}
    assert data["sumo_args"] == ["--time-to-impatience", "200"]
    manifest = json.loads((tmp_path / "o" / "summary.json").read_text())["manifest"]
    assert manifest["timing"]["min_green_s"] == 9.0
    assert manifest["controller_params"]["extend_veh"] == 2.0
    assert manifest["config"]["sumo_args"] == ["--time-to-impatience", "200"]

    # a misspelt key, and a file in the former flag-named schema: one line naming the nearest key
    for line, nearest in (("min_gren_s = 3", "min_green_s"), ("max-green-s = 30", "max_green_s")):
        bad = tmp_path / "bad.toml"
        bad.write_text(cfg.read_text().replace("end_s = 60.0", f"end_s = 60.0\n{line}"))
        res = run_cli("run", "--config", str(bad))
        assert res.returncode == 2
        key = line.split()[0]
        assert res.stderr.strip().splitlines() == [
            f"error: {bad}: unknown key {key!r} (nearest valid key: {nearest!r})"
        ]
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('scenario = "single"\nmin_green_s = "seven"\n')
    res = run_cli("run", "--config", str(wrong_type))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {wrong_type}: min_green_s must be a number, got 'seven'"
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text("end_s = = 1\n")
    res = run_cli("run", "--config", str(broken))
    assert res.returncode == 2 and res.stderr.startswith("error: ")
    assert len(res.stderr.strip().splitlines()) == 1


def test_config_files_and_suites_share_keys_and_messages(tmp_path: Path) -> None:
    """The same table is a valid --config file and a valid suite [defaults]; the same
    misspelling gives the same message in both."""
    from sim.bench.suite import load_suite
    from sim.cli import run_cmd
    from sim.config import load_config
    from sim.errors import InputError

    settings = 'end_s = 120.0\nmin_green_s = 7.0\ndetection_range_m = 80.0\nprofile = "peak"\n'
    cfg = tmp_path / "c.toml"
    cfg.write_text(settings)
    assert load_config(cfg, run_cmd) == {
        "end_s": 120.0,
        "min_green_s": 7.0,
        "detection_range_m": 80.0,
        "profile": "peak",
    }
    suite = tmp_path / "s.toml"
    head = 'seeds = [1]\nscenarios = ["single"]\ncontrollers = ["count"]\n[defaults]\n'
    suite.write_text(head + settings)
    cfg_of_run = load_suite(suite).runs[0].config
    assert (cfg_of_run.end_s, cfg_of_run.min_green_s) == (120.0, 7.0)
    assert (cfg_of_run.detection_range_m, cfg_of_run.profile) == (80.0, "peak")

    bad = "detection_rnge_m = 80.0\n"
    cfg.write_text(bad)
    suite.write_text(head + bad)
    messages = []
    for load in (lambda: load_config(cfg, run_cmd), lambda: load_suite(suite)):
        with pytest.raises(InputError) as err:
            load()
        messages.append(str(err.value).split(": ", 1)[1])
    assert messages[0].endswith(messages[1])
    assert messages[0] == "unknown key 'detection_rnge_m' (nearest valid key: 'detection_range_m')"


def test_compare_save_config_reads_back(tmp_path: Path) -> None:
    from sim.cli import compare_cmd
    from sim.config import load_config
    from sim.errors import InputError

    cfg = tmp_path / "cmp.toml"
    cfg.write_text('scenario = "single"\ncontrollers = ["fixed", "count"]\nseeds = [1, 2]\n')
    defaults = load_config(cfg, compare_cmd)
    assert defaults == {"scenario": "single", "controller_list": "fixed,count", "seeds": "1,2"}
    cfg.write_text('scenario = "single"\ncontroller = "count"\n')  # a run key, not compare's
    with pytest.raises(
        InputError, match=re.escape("unknown key 'controller' (nearest valid key: 'controllers')")
    ):
        load_config(cfg, compare_cmd)


def test_parquet_tables(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    res = run_cli(
        "run",
        "--scenario",
        bundled_scenario("single"),
        "--controller",
        "fixed",
        "--end",
        "200",
        "--format",
        "parquet",
        "--out",
        str(tmp_path / "p"),
    )
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "p" / "queues.csv").exists()
    q = read_table(tmp_path / "p" / "queues.parquet")
    s = read_table(tmp_path / "p" / "signals.parquet")
    assert list(q) == ["time_s", "signal", "approach", "halting"]
    assert list(s) == ["time_s", "signal", "state", "phase", "stage", "ended"]
    assert len(q["time_s"]) > 0 and len(s["state"]) > 1
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["manifest"]["config"]["format"] == "parquet"
    res = run_cli("plot", str(tmp_path / "p"), "--out", str(tmp_path / "figs"))  # plots read it
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "figs" / "queue_network.png").stat().st_size > 10_000


def test_parquet_without_pyarrow_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sim.results
    from sim.cli import main

    monkeypatch.setattr(sim.results, "have_pyarrow", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--scenario", "single", "--format", "parquet", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pyarrow" in err[0] and err[0].startswith("error: ")
    assert not (tmp_path / "x").exists()


def test_plain_progress_is_short_and_cheap() -> None:
    from sim.progress import RunProgress

    calls = []
    buf = io.StringIO()
    with RunProgress("x", 100.0, 1100.0, stream=buf, rich_bar=False) as p:
        for t in np.arange(101.0, 1101.0):
            p(float(t), lambda: calls.append(1) or 7)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10 and len(calls) == 10
    assert lines[0] == "x: 200 s (10 %), 7 vehicles running"
    assert lines[-1].startswith("x: 1100 s (100 %)")


def test_rich_progress_refreshes_rarely() -> None:
    from sim.progress import RunProgress

    calls = []
    with RunProgress("x", 0.0, 1e5, stream=io.StringIO(), rich_bar=True, refresh_hz=4) as p:
        for t in range(20_000):  # far less than a second of wall time
            p(float(t), lambda: calls.append(1) or 0)
    assert 1 <= len(calls) < 50


def test_run_prints_plain_progress_when_not_a_terminal(tmp_path: Path) -> None:
    res = run_cli(
        "run", "--scenario", bundled_scenario("single"), "--end", "120", "--out", str(tmp_path)
    )
    assert res.returncode == 0, res.stderr
    progress = [line for line in res.stderr.splitlines() if "vehicles running" in line]
    assert 1 <= len(progress) <= 11
    assert "\x1b[" not in res.stderr  # no terminal control codes in logs


def test_signals_csv_same_on_both_backends(tmp_path: Path) -> None:
    """SUMO-timed signals are read through a subscription on traci: same rows as libsumo."""
    out = {}
    for backend in ("libsumo", "traci"):
        res = run_cli(
            "run",
            "--scenario",
            bundled_scenario("grid4x4"),
            "--controller",
            "fixed",
            "--end",
            "200",
            "--backend",
            backend,
            "--out",
            str(tmp_path / backend),
        )
        assert res.returncode == 0, res.stderr
        out[backend] = (tmp_path / backend / "signals.csv").read_text()
    assert out["libsumo"] == out["traci"]
    assert len(out["libsumo"].splitlines()) > 17  # header + 16 initial states + changes
