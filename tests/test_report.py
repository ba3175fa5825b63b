"""Signal study report: tables checked against a hand-built one-signal run with known answers,
and the table builders on hand-made result files.

The hand-built run: one signal C joining two single-lane approaches (WC eastbound, SC
northbound, 13.89 m/s), a static plan of 60 s (27 s green, 3 s yellow for each link in turn),
and vehicles that never vary (speedDev 0, sigma 0) departing at full speed every 10 s on WC and
every 20 s on SC, over a 600 s window. Green windows, arrivals on green, stops and volumes
follow from that by hand.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import resco_dir

from sim.errors import InputError
from sim.plots import collect_runs, group_runs
from sim.report.data import read_arrivals, read_net
from sim.report.render import write_report
from sim.report.tables import (
    APPROACH_COLUMNS,
    INTERSECTION,
    approach_table,
    greens_of,
    los,
    parse_thresholds,
    timing_table,
)
from sim.runner import RunConfig, run
from sim.sumo_home import sumo_binary

END_S = 600.0
CYCLE_S = 60.0
GREEN_S = 27.0
YELLOW_S = 3.0
SPEED_MS = 13.89
PLAN_START_S = 1.0
"""SUMO runs a static plan from one step after the window start: the first phase is shown at 0 s
(before the first step) and switches after 28 s, every later one after its duration."""
HEADWAY_S = {"WC": 10.0, "SC": 20.0}  # one departure every ... [s] per approach
ROUTE = {"WC": "WC CE", "SC": "SC CN"}

NODES = """<nodes>
  <node id="W" x="-200" y="0"/><node id="E" x="200" y="0"/>
  <node id="S" x="0" y="-200"/><node id="N" x="0" y="200"/>
  <node id="C" x="0" y="0" type="traffic_light"/>
</nodes>"""
EDGES = """<edges>
  <edge id="WC" from="W" to="C" numLanes="1" speed="13.89"/>
  <edge id="CE" from="C" to="E" numLanes="1" speed="13.89"/>
  <edge id="SC" from="S" to="C" numLanes="1" speed="13.89"/>
  <edge id="CN" from="C" to="N" numLanes="1" speed="13.89"/>
</edges>"""
CONNECTIONS = """<connections>
  <connection from="WC" to="CE" fromLane="0" toLane="0"/>
  <connection from="SC" to="CN" fromLane="0" toLane="0"/>
</connections>"""
PLAN = f"""<tlLogics><tlLogic id="C" type="static" programID="0" offset="0">
  <phase duration="{GREEN_S:g}" state="Gr"/><phase duration="{YELLOW_S:g}" state="yr"/>
  <phase duration="{GREEN_S:g}" state="rG"/><phase duration="{YELLOW_S:g}" state="ry"/>
</tlLogic></tlLogics>"""


def _routes() -> str:
    flows = "\n".join(
        f'  <flow id="{e}" type="car" route="r{e}" begin="0" end="{END_S:g}" '
        f'period="{h:g}" departSpeed="max" departLane="0"/>'
        for e, h in HEADWAY_S.items()
    )
    routes = "\n".join(f'  <route id="r{e}" edges="{r}"/>' for e, r in ROUTE.items())
    return (
        '<routes>\n  <vType id="car" speedDev="0" sigma="0" accel="2.6" decel="4.5"/>\n'
        f"{routes}\n{flows}\n</routes>\n"
    )


@pytest.fixture(scope="module")
def one_signal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The hand-built network and runs of ``fixed`` and ``count`` with the study outputs."""
    d = tmp_path_factory.mktemp("one_signal")
    for name, text in (
        ("n.nod.xml", NODES),
        ("e.edg.xml", EDGES),
        ("c.con.xml", CONNECTIONS),
        ("t.tll.xml", PLAN),
        ("r.rou.xml", _routes()),
    ):
        (d / name).write_text(text, encoding="utf-8")
    net = d / "one.net.xml"
    subprocess.run(
        [
            sumo_binary("netconvert"),
            *("--node-files", str(d / "n.nod.xml"), "--edge-files", str(d / "e.edg.xml")),
            *("--connection-files", str(d / "c.con.xml"), "--tllogic-files", str(d / "t.tll.xml")),
            *("--no-turnarounds", "-o", str(net)),
        ],
        check=True,
        capture_output=True,
    )
    runs = {}
    for ctl in ("fixed", "count"):
        cfg = RunConfig(
            net_file=str(net),
            route_files=str(d / "r.rou.xml"),
            controller=ctl,
            begin_s=0.0,
            end_s=END_S,
            out=str(d / "cmp" / ctl / "seed1"),
            study=True,
            emissions=True,
        )
        runs[ctl] = run(cfg).out_dir
    link = {
        el.get("from"): int(el.get("linkIndex", "-1"))
        for el in ET.parse(net).getroot().iter("connection")
        if el.get("tl") == "C"
    }
    return {"dir": d, "net": net, "runs": runs, "link": link}


def _green_start_s(link_index: int) -> float:
    """Start of the green of a link within the 60 s cycle: link 0 in phase 0, link 1 in phase 2."""
    return PLAN_START_S + (0.0 if link_index == 0 else GREEN_S + YELLOW_S)


def _expected(one_signal: dict[str, Any], edge: str) -> dict[str, float]:
    """Hand-computed answers for one approach: departures, arrivals on green, red waits."""
    length_m = read_net(one_signal["net"]).lane_length_m[f"{edge}_0"]
    start = _green_start_s(one_signal["link"][edge])
    departs = np.arange(0.0, END_S, HEADWAY_S[edge])
    at_stop = departs + length_m / SPEED_MS  # free-flow arrival at the stop line
    inside = at_stop <= END_S
    in_cycle = (at_stop - start) % CYCLE_S
    on_green = in_cycle < GREEN_S
    # waiting out the red, as far as it lies inside the window; per vehicle of the window
    red_wait = np.where(on_green, 0.0, CYCLE_S - in_cycle)
    red_wait = np.where(inside, np.minimum(red_wait, END_S - at_stop), 0.0)
    return {
        "n_veh": float(departs.shape[0]),
        "aog_pct": 100.0 * on_green[inside].sum() / inside.sum(),
        "red_wait_s": float(red_wait.mean()),
        "stops": float((~on_green & inside).sum()),
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def report(one_signal: dict[str, Any]) -> dict[str, Any]:
    out = one_signal["dir"] / "report"
    html = write_report([one_signal["dir"] / "cmp"], out)
    return {
        "html": html.read_text(encoding="utf-8"),
        "approaches": _rows(out / "approaches.csv"),
        "timing": _rows(out / "timing.csv"),
        "summary": _rows(out / "summary.csv"),
    }


def test_fixed_plan_timing_is_the_plan(one_signal: dict[str, Any], report: dict[str, Any]) -> None:
    fixed = [r for r in report["timing"] if r["controller"] == "fixed"]
    assert sorted(int(r["green"]) for r in fixed) == [0, 1]
    n_cycles = int(END_S // CYCLE_S)
    for r in fixed:
        first_extra_s = PLAN_START_S if r["green"] == "0" else 0.0  # the first green, 28 s
        total_s = n_cycles * GREEN_S + first_extra_s
        assert int(r["times_served"]) == n_cycles
        assert float(r["green_total_s"]) == pytest.approx(total_s)
        assert float(r["green_mean_s"]) == pytest.approx(total_s / n_cycles, abs=1e-3)
        assert float(r["green_min_s"]) == pytest.approx(GREEN_S)
        assert float(r["green_max_s"]) == pytest.approx(GREEN_S + first_extra_s)
        gaps = [CYCLE_S + first_extra_s] + [CYCLE_S] * (n_cycles - 2)
        assert float(r["cycle_mean_s"]) == pytest.approx(np.mean(gaps), abs=0.05)
        assert float(r["split_pct"]) == pytest.approx(100 * total_s / END_S, abs=0.05)
        assert int(r["n_timed"]) == n_cycles  # every green ended by the plan
        assert int(r["n_unknown"]) == int(r["n_skipped"]) == 0


def _green_time_from_signals(run_dir: Path, end_s: float = END_S) -> dict[str, float]:
    """Total time of stage-0 rows per signal, read straight from ``signals.csv``."""
    rows = _rows(run_dir / "signals.csv")
    total: dict[str, float] = {}
    for sig in {r["signal"] for r in rows}:
        mine = [r for r in rows if r["signal"] == sig]
        times = [float(r["time_s"]) for r in mine] + [end_s]
        total[sig] = sum(
            b - a for r, a, b in zip(mine, times, times[1:], strict=False) if r["stage"] == "0"
        )
    return total


def test_mean_green_times_served_adds_up_to_signals_csv(
    one_signal: dict[str, Any], report: dict[str, Any]
) -> None:
    for ctl, run_dir in one_signal["runs"].items():
        expected = _green_time_from_signals(run_dir)
        rows = [r for r in report["timing"] if r["controller"] == ctl]
        got = sum(float(r["green_mean_s"]) * int(r["times_served"]) for r in rows)
        assert got == pytest.approx(expected["C"], abs=0.01 * len(rows))


def test_approach_volume_arrivals_on_green_and_delay(
    one_signal: dict[str, Any], report: dict[str, Any]
) -> None:
    rows = {
        r["approach"]: r
        for r in report["approaches"]
        if r["controller"] == "fixed" and r["signal"] == "C"
    }
    trips = ET.parse(one_signal["runs"]["fixed"] / "tripinfo.xml").getroot().findall("tripinfo")
    for edge in ("WC", "SC"):
        exp = _expected(one_signal, edge)
        r = rows[edge]
        assert float(r["volume_veh_h"]) == pytest.approx(exp["n_veh"] * 3600.0 / END_S)
        assert float(r["arrivals_on_green_pct"]) == pytest.approx(exp["aog_pct"], abs=0.1)
        delay = float(r["control_delay_s"])
        # waiting out the red is the bulk of it; braking and starting add a few seconds
        assert exp["red_wait_s"] <= delay <= exp["red_wait_s"] + 6.0
        mine = [t for t in trips if t.get("id", "").startswith(edge)]
        # time standing still is lost; the whole trip loses about as much as the approach (one
        # signal), tripinfo and edge data integrating it within a few per cent of each other
        assert np.mean([float(t.get("waitingTime")) for t in mine]) <= delay
        assert delay <= 1.05 * np.mean([float(t.get("timeLoss")) for t in mine])
        assert r["los"] == los(delay)
        storage = read_net(one_signal["net"]).lane_length_m[f"{edge}_0"]
        assert float(r["storage_m"]) == pytest.approx(storage, abs=0.05)
        assert float(r["queue_p95_m"]) == pytest.approx(7.5 * float(r["queue_p95_veh"]), abs=0.1)
        red_s = CYCLE_S - GREEN_S
        assert (
            1 <= float(r["queue_p95_veh"]) <= np.ceil(red_s / HEADWAY_S[edge])
        )  # one red's arrivals
    # SUMO's detector output is condensed to one row per vehicle and detector
    run_dir = one_signal["runs"]["fixed"]
    assert not (run_dir / "arrivals.xml").exists()
    arrivals = read_arrivals(run_dir)
    for edge, h in HEADWAY_S.items():
        length_m = read_net(one_signal["net"]).lane_length_m[f"{edge}_0"]
        at_detector = np.arange(0.0, END_S, h) + (length_m - 100.0) / SPEED_MS
        assert arrivals[f"{edge}_0"].shape[0] == int((at_detector <= END_S).sum())
    whole = rows[INTERSECTION]
    assert float(whole["volume_veh_h"]) == pytest.approx(
        float(rows["WC"]["volume_veh_h"]) + float(rows["SC"]["volume_veh_h"])
    )


def test_stops_emissions_and_approach_delay_in_summary(one_signal: dict[str, Any]) -> None:
    summary = json.loads((one_signal["runs"]["fixed"] / "summary.json").read_text())
    n_veh = sum(_expected(one_signal, e)["n_veh"] for e in HEADWAY_S)
    stops = sum(_expected(one_signal, e)["stops"] for e in HEADWAY_S)
    assert summary["stops_per_veh"] == pytest.approx(stops / n_veh, abs=0.5 / n_veh)
    # petrol: about 2.3 kg CO2 per litre burnt; a wrong unit would be off by orders of magnitude
    assert 2.0 < summary["co2_kg"] / summary["fuel_l"] < 2.6
    assert summary["co2_kg_per_veh_km"] > 0 and summary["nox_g"] > 0
    assert "HBEFA" in summary["emission_model"]
    # volume-weighted mean of the two approaches' control delays
    loss = [
        float(r["control_delay_s"]) * float(r["volume_veh_h"]) for r in _approach_rows(one_signal)
    ]
    vol = [float(r["volume_veh_h"]) for r in _approach_rows(one_signal)]
    assert summary["approach_delay_s"] == pytest.approx(sum(loss) / sum(vol), abs=0.1)
    # every trip passes this one signal once and loses time nowhere else: the two delays agree
    assert summary["approach_delay_s"] == pytest.approx(summary["delay_s"], rel=0.05)


def _approach_rows(one_signal: dict[str, Any]) -> list[dict[str, Any]]:
    groups = group_runs(collect_runs([one_signal["runs"]["fixed"]]))
    rows = approach_table(groups, read_net(one_signal["net"]))
    return [r for r in rows if r["approach"] != INTERSECTION]


def test_report_html_is_self_contained_with_a_los_per_row(report: dict[str, Any]) -> None:
    html = report["html"]
    assert not re.search(r"https?://", html)
    assert "<script" not in html and "@import" not in html and "url(" not in html
    assert html.count("data:image/png;base64,") >= 3
    letters = re.findall(r'<span class="los los-([A-F])">', html)
    n_rows = len(report["approaches"])  # signal × (approaches + intersection) × controller
    assert len(letters) == n_rows == 3 * 2
    assert all(r["los"] in "ABCDEF" for r in report["approaches"])


def test_report_command_markdown(one_signal: dict[str, Any]) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "report",
            str(one_signal["dir"] / "cmp"),
            "--format",
            "md",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "| " + " | ".join(APPROACH_COLUMNS) + " |"
    assert len(lines) == 2 + 6
    bad = subprocess.run(
        [sys.executable, "-m", "sim.cli", "report", str(one_signal["dir"] / "nothing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr
    as_csv = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "report",
            str(one_signal["runs"]["fixed"]),
            "--format",
            "csv",
            "--los-thresholds",
            "1,2,3,4,5",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(as_csv.stdout.splitlines()))
    assert len(rows) == 3 and rows[-1]["approach"] == INTERSECTION
    for r in rows:  # delays of about 10 s are F with bounds of 1..5 s
        assert r["los"] == los(float(r["control_delay_s"]), (1, 2, 3, 4, 5))
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "report",
            str(one_signal["runs"]["fixed"]),
            "--los-thresholds",
            "10,5",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: --los-thresholds")


# ---------------------------------------------------------------------------------------------
# units on hand-made inputs


@pytest.mark.parametrize(
    ("delay_s", "letter"),
    [
        (0.0, "A"),
        (10.0, "A"),
        (10.01, "B"),
        (20.0, "B"),
        (35.0, "C"),
        (55.0, "D"),
        (80.0, "E"),
        (80.1, "F"),
        (None, "n/a"),
    ],
)
def test_los_hcm6_thresholds(delay_s: float | None, letter: str) -> None:
    assert los(delay_s) == letter


def test_los_thresholds_configurable() -> None:
    t = parse_thresholds("5,10,15,20,25")
    assert los(12.0, t) == "C" and los(26.0, t) == "F"
    for bad in ("1,2,3", "10,5,20,30,40", "a,b,c,d,e", "0,1,2,3,4"):
        with pytest.raises(InputError):
            parse_thresholds(bad)


def _write_run(d: Path, signals: str, queues: str, net: Path, controller: str = "count") -> Path:
    d.mkdir(parents=True)
    (d / "signals.csv").write_text(signals, encoding="utf-8")
    (d / "queues.csv").write_text(queues, encoding="utf-8")
    manifest = {
        "controller": controller,
        "seed": 1,
        "begin_s": 0,
        "end_s": 100,
        "net_file": str(net),
        "timing": {"max_green_s": 30.0},
    }
    (d / "summary.json").write_text(json.dumps({"delay_s": 1.0, "manifest": manifest}))
    return d


def test_timing_endings_skips_and_split_failures_from_hand_made_files(
    one_signal: dict[str, Any], tmp_path: Path
) -> None:
    """Green 0 served 3 times (gap-out, max-out by length, cut), green 1 once (skipped once)."""
    link = one_signal["link"]
    g0 = "".join("G" if link["WC"] == i else "r" for i in range(2))
    g1 = "".join("G" if link["SC"] == i else "r" for i in range(2))
    y0 = g0.replace("G", "y")
    y1 = g1.replace("G", "y")
    signals = (
        "time_s,signal,state,phase,stage,ended\n"
        + "\n".join(
            [
                f"0,C,{g0},0,0,",
                f"10,C,{y0},0,1,gap-out",
                f"13,C,{g1},1,0,",
                f"20,C,{y1},1,1,",
                f"23,C,{g0},0,0,",
                f"53,C,{y0},0,1,",
                f"56,C,{g0},0,0,",
                f"70,C,{y0},0,1,cut",
                f"73,C,{g0},0,0,",
            ]
        )
        + "\n"
    )
    # WC halts 4 at the start of its first green and still 4 when it ends: a split failure
    times = range(0, 101, 5)
    wc = {0: 4, 5: 4, 10: 4}
    queues = "time_s,signal,approach,halting\n" + "".join(
        f"{t},C,WC,{wc.get(t, 0)}\n{t},C,SC,0\n" for t in times
    )
    run_dir = _write_run(tmp_path / "r", signals, queues, one_signal["net"])
    rows = {
        r["green"]: r
        for r in timing_table(group_runs(collect_runs([run_dir])), read_net(one_signal["net"]))
    }
    r0, r1 = rows[0], rows[1]
    assert r0["times_served"] == 4 and r1["times_served"] == 1
    assert (r0["n_gap_out"], r0["n_max_out"], r0["n_cut"], r0["n_window_end"]) == (1, 1, 1, 1)
    assert r0["green_total_s"] == pytest.approx(10 + 30 + 14 + 27)
    assert r0["cycle_mean_s"] == pytest.approx(np.mean([23, 33, 17]), abs=0.05)
    assert r1["n_skipped"] == 2  # green 0 started again at 56 and 73 without green 1 between
    assert r0["n_split_failures"] == 1
    assert r1["n_unknown"] == 1  # no `ended`, 7 s is no max green: unknown
    # a run without --study: queues, but no delay, volume or arrivals on green
    net = read_net(one_signal["net"])
    rows = {r["approach"]: r for r in approach_table(group_runs(collect_runs([run_dir])), net)}
    assert rows["WC"]["los"] == "n/a" and rows["WC"]["control_delay_s"] == ""
    assert rows["WC"]["queue_mean_veh"] == pytest.approx(12 / 21, abs=0.01)
    assert rows["WC"]["queue_p95_veh"] == pytest.approx(np.percentile([4, 4, 4] + [0] * 18, 95))


def test_greens_of_without_ended_column_fixed_plan_is_timed(one_signal: dict[str, Any]) -> None:
    from sim.report.data import read_signals

    logs, has_ended = read_signals(one_signal["runs"]["fixed"])
    del has_ended  # SUMO-timed runs leave the column empty
    greens = greens_of(logs["C"], END_S, "fixed", None)
    assert {g.ended for g in greens} == {"timed"}
    expected = [GREEN_S + PLAN_START_S] + [GREEN_S] * (len(greens) - 1)
    assert [round(g.length_s, 6) for g in greens] == expected


def test_bench_output_gets_one_report_per_scenario(
    one_signal: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    for scenario in ("one", "again"):
        for ctl, run_dir in one_signal["runs"].items():
            shutil.copytree(run_dir, tmp_path / "bench" / "runs" / scenario / ctl / "seed1")
    index = write_report([tmp_path / "bench"], tmp_path / "out")
    assert index.name == "index.html"
    text = index.read_text(encoding="utf-8")
    for scenario in ("one", "again"):
        assert f'href="{scenario}/report.html"' in text
        assert (tmp_path / "out" / scenario / "timing.csv").exists()
    assert not re.search(r"https?://", text)


@pytest.mark.parametrize("name", ["cologne1", "arterial4x4"])
def test_resco_map_report_has_a_los_everywhere(name: str, tmp_path: Path) -> None:
    """A real map from its own .sumocfg: 300 s, two controllers, every approach rated."""
    cfg = resco_dir(name) / f"{name}.sumocfg"
    for ctl in ("fixed", "count"):
        begin = float(ET.parse(cfg).getroot().find("time/begin").get("value", "0"))
        run(
            RunConfig(
                scenario=str(cfg),
                controller=ctl,
                end_s=begin + 300.0,
                out=str(tmp_path / ctl / "seed1"),
                study=True,
            )
        )
    html = write_report([tmp_path], tmp_path / "report").read_text(encoding="utf-8")
    rows = _rows(tmp_path / "report" / "approaches.csv")
    assert rows and all(r["los"] in "ABCDEF" for r in rows)
    assert all(r["control_delay_s"] != "" and r["volume_veh_h"] != "" for r in rows)
    assert len(re.findall(r'<span class="los los-[A-F]">', html)) == len(rows)
    assert not re.search(r"https?://", html)
    timing = _rows(tmp_path / "report" / "timing.csv")
    for ctl in ("fixed", "count"):
        got = sum(
            float(r["green_mean_s"]) * int(r["times_served"])
            for r in timing
            if r["controller"] == ctl
        )
        expected = sum(_green_time_from_signals(tmp_path / ctl / "seed1", begin + 300.0).values())
        assert got == pytest.approx(expected, abs=0.01 * len(timing))


def test_study_options_reach_the_run_config() -> None:
    import click
    from click.testing import CliRunner

    from sim.report.cli import report_option
    from sim.report.outputs import study_options

    seen: dict[str, Any] = {}

    @click.command()
    @study_options
    @report_option
    def cmd(**kw: Any) -> None:
        seen.update(kw)

    assert CliRunner().invoke(cmd, ["--study", "--emissions", "--report"]).exit_code == 0
    cfg = RunConfig(scenario="x", study=seen["study"], emissions=seen["emissions"])
    assert cfg.study and cfg.emissions and seen["report"]
    assert CliRunner().invoke(cmd, []).exit_code == 0
    assert not seen["study"] and not seen["emissions"]


def test_compare_report_writes_the_study_beside_the_runs(cli: Any, tmp_path: Path) -> None:
    """``compare --report`` turns on the study outputs and writes OUT/report with a LOS letter
    for every signal x approach x controller and no web resource."""
    out = tmp_path / "cmp"
    proc = cli(
        "compare", "--scenario", "single", "--controllers", "fixed,count", "--seeds", "1",
        "--end", "300", "--report", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    with (out / "report" / "approaches.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["controller"] for r in rows} == {"fixed", "count"}
    assert all(r["los"] in set("ABCDEF") for r in rows if r["approach"] != "(intersection)")
    summary = json.loads((out / "count" / "seed1" / "summary.json").read_text(encoding="utf-8"))
    assert summary["co2_kg"] is not None and summary["approach_delay_s"] is not None
