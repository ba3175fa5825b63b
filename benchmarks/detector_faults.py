"""Delay of ``count`` versus ``fixed`` as lane detectors fail (0, 10, 20, 30 % by default).

Usage:
    python benchmarks/detector_faults.py [--scenario grid4x4] [--seeds 1,2]
        [--fractions 0,0.1,0.2,0.3] [--mode silent|stuck] [--jobs 2] [--out results/detector_faults]

Each (fraction, seed) runs ``count`` with ``--fail-detectors FRACTION --fail-seed SEED``; the
failed lanes depend on the fail seed only. ``fixed`` is run once per seed: SUMO times its
signals from the net's own plan, so failed detectors cannot change it. The table gives means
over seeds (± half-width of a 95 % interval when there are several seeds), the detectors that
failed, were detected, and flagged without having failed (false alarms), and the longest time a
lane held halting vehicles without a green (``max_red_wait_s``) next to the timing kernel's
starvation bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.runner import RunConfig, run
from sim.stats import mean_ci


def _one(cfg: RunConfig) -> dict[str, Any]:
    return run(cfg).summary


def _bound_s(summary: dict[str, Any], n_greens: int) -> float:
    """Starvation bound of the timing kernel: max_wait + n_greens * (min green + clearance)."""
    t = summary["manifest"]["timing"]
    clearance = (t["yellow_s"] or 3.0) + (t["all_red_s"] or 0.0)
    return t["max_wait_s"] + n_greens * (t["min_green_s"] + clearance)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="grid4x4")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--fractions", default="0,0.1,0.2,0.3")
    ap.add_argument("--mode", choices=("silent", "stuck"), default="silent")
    ap.add_argument("--end", type=float, default=None, help="end of the window [s]")
    ap.add_argument("--suspect-after-s", type=float, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-greens", type=int, default=4, help="greens per signal, for the bound")
    ap.add_argument("--out", default="results/detector_faults")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    fractions = [float(f) for f in args.fractions.split(",")]
    out = Path(args.out)

    configs: dict[tuple[str, float, int], RunConfig] = {}
    for seed in seeds:
        configs[("fixed", 0.0, seed)] = RunConfig(
            scenario=args.scenario,
            controller="fixed",
            seed=seed,
            end_s=args.end,
            out=str(out / f"fixed-seed{seed}"),
        )
        for frac in fractions:
            configs[("count", frac, seed)] = RunConfig(
                scenario=args.scenario,
                controller="count",
                seed=seed,
                end_s=args.end,
                fail_detectors=frac,
                fail_seed=seed,
                fail_mode=args.mode,
                **({"suspect_after_s": args.suspect_after_s} if args.suspect_after_s else {}),
                out=str(out / f"count-{args.mode}-{frac:g}-seed{seed}"),
            )
    with ProcessPoolExecutor(
        max_workers=args.jobs, mp_context=get_context("spawn"), max_tasks_per_child=1
    ) as pool:
        futures = {key: pool.submit(_one, cfg) for key, cfg in configs.items()}
        results = {key: fut.result() for key, fut in futures.items()}

    def cell(values: list[float]) -> str:
        m, ci = mean_ci(values)
        return f"{m:.1f} ± {ci:.1f}" if len(values) > 1 else f"{m:.1f}"

    fixed_delay = [results[("fixed", 0.0, s)]["delay_s"] for s in seeds]
    print(
        f"{args.scenario}, seeds {args.seeds}, failure mode {args.mode}; "
        f"fixed delay {cell(fixed_delay)} s at every fraction"
    )
    head = (
        "| failed | count delay s | fixed delay s | detectors failed | detected | false alarms "
        "| max red wait s | starvation bound s |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    table = []
    for frac in fractions:
        rows = [results[("count", frac, s)] for s in seeds]
        row = {
            "fraction": frac,
            "count_delay_s": [r["delay_s"] for r in rows],
            "fixed_delay_s": fixed_delay,
            "detectors_failed": [r["detectors_failed"] for r in rows],
            "detectors_detected": [r["detectors_detected"] for r in rows],
            "detectors_false_alarms": [r["detectors_false_alarms"] for r in rows],
            "max_red_wait_s": [r["max_red_wait_s"] for r in rows],
            "bound_s": _bound_s(rows[0], args.n_greens),
        }
        table.append(row)
        print(
            f"| {frac:.0%} | {cell(row['count_delay_s'])} | {cell(fixed_delay)} "
            f"| {'/'.join(map(str, row['detectors_failed']))} "
            f"| {'/'.join(map(str, row['detectors_detected']))} "
            f"| {'/'.join(map(str, row['detectors_false_alarms']))} "
            f"| {max(row['max_red_wait_s']):.0f} | {row['bound_s']:.0f} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "detector_faults.json").write_text(
        json.dumps({"scenario": args.scenario, "seeds": seeds, "rows": table}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
