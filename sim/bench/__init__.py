"""``lightwatch bench``: benchmark suites (scenarios × controllers × seeds) and the regression gate.

Modules, one job each:
    suite       the suite schema, :func:`load_suite`, :class:`PlannedRun`, :class:`Suite`
    executors   local process pool and Dask cluster (:func:`dask_task`), :func:`run_suite`, resume
    aggregate   mean and 95 % CI per scenario × controller (``bench.json``, ``compare.json``)
    gate        baselines (bless, load) and the comparison with one
    tables      rich tables
    command     the click command
``python -m sim.bench CONFIG.json`` runs one configuration (the Dask workers' subprocess).
"""

from sim.bench.aggregate import bench_report
from sim.bench.executors import BenchOutcome, dask_task, run_suite
from sim.bench.gate import compare, load_baseline, make_baseline, parse_tolerance
from sim.bench.suite import PlannedRun, Suite, load_suite

__all__ = [
    "BenchOutcome",
    "PlannedRun",
    "Suite",
    "bench_report",
    "compare",
    "dask_task",
    "load_baseline",
    "load_suite",
    "make_baseline",
    "parse_tolerance",
    "run_suite",
]
