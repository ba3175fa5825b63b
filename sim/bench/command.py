"""The ``lightwatch bench`` command: run a suite, write ``bench.json``, bless or gate.

Exit codes: 0 done (gate passed); 1 a run failed, a gated metric got worse, or the baseline does
not match the bench (another SUMO release, seeds, settings or scenario × controller pairs);
2 bad input (suite, baseline, options; ``--compare`` with nothing to compare).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from sim.bench.aggregate import aggregate, bench_report
from sim.bench.executors import failure_message, run_suite
from sim.bench.gate import (
    compare,
    load_baseline,
    make_baseline,
    mismatches,
    notes,
    parse_tolerance,
    planned_report,
    rebless_hint,
)
from sim.bench.suite import load_suite
from sim.bench.tables import print_bench_table, print_gate
from sim.errors import InputError, RunFailed


def _mismatch_error(found: list[str], suite_file: str, baseline_file: str) -> RunFailed:
    return RunFailed(
        f"baseline {baseline_file} does not match this bench: {'; '.join(found)}; "
        f"if that is intended, re-bless: {rebless_hint(suite_file, baseline_file)}"
    )


@click.command("bench")
@click.option(
    "--suite",
    "suite_file",
    required=True,
    metavar="FILE",
    help="Suite file (TOML), see benchmarks/.",
)
@click.option("--jobs", type=int, default=None, help="Parallel runs (default: CPU count).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default results/bench/SUITE).",
)
@click.option("--resume", is_flag=True, help="Reuse finished runs with the same configuration.")
@click.option(
    "--compare",
    "baseline_file",
    metavar="BASELINE.json",
    default=None,
    help="Exit 1 if a metric got worse than in this baseline beyond the tolerance, or if the "
    "baseline was made from other runs.",
)
@click.option(
    "--tolerance", default="2%", show_default=True, help="Relative tolerance: 2% or 0.02."
)
@click.option(
    "--bless",
    "bless_file",
    metavar="BASELINE.json",
    default=None,
    help="Write the means of this bench as the baseline.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Local process pool, or a Dask distributed cluster (optional extra 'dask').",
)
@click.option("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786.")
def bench_cmd(
    suite_file: str,
    jobs: int | None,
    out: str | None,
    resume: bool,
    baseline_file: str | None,
    tolerance: str,
    bless_file: str | None,
    executor: str,
    scheduler: str | None,
) -> None:
    """Run a benchmark suite; optionally bless a baseline or gate against one (exit 1 if worse)."""
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if executor == "dask" and not scheduler:
        raise InputError("--executor dask needs --scheduler ADDRESS")
    if scheduler and executor != "dask":
        raise InputError("--scheduler is only used with --executor dask")
    if baseline_file and bless_file:
        raise InputError("use --compare or --bless, not both")
    tol = parse_tolerance(tolerance)
    baseline = load_baseline(baseline_file) if baseline_file else None
    suite = load_suite(suite_file)
    for msg in suite.skipped:
        click.echo(msg, err=True)
    if not suite.runs:
        if baseline_file:
            raise InputError(
                f"--compare: nothing to compare, every scenario of suite {suite.name} was skipped"
            )
        click.echo(f"bench {suite.name}: nothing to run (every scenario was skipped)", err=True)
        return
    if baseline is not None and baseline_file:
        plan = planned_report(suite)
        found = mismatches(plan, baseline)
        if found:  # known before anything runs
            raise _mismatch_error(found, suite_file, baseline_file)
        for note in notes(plan, baseline):
            click.echo(f"note: {note}", err=True)

    out_dir = Path(out) if out else Path("results") / "bench" / suite.name
    t0 = time.perf_counter()
    outcome = run_suite(suite, out_dir, jobs, resume, executor, scheduler)
    table = aggregate(suite, outcome.results)
    report = bench_report(suite, table, outcome.failed)
    report["wall_s"] = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "bench.json.partial"
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "bench.json")
    print_bench_table(
        f"{suite.name}: mean ± 95 % CI over seeds {','.join(map(str, suite.seeds))}", table
    )
    click.echo(f"results: {(out_dir / 'bench.json').resolve()}")
    if outcome.failed:
        raise RunFailed(failure_message(outcome, suite))
    if bless_file:
        dest = Path(bless_file)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(make_baseline(report), indent=2) + "\n", encoding="utf-8")
        click.echo(f"baseline blessed: {dest}")
    if baseline is not None and baseline_file:
        _gate(report, baseline, tol, suite_file, baseline_file)


def _gate(
    report: dict[str, Any],
    baseline: dict[str, Any],
    tol: float,
    suite_file: str,
    baseline_file: str,
) -> None:
    """Apply the gate to a finished bench: exit 1 (RunFailed) on a mismatch or a regression."""
    gate = compare(report, baseline, tol)
    if gate.mismatches:
        raise _mismatch_error(gate.mismatches, suite_file, baseline_file)
    if not gate.findings:
        raise InputError(
            f"--compare: nothing to compare, no gated metric is in both this bench and "
            f"{baseline_file}"
        )
    print_gate(gate, tol)
    worse = gate.regressions
    if worse:
        for f in worse:
            click.echo(f"worse: {f.describe()}")
        raise RunFailed(
            f"{len(worse)} metric(s) worse than the baseline beyond {tol:.1%}: "
            + "; ".join(f.describe() for f in worse)
        )
    click.echo(
        f"gate passed: {len(gate.findings)} metrics compared, none worse than the baseline "
        f"beyond {tol:.1%}"
    )
