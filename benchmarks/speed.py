"""What lightwatch costs over SUMO running alone, measured side by side in one run.

    python benchmarks/speed.py [--repeat 3] [--repeat-city 1] [--no-city] [--no-scaling]

Prints, next to the targets of issue 6:
  1. ``count`` on bundled ``grid4x4`` (its 1 h window, libsumo, through the runner) over SUMO alone
     on the same net and demand running SUMO's built-in ``actuated`` program, no client
     (the ``sumo`` binary started with the program of the ``sumo-actuated`` controller);
  2. the same on bundled ``city`` (100+ signals);
  3. the TraCI backend on ``grid4x4`` over the same reference;
  4. the count controller alone: one decision round for 10,000 synthetic signals;
  5. bench scaling: the ``ci`` suite on 1 and on 2 worker processes.

Method: every simulation runs in a fresh process (libsumo: one simulation per process), seed 1,
``--time-to-teleport -1``; the reference writes the same SUMO outputs as a lightwatch run
(tripinfo with unfinished vehicles, statistics), so the ratio is the cost of the client: reading
state, deciding, timing, setting signals, recording queues. A lightwatch run is timed around
``sim.runner.run`` in its process (imports excluded, SUMO start and net loading included); the
reference is timed around the ``sumo`` subprocess. Modes alternate within each repetition and the
fastest repetition counts. CPU seconds (the process and its children) are printed too: on a shared
machine they move less than wall time. The two controllers do not produce the same traffic (count
and actuated time the signals differently), so the ratio also holds that difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

N_KERNEL_SIGNALS = 10_000


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed_run(scenario: str, backend: str, out: str) -> tuple[float, float, float]:
    """``count`` on ``scenario`` through the runner, in this (fresh) process.

    Returns (wall s, CPU s, delay s)."""
    import controllers  # noqa: F401  (imports outside the timed part)
    from sim.runner import RunConfig, run

    cfg = RunConfig(scenario=scenario, controller="count", seed=1, backend=backend, out=out)
    t0, c0 = time.perf_counter(), _cpu_s()
    summary = run(cfg).summary
    return time.perf_counter() - t0, _cpu_s() - c0, float(summary["delay_s"])


def lightwatch_run(scenario: str, backend: str, workdir: Path) -> tuple[float, float, float]:
    """:func:`_timed_run` in a fresh spawned process."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        return pool.submit(_timed_run, scenario, backend, str(workdir / f"{backend}")).result()


def sumo_alone(scenario_name: str, workdir: Path) -> tuple[float, float, float]:
    """SUMO with its built-in actuated program and no client. Returns (wall s, CPU s, delay s)."""
    import controllers
    from sim.metrics import tripinfo_metrics
    from sim.scenario import resolve, scan_net
    from sim.sumo_home import sumo_binary

    scenario = resolve(scenario_name)
    scan = scan_net(scenario.net_file)
    program = controllers.create("sumo-actuated").additional_files(scan, workdir)
    tripinfo = workdir / "tripinfo.xml"
    cmd = [
        sumo_binary("sumo"),
        *scenario.sumo_args(),
        "-a",
        ",".join([*map(str, scenario.additional_files), *map(str, program)]),
        "--seed",
        "1",
        "--time-to-teleport",
        "-1",
        "--tripinfo-output",
        str(tripinfo),
        "--tripinfo-output.write-unfinished",
        "--tripinfo-output.write-undeparted",
        "--statistic-output",
        str(workdir / "statistics.xml"),
        "--no-step-log",
        "--no-warnings",
        "--duration-log.disable",
    ]
    t0, c0 = time.perf_counter(), _cpu_s()
    subprocess.run(cmd, check=True, capture_output=True)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    delay = tripinfo_metrics(tripinfo, scenario.begin_s, scenario.end_s)["delay_s"]
    return wall, cpu, float(delay)


def side_by_side(scenario: str, backends: list[str], repeat: int) -> dict[str, list[tuple]]:
    """Alternate the reference and each backend ``repeat`` times; all measurements by mode."""
    results: dict[str, list[tuple]] = {"sumo": [], **{b: [] for b in backends}}
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lw-speed-") as tmp:
            results["sumo"].append(sumo_alone(scenario, Path(tmp)))
            for b in backends:
                results[b].append(lightwatch_run(scenario, b, Path(tmp)))
        line = ", ".join(f"{m} {r[-1][0]:.1f} s" for m, r in results.items())
        print(f"  {scenario} repetition {i + 1}/{repeat}: {line}", flush=True)
    return results


# --- the controller alone ---------------------------------------------------------------------


def tile_layout(base: Any, k: int) -> Any:
    """``k`` disjoint copies of a :class:`NetworkLayout` as one layout (incoming lanes first)."""
    from sim.layout import NetworkLayout

    known = {
        "signal_ids", "lane_ids", "n_in_lanes", "lane_length_m", "phase_ptr", "phase_signal",
        "phase_states", "phase_lane_ptr", "phase_lane_idx", "phase_move_ptr", "phase_move_idx",
        "move_in_lane", "move_out_lane", "move_signal", "move_link_index", "needs_clearance",
        "yellow_s", "all_red_s", "program_green_s", "approach_ids", "approach_signal",
        "lane_approach", "_transition_cache",
    }  # fmt: skip
    fields = {f.name for f in dataclasses.fields(NetworkLayout)}
    if fields - known:
        raise SystemExit(f"tile_layout does not know NetworkLayout fields {fields - known}")
    n_s, n_l, n_in = base.n_signals, base.n_lanes, base.n_in_lanes
    n_p, n_m, n_a = base.n_phases, len(base.move_in_lane), len(base.approach_ids)
    n_out = n_l - n_in

    def lane_map(i: int, lanes: np.ndarray) -> np.ndarray:
        lanes = np.asarray(lanes, dtype=np.int64)
        return np.where(lanes < n_in, i * n_in + lanes, k * n_in + i * n_out + (lanes - n_in))

    order = np.empty(n_l * k, dtype=np.int64)  # new lane index -> (copy, old lane)
    for i in range(k):
        order[lane_map(i, np.arange(n_l))] = i * n_l + np.arange(n_l)

    def csr(ptr: np.ndarray, idx: np.ndarray, shift: Any) -> tuple[np.ndarray, np.ndarray]:
        ptrs = [ptr[:-1] + i * ptr[-1] for i in range(k)] + [np.array([k * ptr[-1]])]
        return np.concatenate(ptrs), np.concatenate([shift(i, idx) for i in range(k)])

    def cat(a: np.ndarray, step: int = 0) -> np.ndarray:
        return np.concatenate([a + i * step for i in range(k)])

    lanes_all = [f"{i}_{x}" for i in range(k) for x in base.lane_ids]
    lane_appr = np.concatenate(
        [np.where(base.lane_approach >= 0, base.lane_approach + i * n_a, -1) for i in range(k)]
    )
    pl_ptr, pl_idx = csr(base.phase_lane_ptr, base.phase_lane_idx, lane_map)
    pm_ptr, pm_idx = csr(base.phase_move_ptr, base.phase_move_idx, lambda i, x: x + i * n_m)
    return NetworkLayout(
        signal_ids=tuple(f"{i}_{s}" for i in range(k) for s in base.signal_ids),
        lane_ids=tuple(lanes_all[j] for j in order),
        n_in_lanes=k * n_in,
        lane_length_m=np.tile(base.lane_length_m, k)[order],
        phase_ptr=np.concatenate([base.phase_ptr[:-1] + i * n_p for i in range(k)] + [[k * n_p]]),
        phase_signal=cat(base.phase_signal, n_s),
        phase_states=base.phase_states * k,
        phase_lane_ptr=pl_ptr,
        phase_lane_idx=pl_idx,
        phase_move_ptr=pm_ptr,
        phase_move_idx=pm_idx,
        move_in_lane=np.concatenate([lane_map(i, base.move_in_lane) for i in range(k)]),
        move_out_lane=np.concatenate([lane_map(i, base.move_out_lane) for i in range(k)]),
        move_signal=cat(base.move_signal, n_s),
        move_link_index=cat(base.move_link_index),
        needs_clearance=np.concatenate([base.needs_clearance] * k),
        yellow_s=cat(base.yellow_s),
        all_red_s=cat(base.all_red_s),
        program_green_s=cat(base.program_green_s),
        approach_ids=tuple(f"{i}_{a}" for i in range(k) for a in base.approach_ids),
        approach_signal=cat(base.approach_signal, n_s),
        lane_approach=lane_appr[order],
    )


def kernel_round_s(n_signals: int = N_KERNEL_SIGNALS, rounds: int = 2000) -> tuple[float, int]:
    """Seconds per ``count`` decision round (``Controller.decide``) over ``n_signals`` signals.

    The layout is a tiling of the conformance checker's random layouts; traffic is random and the
    shared timing kernel runs 120 steps first, so the signals are in a mix of stages. Returns
    (median seconds per round, number of signals)."""
    import controllers
    from controllers.check import random_layout, random_traffic
    from sim.state import SensedState
    from sim.timing import Timing, phase_demand_kernel

    rng = np.random.default_rng(1)
    base = random_layout(rng, 20)
    layout = tile_layout(base, n_signals // 20)
    ctl = controllers.create("count")
    ctl.reset(layout, np.random.default_rng(1))
    timing = Timing(layout, type(ctl).timing_defaults, 1.0)
    state = SensedState.empty(layout)
    demand = np.zeros(layout.n_phases, dtype=np.bool_)
    for step in range(120):
        state.time_s = float(step)
        random_traffic(rng, state)
        req = ctl.decide(state, timing)
        phase_demand_kernel(
            layout.phase_lane_ptr, layout.phase_lane_idx, state.queue_veh, state.near_veh, demand
        )
        timing.step(req, demand)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ctl.decide(state, timing)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), layout.n_signals


# --- bench scaling ----------------------------------------------------------------------------


def bench_wall_s(jobs: int) -> float:
    """Wall seconds of the ``ci`` suite on ``jobs`` local worker processes."""
    from sim.bench import load_suite, run_suite

    suite = load_suite(REPO / "benchmarks" / "suites" / "ci.toml")
    with tempfile.TemporaryDirectory(prefix="lw-speed-bench-") as tmp:
        t0 = time.perf_counter()
        outcome = run_suite(suite, Path(tmp), jobs=jobs, echo=lambda s: None)
        wall = time.perf_counter() - t0
    if outcome.failed:
        raise SystemExit(f"ci suite failed: {outcome.failed}")
    return wall


# --- report -----------------------------------------------------------------------------------


def _best(rows: list[tuple]) -> tuple[float, float, float]:
    return min(r[0] for r in rows), min(r[1] for r in rows), rows[0][2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions on grid4x4")
    ap.add_argument("--repeat-city", type=int, default=1, help="repetitions on city")
    ap.add_argument("--no-city", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    args = ap.parse_args()

    from sim import __version__
    from sim.scenario import bundled_scenarios
    from sim.sumo_home import sumo_version

    print(
        f"lightwatch {__version__}, SUMO {sumo_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[tuple[str, str, str]] = []

    grid = side_by_side("grid4x4", ["libsumo", "traci"], args.repeat)
    ref = _best(grid["sumo"])
    for backend, target in (("libsumo", "<= 1.3x"), ("traci", "<= 5x")):
        mine = _best(grid[backend])
        rows.append(
            (
                f"count/{backend} on grid4x4 (1 h) over SUMO alone (actuated)",
                f"{mine[0] / ref[0]:.2f}x wall ({mine[0]:.1f} / {ref[0]:.1f} s), "
                f"{mine[1] / ref[1]:.2f}x CPU",
                target,
            )
        )
    if not args.no_city and "city" in bundled_scenarios():
        city = side_by_side("city", ["libsumo"], args.repeat_city)
        ref_c, mine_c = _best(city["sumo"]), _best(city["libsumo"])
        rows.append(
            (
                "count/libsumo on city (1 h) over SUMO alone (actuated)",
                f"{mine_c[0] / ref_c[0]:.2f}x wall ({mine_c[0]:.1f} / {ref_c[0]:.1f} s), "
                f"{mine_c[1] / ref_c[1]:.2f}x CPU",
                "<= 1.5x",
            )
        )

    round_s, n = kernel_round_s()
    rows.append(
        (
            f"count decision round, {n} synthetic signals",
            f"{round_s * 1e3:.3f} ms per round = {n / round_s:.3g} decisions/s",
            "< 1 ms per round",
        )
    )

    if not args.no_scaling:
        t1 = bench_wall_s(1)
        t2 = bench_wall_s(2)
        rows.append(
            (
                "bench ci suite: 1 vs 2 worker processes",
                f"{t1:.1f} s / {t2:.1f} s = {t1 / t2:.2f}x speed-up",
                "2x on 2 free cores",
            )
        )

    width = max(len(r[0]) for r in rows)
    print()
    for what, value, target in rows:
        print(f"{what:<{width}}  {value}  [target {target}]")


if __name__ == "__main__":
    main()
