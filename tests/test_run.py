"""``lightwatch run`` / ``compare`` / ``networks`` end to end, against the result contract.

The contract is the "Contract" section of DESIGN.md: the keys of ``summary.json`` and the
columns of ``queues.csv``. Runs use the bundled ``single`` scenario on a short window.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import CONTRACT_METRICS, bundled_scenario, run_cli

END_S = 600.0
CONTRACT_KEYS = {*CONTRACT_METRICS, "wall_s", "manifest"}
MANIFEST_KEYS = {
    "lightwatch_version",
    "sumo_version",
    "scenario",
    "controller",
    "controller_params",
    "seed",
    "backend",
    "command",
}
QUEUES_HEADER = ["time_s", "signal", "approach", "halting"]


@pytest.fixture(scope="module")
def single_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess, Path]:
    scenario = bundled_scenario("single")
    out = tmp_path_factory.mktemp("run") / "single-count"
    proc = run_cli(
        "run", "--scenario", scenario, "--controller", "count", "--seed", "3",
        "--end", f"{END_S:g}", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc, out


def summary_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_summary_has_every_contract_key(single_run: tuple) -> None:
    _, out = single_run
    summary = summary_of(out)
    assert set(summary) >= CONTRACT_KEYS, CONTRACT_KEYS - set(summary)
    manifest = summary["manifest"]
    assert set(manifest) >= MANIFEST_KEYS, MANIFEST_KEYS - set(manifest)
    assert manifest["lightwatch_version"] == version("lightwatch")
    assert manifest["sumo_version"].startswith("1.28")
    assert manifest["scenario"] == "single"
    assert manifest["controller"] == "count"
    assert isinstance(manifest["controller_params"], dict)
    assert manifest["seed"] == 3
    assert manifest["backend"] == "libsumo"
    assert isinstance(manifest["command"], list) and manifest["command"]


def test_summary_metrics_agree_with_sumos_tripinfo(single_run: tuple) -> None:
    _, out = single_run
    s = summary_of(out)
    trips = [el.attrib for el in ET.parse(out / "tripinfo.xml").getroot().iter("tripinfo")]
    inserted = [t for t in trips if float(t.get("depart", "-1")) >= 0]
    arrived = [t for t in inserted if float(t.get("arrival", "-1")) >= 0]
    assert s["inserted"] == len(inserted)
    assert s["arrived"] == len(arrived)
    assert s["not_inserted"] == len(trips) - len(inserted)
    assert 0 < s["arrived"] <= s["inserted"]
    assert s["throughput_veh_h"] == pytest.approx(s["arrived"] * 3600.0 / END_S)
    assert s["delay_s"] >= 0
    assert s["trip_time_s"] > 0 and s["waiting_time_s"] >= 0
    assert s["waiting_time_s"] <= s["trip_time_s"]
    assert s["teleports"] >= 0 and s["wall_s"] > 0
    assert 0 <= s["queue_mean_veh"] <= s["queue_max_veh"]


def test_queues_csv_has_the_contract_columns(single_run: tuple) -> None:
    _, out = single_run
    with (out / "queues.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == QUEUES_HEADER
    body = rows[1:]
    assert body
    times = [float(r[0]) for r in body]
    assert times == sorted(times)
    assert times[0] > 0 and times[-1] <= END_S
    pairs = {(r[1], r[2]) for r in body}
    n_times = len(set(times))
    assert len(body) == n_times * len(pairs)  # every approach at every sampled time
    halting = [int(r[3]) for r in body]
    assert min(halting) >= 0
    assert max(halting) <= summary_of(out)["queue_max_veh"]
    assert max(halting) > 0


def test_run_prints_a_table(single_run: tuple) -> None:
    proc, _ = single_run
    assert "count" in proc.stdout
    assert "delay" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_compare_two_controllers_two_seeds(tmp_path: Path) -> None:
    scenario = bundled_scenario("single")
    out = tmp_path / "cmp"
    proc = run_cli(
        "compare", "--scenario", scenario, "--controllers", "fixed,count", "--seeds", "1,2",
        "--end", "300", "--out", str(out), "--jobs", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "│" in line or "|" in line]
    assert any(" fixed " in r for r in rows), proc.stdout
    assert any(" count " in r for r in rows), proc.stdout
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["seeds"] == [1, 2]
    assert set(data["controllers"]) == {"fixed", "count"}
    for name, entry in data["controllers"].items():
        seeds = entry["seeds"]
        assert set(seeds) == {"1", "2"}
        for seed, summary in seeds.items():
            assert set(summary) >= CONTRACT_KEYS
            assert summary["manifest"]["controller"] == name
            assert summary["manifest"]["seed"] == int(seed)
            assert (out / name / f"seed{seed}" / "summary.json").is_file()
        delays = [seeds[k]["delay_s"] for k in ("1", "2")]
        assert entry["mean"]["delay_s"] == pytest.approx(sum(delays) / 2)


def test_networks_lists_the_bundled_scenarios() -> None:
    from sim.scenario import bundled_scenarios

    names = list(bundled_scenarios())
    if not names:
        pytest.skip("networks/ has no bundled scenarios")
    proc = run_cli("networks")
    assert proc.returncode == 0, proc.stderr
    for name in names:
        assert name in proc.stdout


# --------------------------------------------------------------------------------------------
# SIGTERM and --gui


def test_sigterm_ends_a_run_like_ctrl_c(tmp_path: Path) -> None:
    """SIGTERM once the run steps: exit 143, one error line, ``X.partial/PARTIAL``, no ``X/``."""
    out = tmp_path / "X"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", "--scenario", bundled_scenario("single"),
         "--end", "360000", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # progress lines come from the stepping loop
        assert "vehicles running" in first, first
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    errors = [line for line in err.splitlines() if "vehicles running" not in line]
    assert len(errors) == 1 and errors[0].startswith("error: terminated by SIGTERM"), err
    marker = out.with_name("X.partial") / "PARTIAL"
    assert marker.is_file()
    assert "terminated by SIGTERM" in marker.read_text(encoding="utf-8")
    assert not out.exists()


def test_gui_without_a_display_is_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "X"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--scenario", bundled_scenario("single"),
         "--gui", "--end", "60", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: sumo-gui needs a display: DISPLAY is not set")
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not out.exists() and not out.with_name("X.partial").exists()


# --------------------------------------------------------------------------------------------
# one tripinfo parser for the summary and the delay plot

TRIPINFO = """<tripinfos>
    <tripinfo id="a" depart="10.00" departDelay="2.00" arrival="70.00" duration="60.00"
              waitingTime="5.00" timeLoss="20.00"/>
    <tripinfo id="b" depart="20.00" departDelay="0.00" arrival="-1" duration="40.00"
              waitingTime="30.00" timeLoss="35.00"/>
    <tripinfo id="c" depart="-1" departDelay="45.00" arrival="-1" duration="-1"
              waitingTime="0" timeLoss="0"/>
</tripinfos>
"""


def test_tripinfo_metrics_and_delays_on_a_hand_built_file(tmp_path: Path) -> None:
    """a arrived (delay 20 + 2), b still running (35 + 0), c never inserted (45): delay is the
    mean over all three, trip and waiting times over the two inserted ones."""
    from sim.metrics import read_delays, tripinfo_metrics

    path = tmp_path / "tripinfo.xml"
    path.write_text(TRIPINFO, encoding="utf-8")
    got = tripinfo_metrics(path, 0.0, 1800.0)
    assert got["delay_s"] == pytest.approx((22.0 + 35.0 + 45.0) / 3)
    assert got["trip_time_s"] == pytest.approx(50.0)
    assert got["waiting_time_s"] == pytest.approx(17.5)
    assert got["throughput_veh_h"] == pytest.approx(2.0)  # 1 arrival in half an hour
    assert (got["arrived"], got["inserted"], got["not_inserted"]) == (1, 2, 1)
    assert read_delays(path).tolist() == [22.0, 35.0, 45.0]
