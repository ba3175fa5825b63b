"""Running a suite: a local process pool or a Dask cluster, results written as runs finish.

Assumptions:
    * libsumo holds one simulation per process, so the local executor is a spawn process pool with
      one task per child, and the Dask executor starts a fresh Python subprocess per run on the
      worker (``python -m sim.bench CONFIG.json``).
    * A run's result is ``<out>/<run.folder>/`` (``summary.json``, ``queues.csv``, ...), written
      atomically (:mod:`sim.outdir`) as soon as the run finishes. Its manifest holds the run's
      configuration; ``resume`` reuses a result only when that configuration equals the planned
      one.
    * A result depends only on its configuration and seed, so every executor gives the same
      metrics (``wall_s`` aside).
    * A failed run is recorded with its message; the other runs go on. Ctrl-C cancels the runs
      not started and propagates (finished runs stay on disk).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click

from sim import outdir
from sim.bench.suite import PlannedRun, Suite, result_settings
from sim.errors import InputError, RunFailed, Terminated
from sim.runner import RunConfig, run

# called once per finished run: (n_done, n_total, run, summary or None, error message or None)
OnRun = Callable[[int, int, PlannedRun, dict[str, Any] | None, str | None], None]


@dataclass
class BenchOutcome:
    """Summaries by run key, and which runs ran, were reused (``resume``) or failed (message)."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_dir(out: Path, r: PlannedRun) -> Path:
    """The result folder of ``r`` below the output folder ``out``."""
    return out / r.folder


def _done(out: Path, r: PlannedRun) -> dict[str, Any] | None:
    """The stored summary of ``r`` if it exists and was produced by the same configuration."""
    f = run_dir(out, r) / "summary.json"
    try:
        summary = json.loads(f.read_text(encoding="utf-8"))
        stored = summary["manifest"]["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if result_settings(stored, True) != result_settings(r.config, True):
        return None
    return summary


def local_jobs(jobs: int | None, n_runs: int) -> int:
    """Worker processes for ``n_runs`` runs: ``jobs`` (default the CPU count), at most one per
    run, at least 1."""
    return max(1, min(jobs or os.cpu_count() or 1, max(1, n_runs)))


def _interruptible() -> None:
    """Worker start: SIGINT raises KeyboardInterrupt even where the bench was started with
    SIGINT ignored (a background shell), so the bench can stop a run in flight."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_local(cfg: RunConfig) -> dict[str, Any]:
    return run(cfg).summary


def _local_pool(runs: list[PlannedRun], out: Path, jobs: int) -> Iterator[tuple[PlannedRun, Any]]:
    """Yield ``(run, summary or exception)`` as runs finish; one process per run."""
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        max_tasks_per_child=1,
        initializer=_interruptible,
    ) as pool:
        pending: dict[Future[dict[str, Any]], PlannedRun] = {
            pool.submit(_run_local, dataclasses.replace(r.config, out=str(run_dir(out, r)))): r
            for r in runs
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    r = pending.pop(fut)
                    exc = fut.exception()
                    yield r, (exc if exc is not None else fut.result())
        except BaseException as exc:
            for fut in pending:
                fut.cancel()
            if isinstance(exc, Terminated):
                # Ctrl-C in a terminal reaches the workers with the bench; a SIGTERM sent to the
                # bench alone would wait for the runs in flight to finish (minutes): pass them a
                # Ctrl-C, which ends a run with its PARTIAL marker. (The pool has no public way
                # to reach its workers before Python 3.14.)
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    if proc.is_alive() and proc.pid is not None:
                        with contextlib.suppress(OSError):
                            os.kill(proc.pid, signal.SIGINT)
            raise


def dask_task(config: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in a fresh Python subprocess on a Dask worker.

    Returns ``{"summary": ..., "files": {name: bytes}}`` with the run folder's tables (queues,
    signals; SUMO's XML outputs are left out). The run folder lives in a temporary directory of
    the worker and is removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="lightwatch-") as tmp:
        run_out = Path(tmp) / "run"
        cfg_file = Path(tmp) / "config.json"
        cfg_file.write_text(json.dumps({**config, "out": str(run_out)}), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "sim.bench", str(cfg_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise RunFailed(lines[-1] if lines else f"exit code {proc.returncode}")
        summary = json.loads((run_out / "summary.json").read_text(encoding="utf-8"))
        files = {
            f.name: f.read_bytes()
            for f in sorted(run_out.iterdir())
            if f.is_file() and f.suffix != ".xml" and f.name != "summary.json"
        }
    return {"summary": summary, "files": files}


def _dask_pool(
    runs: list[PlannedRun], out: Path, scheduler: str
) -> Iterator[tuple[PlannedRun, Any]]:
    """Yield ``(run, summary or exception)`` as runs finish on the Dask cluster at ``scheduler``;
    each result is written under ``out`` atomically."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError(
            "the dask executor needs the optional extra: pip install 'lightwatch[dask]'"
        ) from None
    try:
        client = Client(scheduler, timeout="15s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = {}
        for r in runs:
            cfg = json.loads(json.dumps(dataclasses.asdict(r.config)))
            fut = client.submit(
                dask_task, cfg, pure=False, key=f"lightwatch-{r.key}-{uuid.uuid4().hex}"
            )
            futures[fut] = r
        for fut in as_completed(list(futures)):
            r = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:
                yield r, exc
                continue
            summary = res["summary"]
            dest = run_dir(out, r)
            summary["manifest"]["config"]["out"] = str(dest.resolve())
            summary["manifest"]["executor"] = f"dask {scheduler}"
            write_result(dest, summary, res.get("files", {}))
            yield r, summary
    finally:
        client.close()


def write_result(dest: Path, summary: dict[str, Any], files: Mapping[str, bytes]) -> None:
    """Write a run folder atomically: ``summary.json`` and ``files`` (name → bytes)."""
    tmp = outdir.prepare(dest)
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name, data in files.items():
        (tmp / Path(name).name).write_bytes(data)
    outdir.finish(tmp, dest)


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def run_line(
    n_done: int, n_total: int, r: PlannedRun, summary: dict[str, Any] | None, error: str | None
) -> str:
    """One line about a finished run: its key and delay and throughput, or its failure."""
    if error is not None:
        return f"[{n_done}/{n_total}] {r.key}: FAILED: {error}"
    assert summary is not None
    return (
        f"[{n_done}/{n_total}] {r.key}: delay {summary['delay_s']:.1f} s, "
        f"{summary['throughput_veh_h']:.0f} veh/h ({summary['wall_s']:.1f} s)"
    )


def run_suite(
    suite: Suite,
    out: Path,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    echo: Callable[[str], None] = echo_err,
    on_run: OnRun | None = None,
    title: str | None = None,
) -> BenchOutcome:
    """Run the suite's runs (those not done yet with ``resume``), writing each as it finishes.

    ``echo`` gets the plan (one line, starting with ``title``, default ``bench SUITE``) and,
    unless ``on_run`` is given, a line per finished run.
    """
    outcome = BenchOutcome()
    todo = []
    for r in suite.runs:
        summary = _done(out, r) if resume else None
        if summary is not None:
            outcome.results[r.key] = summary
            outcome.reused.append(r.key)
        else:
            todo.append(r)
    n_total = len(suite.runs)
    if executor == "dask":
        if not scheduler:
            raise InputError("--executor dask needs --scheduler ADDRESS")
        where = f"Dask scheduler {scheduler}"
    elif executor == "local":
        jobs = local_jobs(jobs, len(todo))
        where = f"{jobs} local process{'es' if jobs > 1 else ''}"
    else:
        raise InputError(f"unknown executor {executor!r}; choose local or dask")
    echo(
        f"{title or 'bench ' + suite.name}: {len(suite.scenarios)} scenarios x "
        f"{len(suite.controllers)} controllers x {len(suite.seeds)} seeds = {n_total} runs; "
        + (f"{len(outcome.reused)} already done, " if resume else "")
        + f"{len(todo)} to run on {where}"
    )
    if not todo:
        return outcome
    if on_run is None:

        def on_run(
            n: int, total: int, r: PlannedRun, s: dict[str, Any] | None, e: str | None
        ) -> None:
            echo("  " + run_line(n, total, r, s, e))

    stream = (
        _dask_pool(todo, out, scheduler or "")
        if executor == "dask"
        else _local_pool(todo, out, jobs or 1)
    )
    n_done = len(outcome.reused)
    for r, res in stream:
        n_done += 1
        if isinstance(res, BaseException):
            msg = str(res) or type(res).__name__
            outcome.failed[r.key] = msg
            on_run(n_done, n_total, r, None, msg)
            continue
        outcome.results[r.key] = res
        outcome.ran.append(r.key)
        on_run(n_done, n_total, r, res, None)
    return outcome


def failure_message(outcome: BenchOutcome, suite: Suite) -> str:
    """One line naming the failed runs in the suite's order (the first one with its message)."""
    keys = [r.key for r in suite.runs if r.key in outcome.failed]
    return (
        f"{len(keys)} of {len(suite.runs)} runs failed: {', '.join(keys)} "
        f"(first: {keys[0]}: {outcome.failed[keys[0]]})"
    )


def main_run_config(path: str) -> None:
    """``python -m sim.bench CONFIG.json``: run one configuration (used by the Dask executor)."""
    from sim.errors import LightwatchError

    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        cfg["sumo_args"] = tuple(cfg.get("sumo_args", ()))
        run(RunConfig(**cfg))
    except LightwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
