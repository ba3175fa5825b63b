"""What a sweep of many short runs costs beyond the simulations, through ``lightwatch bench``.

    python benchmarks/sweep.py [--seeds 200] [--parts scaling,local,dask,resume] [--markdown]

Parts (each drives the ``lightwatch bench`` command line in its own process, nothing else):
  scaling  runs per minute of a small sweep (``--scaling-seeds`` seeds x 5 controllers) on 2
           local workers over 1 worker;
  local    the sweep of ``benchmarks/suites/sweep.toml`` (``single``, 300 s, 5 controllers x
           ``--seeds`` seeds; 200 seeds = 1,000 runs) on ``--jobs`` local workers: it must finish
           every run; per-run overhead = wall time x workers / runs - mean simulation ``wall_s``;
  dask     the same sweep on a Dask ``LocalCluster`` (``--jobs`` single-threaded worker processes)
           started here, ``--executor dask --scheduler ADDRESS``;
  resume   the sweep is interrupted (SIGINT to its process group, as Ctrl-C does) once
           ``--interrupt-after`` runs have finished, then run again with ``--resume``: finished
           runs must be reused (their ``summary.json`` untouched) and the rest run.

Runs are counted from the documented output layout ``OUT/runs/<scenario>/<controller>/seed<N>/
summary.json`` (a run folder appears only when the run is complete).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

REPO = Path(__file__).resolve().parents[1]
SWEEP_SUITE = REPO / "benchmarks" / "suites" / "sweep.toml"
ALL_PARTS = ("scaling", "local", "dask", "resume")


# --- helpers (unit-tested) --------------------------------------------------------------------


def suite_with_seeds(doc: dict[str, Any], n_seeds: int, end_s: float | None = None) -> dict:
    """A copy of a suite document with seeds ``1..n_seeds`` (and the window end ``end_s``)."""
    if n_seeds < 1:
        raise ValueError("a sweep needs at least one seed")
    out = dict(doc)
    out["seeds"] = list(range(1, n_seeds + 1))
    if end_s is not None:
        out["defaults"] = {**doc.get("defaults", {}), "end_s": float(end_s)}
    return out


def n_planned(doc: dict[str, Any]) -> int:
    """Runs a suite plans: seeds x scenarios x controllers (plain lists or tables)."""
    return len(doc["seeds"]) * len(doc["scenarios"]) * len(doc["controllers"])


def finished_runs(out: Path) -> dict[str, int]:
    """Finished runs under a bench output folder: ``{run folder: summary.json mtime [ns]}``."""
    return {
        str(p.parent.relative_to(out)): p.stat().st_mtime_ns
        for p in sorted((out / "runs").glob("*/*/seed*/summary.json"))
    }


def reused_runs(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Runs finished ``before`` whose ``summary.json`` is unchanged ``after`` (not redone)."""
    return [k for k, t in before.items() if after.get(k) == t]


def per_run_overhead_s(wall_s: float, n_workers: int, sim_wall_s: list[float]) -> float:
    """Worker time per run beyond the simulation: ``wall_s x n_workers / runs - mean(sim)``."""
    if not sim_wall_s:
        raise ValueError("no runs")
    return wall_s * n_workers / len(sim_wall_s) - statistics.fmean(sim_wall_s)


def runs_per_minute(n_runs: int, wall_s: float) -> float:
    """Throughput of a sweep."""
    return 60.0 * n_runs / wall_s


def sim_walls(out: Path) -> list[float]:
    """The simulations' own ``wall_s`` from every finished run's ``summary.json``."""
    import json

    return [
        float(json.loads(p.read_text(encoding="utf-8"))["wall_s"])
        for p in sorted((out / "runs").glob("*/*/seed*/summary.json"))
    ]


# --- driving lightwatch bench -----------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def bench_cmd(suite: Path, out: Path, *extra: str) -> list[str]:
    """The ``lightwatch bench`` command line (this checkout's code)."""
    return [
        sys.executable,
        "-m",
        "sim.cli",
        "bench",
        "--suite",
        str(suite),
        "--out",
        str(out),
        *extra,
    ]


def write_suite(doc: dict[str, Any], folder: Path, name: str) -> Path:
    """Write a suite document as ``folder/name.toml``."""
    path = folder / f"{name}.toml"
    path.write_bytes(tomli_w.dumps({**doc, "name": name}).encode("utf-8"))
    return path


@dataclass(frozen=True)
class Sweep:
    """One finished ``lightwatch bench`` call."""

    wall_s: float
    n_runs: int
    sim_wall_s: list[float]


def run_bench(suite: Path, out: Path, *extra: str) -> Sweep:
    """Run ``lightwatch bench`` to completion (exit 0 required)."""
    t0 = time.perf_counter()
    proc = subprocess.run(bench_cmd(suite, out, *extra), env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench failed ({proc.returncode}):\n{proc.stdout[-1500:]}{proc.stderr}")
    walls = sim_walls(out)
    return Sweep(wall, len(walls), walls)


@dataclass(frozen=True)
class Resume:
    """An interrupted sweep and its resumption."""

    n_planned: int
    n_before: int  # runs finished when the interrupt took effect
    n_reused: int  # of those, reused by --resume (summary.json untouched)
    n_after: int  # runs finished after --resume
    interrupt_rc: int  # exit code of the interrupted bench


def interrupt_and_resume(
    suite: Path, out: Path, n_planned_runs: int, after_n: int, jobs: int, timeout_s: float = 600
) -> Resume:
    """Start the sweep, SIGINT its process group once ``after_n`` runs are finished, then rerun
    it with ``--resume``."""
    proc = subprocess.Popen(
        bench_cmd(suite, out, "--jobs", str(jobs)),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # a background shell starts us with SIGINT ignored, which children inherit: undo that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and len(finished_runs(out)) < after_n:
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit("the sweep did not reach the interrupt point in time")
        time.sleep(0.1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    before = finished_runs(out)
    run_bench(suite, out, "--jobs", str(jobs), "--resume")
    after = finished_runs(out)
    return Resume(n_planned_runs, len(before), len(reused_runs(before, after)), len(after), rc)


def dask_sweep(suite: Path, out: Path, n_workers: int) -> Sweep:
    """The sweep on a Dask ``LocalCluster`` of ``n_workers`` single-threaded processes."""
    from dask.distributed import LocalCluster

    os.environ.update(_env())  # the workers' run processes import this checkout
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        return run_bench(suite, out, "--executor", "dask", "--scheduler", cluster.scheduler_address)


# --- report -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=200, help="seeds of the sweep (x 5 controllers)")
    ap.add_argument("--scaling-seeds", type=int, default=4, help="seeds of the 1-vs-2 sweep")
    ap.add_argument("--jobs", type=int, default=2, help="local workers / Dask workers")
    ap.add_argument("--interrupt-after", type=int, default=None, help="default: a third")
    ap.add_argument("--parts", default=",".join(ALL_PARTS), help=", ".join(ALL_PARTS))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in ALL_PARTS]
    if bad or args.seeds < 1 or args.scaling_seeds < 1 or args.jobs < 1:
        what = f"unknown part(s) {', '.join(bad)}" if bad else "--seeds/--jobs must be positive"
        print(f"error: {what}", file=sys.stderr)
        return 2

    base = tomllib.loads(SWEEP_SUITE.read_text(encoding="utf-8"))
    doc = suite_with_seeds(base, args.seeds)
    n = n_planned(doc)
    print(
        f"sweep: {n} runs, {args.jobs} workers, load average {os.getloadavg()[0]:.1f}", flush=True
    )
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lw-sweep-") as tmp:
        work = Path(tmp)
        suite = write_suite(doc, work, "sweep")
        if "scaling" in parts:
            small = write_suite(suite_with_seeds(base, args.scaling_seeds), work, "small")
            one = run_bench(small, work / "scaling-1", "--jobs", "1")
            two = run_bench(small, work / "scaling-2", "--jobs", "2")
            r1, r2 = (
                runs_per_minute(one.n_runs, one.wall_s),
                runs_per_minute(two.n_runs, two.wall_s),
            )
            rows.append(
                (
                    f"{one.n_runs} runs: 2 local workers over 1",
                    f"{r2:.1f} / {r1:.1f} runs per minute = {r2 / r1:.2f}×",
                )
            )
        for part, label in (("local", "local pool"), ("dask", "Dask LocalCluster")):
            if part not in parts:
                continue
            if part == "local":
                sw = run_bench(suite, work / "local", "--jobs", str(args.jobs))
            else:
                sw = dask_sweep(suite, work / "dask", args.jobs)
            over = per_run_overhead_s(sw.wall_s, args.jobs, sw.sim_wall_s)
            rows.append(
                (
                    f"{n} runs, {label}, {args.jobs} workers",
                    f"{sw.n_runs}/{n} finished in {sw.wall_s:.0f} s "
                    f"({runs_per_minute(sw.n_runs, sw.wall_s):.0f} runs per minute); "
                    f"per run {statistics.fmean(sw.sim_wall_s):.2f} s simulation "
                    f"+ {over:.2f} s overhead",
                )
            )
            print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
        if "resume" in parts:
            after_n = args.interrupt_after or max(1, n // 3)
            res = interrupt_and_resume(suite, work / "resume", n, after_n, args.jobs)
            rows.append(
                (
                    f"{n} runs, interrupted (SIGINT) after {after_n}, then --resume",
                    f"exit {res.interrupt_rc} with {res.n_before} finished; --resume reused "
                    f"{res.n_reused}/{res.n_before} and finished {res.n_after}/{n}",
                )
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    if args.markdown:
        print("| measurement | result |\n|---|---|")
        print("\n".join(f"| {a} | {b} |" for a, b in rows))
    else:
        width = max(len(r[0]) for r in rows)
        print("\n".join(f"{a:<{width}}  {b}" for a, b in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
