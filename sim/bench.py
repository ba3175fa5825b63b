"""Benchmark suites (scenarios × controllers × seeds, as TOML data) and the regression gate.

``lightwatch bench --suite FILE`` runs every scenario × controller × seed of a suite, one
simulation per process, prints the mean and 95 % confidence interval per scenario × controller,
and can bless a baseline or compare against one.

Assumptions:
    * libsumo holds one simulation per process, so the local executor is a spawn process pool with
      one task per child, and the Dask executor starts a fresh Python subprocess per run on the
      worker (``python -m sim.bench CONFIG.json``).
    * A run's result is ``<out>/runs/<scenario>/<controller>/seed<N>/`` (``summary.json``,
      ``queues.csv``), written atomically as soon as the run finishes. Its manifest holds the
      run's configuration; ``--resume`` reuses a result only when that configuration equals the
      planned one.
    * A result depends only on its configuration and seed, so every executor gives the same
      metrics (``wall_s`` aside).
    * The gate compares means over the suite's seeds: ``delay_s`` and ``queue_mean_veh`` are worse
      when higher, ``throughput_veh_h`` when lower, beyond a relative tolerance of the baseline.
      A baseline blessed with another SUMO version is reported as "must be re-blessed" and does not
      fail the gate.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click

from sim import __version__
from sim.errors import InputError, RunFailed
from sim.runner import RunConfig, run
from sim.sumo_home import sumo_version

# metric, +1 when higher is worse, -1 when lower is worse
GATE_METRICS: tuple[tuple[str, int], ...] = (
    ("delay_s", 1),
    ("queue_mean_veh", 1),
    ("throughput_veh_h", -1),
)
TABLE_COLUMNS = (
    ("delay_s", "delay s"),
    ("throughput_veh_h", "veh/h"),
    ("queue_mean_veh", "queue veh"),
    ("trip_time_s", "trip s"),
    ("teleports", "teleports"),
    ("wall_s", "wall s"),
)
# RunConfig fields that are no general suite setting: set per run by the suite, meaningless in a
# bench (out, gui), or part of a scenario table (net_file, route_files: resolved against root)
_PER_RUN = frozenset({"scenario", "controller", "seed", "out", "gui", "net_file", "route_files"})
# configuration keys that do not change a result (ignored when comparing configurations)
_NOT_RESULT = frozenset({"out", "gui"})
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
_SUITE_KEYS = frozenset(
    {"name", "description", "seeds", "root", "skip_missing", "defaults", "scenarios", "controllers"}
)
_SCENARIO_KEYS = frozenset({"name", "path", "net_file", "route_files", "label", "skip_missing"})
_CONTROLLER_KEYS = frozenset({"name", "label"})
BASELINE_KIND = "lightwatch-bench-baseline"


# ---------------------------------------------------------------------------------------------
# suites


@dataclass(frozen=True)
class PlannedRun:
    """One run of a suite: labels for the tables and folders, and its configuration."""

    scenario: str
    controller: str
    seed: int
    config: RunConfig

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.controller}/seed{self.seed}"


@dataclass(frozen=True)
class Suite:
    """A parsed suite: the runs in order, and what was skipped (one message each)."""

    name: str
    path: Path
    seeds: tuple[int, ...]
    scenarios: tuple[str, ...]
    controllers: tuple[str, ...]
    runs: tuple[PlannedRun, ...]
    skipped: tuple[str, ...] = ()
    settings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _run_keys() -> dict[str, str]:
    """Suite-settable RunConfig fields and their kind: float, int, str, bool, args or params."""
    import typing

    hints = typing.get_type_hints(RunConfig)
    kinds = {}
    for f in dataclasses.fields(RunConfig):
        if f.name in _PER_RUN:
            continue
        args = set(typing.get_args(hints[f.name])) or {hints[f.name]}
        origin = typing.get_origin(hints[f.name])
        if origin is tuple:
            kinds[f.name] = "args"
        elif origin is dict:
            kinds[f.name] = "params"
        elif bool in args:
            kinds[f.name] = "bool"
        elif float in args:
            kinds[f.name] = "float"
        elif int in args:
            kinds[f.name] = "int"
        else:
            kinds[f.name] = "str"
    return kinds


def _check_value(where: str, key: str, kind: str, value: Any) -> Any:
    """``value`` converted for RunConfig, or an InputError naming ``where`` and ``key``."""
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise InputError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if kind == "args":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float | str) and not isinstance(v, bool) for v in value.values()
    ):
        raise InputError(f"{where}: {key} must be a table of numbers")
    return {str(k): v for k, v in value.items()}


def _settings(
    where: str, entry: Mapping[str, Any], extra: frozenset[str], allow_params: bool
) -> dict[str, Any]:
    """RunConfig settings of a suite table; unknown keys raise an InputError listing known ones."""
    kinds = _run_keys()
    if not allow_params:
        kinds.pop("params", None)
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in extra:
            continue
        if key not in kinds:
            known = ", ".join(sorted(extra | set(kinds)))
            raise InputError(f"{where}: unknown key {key!r} (known: {known})")
        out[key] = _check_value(where, key, kinds[key], value)
    return out


def _entries(doc: Mapping[str, Any], key: str, suite_file: Path) -> list[dict[str, Any]]:
    raw = doc.get(key)
    if not isinstance(raw, list) or not raw:
        raise InputError(f"suite {suite_file} lists no {key} (an array of names or tables)")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append({"name": item})
        elif isinstance(item, dict):
            out.append(dict(item))
        else:
            raise InputError(f"suite {suite_file}: {key}[{i}] must be a name or a table")
    return out


def _label(where: str, label: Any) -> str:
    if not isinstance(label, str) or not _LABEL.match(label):
        raise InputError(
            f"{where}: label {label!r} must be letters, digits and . _ @ + - (it names a folder)"
        )
    return label


def load_suite(path: str | Path) -> Suite:
    """Parse and validate a suite file; see ``benchmarks/README.md`` for the schema.

    Relative scenario paths are resolved against ``root`` (itself relative to the suite file's
    folder, default that folder). Scenarios whose path is missing are skipped with a message when
    ``skip_missing`` is true (per scenario or for the whole suite), an InputError otherwise.
    """
    import controllers
    from sim.runner import scenario_of, timing_params
    from sim.scenario import bundled_scenarios

    suite_file = Path(path)
    if not suite_file.is_file():
        raise InputError(f"suite file not found: {suite_file}")
    try:
        doc = tomllib.loads(suite_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"suite {suite_file} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - _SUITE_KEYS)
    if unknown:
        raise InputError(
            f"suite {suite_file}: unknown key {unknown[0]!r} "
            f"(known: {', '.join(sorted(_SUITE_KEYS))})"
        )
    name = doc.get("name", suite_file.name.removesuffix(".toml"))
    _label(f"suite {suite_file}", name)
    seeds = doc.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise InputError(f"suite {suite_file}: seeds must be a non-empty list of integers >= 0")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"suite {suite_file}: seeds repeat")
    root = (suite_file.parent / str(doc.get("root", "."))).resolve()
    skip_all = doc.get("skip_missing", False)
    defaults_raw = doc.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        raise InputError(f"suite {suite_file}: defaults must be a table")
    defaults = _settings(f"suite {suite_file} [defaults]", defaults_raw, frozenset(), False)

    # controllers: names checked all at once, so the message lists every unknown name
    ctl_entries = _entries(doc, "controllers", suite_file)
    for i, e in enumerate(ctl_entries):
        if not isinstance(e.get("name"), str):
            raise InputError(f"suite {suite_file}: controllers[{i}] has no name")
    missing = [e["name"] for e in ctl_entries if e["name"] not in controllers.REGISTRY]
    if missing:
        raise InputError(
            f"suite {suite_file}: unknown controller(s) {', '.join(missing)}; "
            f"registered: {', '.join(controllers.available())}"
        )
    ctls: list[tuple[str, str, dict[str, Any]]] = []
    for i, e in enumerate(ctl_entries):
        where = f"suite {suite_file} controllers[{i}] ({e['name']})"
        label = _label(where, e.get("label", e["name"]))
        ctls.append((label, e["name"], _settings(where, e, _CONTROLLER_KEYS, True)))
    _unique(suite_file, "controller", [c[0] for c in ctls])

    bundled = bundled_scenarios()
    checked: dict[tuple[Any, ...], Any] = {}  # scenarios validated, by what defines them
    scens: list[tuple[str, str | None, dict[str, Any]]] = []
    skipped: list[str] = []
    for i, e in enumerate(_entries(doc, "scenarios", suite_file)):
        where = f"suite {suite_file} scenarios[{i}]"
        given = [k for k in ("name", "path", "net_file") if k in e]
        if len(given) != 1:
            raise InputError(f"{where}: give exactly one of name (bundled), path or net_file")
        if "route_files" in e and "net_file" not in e:
            raise InputError(f"{where}: route_files needs net_file")
        settings = _settings(where, e, _SCENARIO_KEYS, False)
        spec: str | None
        if "name" in e:
            spec = str(e["name"])
            if spec not in bundled:
                raise InputError(
                    f"{where}: no bundled scenario {spec!r} (bundled: {', '.join(bundled)}); "
                    "use path = ... for files"
                )
        else:
            key = given[0]
            files = [str(e[key])]
            if key == "net_file":
                files += _check_value(where, "route_files", "args", e.get("route_files", []))
            paths = [_under(root, f) for f in files]
            absent = [p for p in paths if not p.exists()]
            if absent:
                if e.get("skip_missing", skip_all):
                    skipped.append(f"skipping scenario {e[key]}: {absent[0]} not found")
                    continue
                raise InputError(f"{where}: scenario file not found: {absent[0]}")
            if key == "path":
                spec = str(paths[0])
            else:
                spec = None
                settings["net_file"] = str(paths[0])
                settings["route_files"] = tuple(str(p) for p in paths[1:])
        try:
            cfg0 = RunConfig(scenario=spec, **{**defaults, **settings})
            scenario = checked[_scenario_key(cfg0)] = scenario_of(cfg0)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        label = _label(where, e.get("label", scenario.name))
        scens.append((label, spec, settings))
    _unique(suite_file, "scenario", [s[0] for s in scens])

    runs = []
    settings_of: dict[tuple[str, str], dict[str, Any]] = {}
    for s_label, spec, s_set in scens:
        for c_label, c_name, c_set in ctls:
            merged = {**defaults, **s_set, **c_set}
            merged["sumo_args"] = (
                *defaults.get("sumo_args", ()),
                *s_set.get("sumo_args", ()),
                *c_set.get("sumo_args", ()),
            )
            where = f"suite {suite_file}: {s_label} × {c_label}"
            try:
                ctl = controllers.create(c_name, merged.get("params", {}))
                base = RunConfig(scenario=spec, controller=c_name, **merged)
                base.validate()
                timing_params(base, ctl.timing_defaults)
                skey = _scenario_key(base)
                if skey not in checked:
                    checked[skey] = scenario_of(base)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            except TypeError as exc:
                raise InputError(f"{where}: {exc}") from None
            settings_of[(s_label, c_label)] = result_settings(base, with_scenario=False)
            for seed in seeds:
                runs.append(
                    PlannedRun(s_label, c_label, seed, dataclasses.replace(base, seed=seed))
                )
    return Suite(
        name=name,
        path=suite_file.resolve(),
        seeds=tuple(seeds),
        scenarios=tuple(s[0] for s in scens),
        controllers=tuple(c[0] for c in ctls),
        runs=tuple(runs),
        skipped=tuple(skipped),
        settings=settings_of,
    )


def _scenario_key(cfg: RunConfig) -> tuple[Any, ...]:
    return (cfg.scenario, cfg.net_file, cfg.route_files, cfg.profile, cfg.begin_s, cfg.end_s)


def _under(root: Path, path: str) -> Path:
    """``path`` resolved against ``root`` unless absolute (``~`` expanded)."""
    p = Path(path).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def _unique(suite_file: Path, what: str, labels: list[str]) -> None:
    seen = set()
    for label in labels:
        if label in seen:
            raise InputError(
                f"suite {suite_file}: {what} label {label!r} appears twice; give each a label"
            )
        seen.add(label)


def result_settings(cfg: RunConfig | Mapping[str, Any], with_scenario: bool) -> dict[str, Any]:
    """The configuration that determines a result, as JSON data (``out`` and ``gui`` dropped)."""
    d = dataclasses.asdict(cfg) if isinstance(cfg, RunConfig) else dict(cfg)
    drop = _NOT_RESULT if with_scenario else _NOT_RESULT | {"scenario", "seed"}
    out = {k: v for k, v in d.items() if k not in drop}
    return json.loads(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class BenchOutcome:
    """Summaries by run key, and which runs ran, were reused (``--resume``) or failed."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_dir(out: Path, r: PlannedRun) -> Path:
    return out / "runs" / r.scenario / r.controller / f"seed{r.seed}"


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


def _run_local(cfg: RunConfig) -> dict[str, Any]:
    return run(cfg).summary


def _local_pool(runs: list[PlannedRun], out: Path, jobs: int) -> Iterator[tuple[PlannedRun, Any]]:
    """Yield ``(run, summary or exception)`` as runs finish; one process per run."""
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), max_tasks_per_child=1
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
        except BaseException:
            for fut in pending:
                fut.cancel()
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
    """Yield ``(run, summary or exception)`` as runs finish on the Dask cluster at ``scheduler``.

    Each result is written under ``out`` atomically (a ``.partial`` folder renamed when complete).
    """
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
            _write_result(dest, summary, res.get("files", {}))
            yield r, summary
    finally:
        client.close()


def _write_result(dest: Path, summary: dict[str, Any], files: Mapping[str, bytes]) -> None:
    """Write a run folder atomically: into ``<dest>.partial`` first, then renamed."""
    dest = dest.resolve()
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name, data in files.items():
        (tmp / Path(name).name).write_bytes(data)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def run_suite(
    suite: Suite,
    out: Path,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    echo: Callable[[str], None] = lambda s: click.echo(s, err=True),
) -> BenchOutcome:
    """Run the suite's runs (those not done yet with ``resume``), writing each as it finishes."""
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
    else:
        jobs = max(1, min(jobs or os.cpu_count() or 1, max(1, len(todo))))
        where = f"{jobs} local process{'es' if jobs > 1 else ''}"
    echo(
        f"bench {suite.name}: {len(suite.scenarios)} scenarios x {len(suite.controllers)} "
        f"controllers x {len(suite.seeds)} seeds = {n_total} runs; "
        + (f"{len(outcome.reused)} already done, " if resume else "")
        + f"{len(todo)} to run on {where}"
    )
    if not todo:
        return outcome
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
            echo(f"  [{n_done}/{n_total}] {r.key}: FAILED: {msg}")
            continue
        outcome.results[r.key] = res
        outcome.ran.append(r.key)
        echo(
            f"  [{n_done}/{n_total}] {r.key}: delay {res['delay_s']:.1f} s, "
            f"{res['throughput_veh_h']:.0f} veh/h ({res['wall_s']:.1f} s)"
        )
    return outcome


# ---------------------------------------------------------------------------------------------
# aggregation, baseline and gate


def _numeric(summary: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def aggregate(suite: Suite, results: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``{scenario: {controller: {"n_seeds", "mean", "ci95", "settings", "seeds"}}}``.

    ``mean`` and ``ci95`` hold every numeric summary key (mean over the seeds that finished and
    the half-width of its 95 % confidence interval).
    """
    from sim.cli import mean_ci

    table: dict[str, Any] = {}
    for s in suite.scenarios:
        for c in suite.controllers:
            per_seed = {
                seed: results[k] for seed in suite.seeds if (k := f"{s}/{c}/seed{seed}") in results
            }
            if not per_seed:
                continue
            keys = sorted(set.intersection(*(set(_numeric(v)) for v in per_seed.values())))
            mean, ci = {}, {}
            for key in keys:
                mean[key], ci[key] = mean_ci([_numeric(v)[key] for v in per_seed.values()])
            table.setdefault(s, {})[c] = {
                "n_seeds": len(per_seed),
                "mean": mean,
                "ci95": ci,
                "settings": suite.settings.get((s, c), {}),
                "seeds": {str(seed): _numeric(v) for seed, v in per_seed.items()},
            }
    return table


def bench_report(suite: Suite, table: dict[str, Any]) -> dict[str, Any]:
    """The content of ``bench.json``."""
    return {
        "suite": suite.name,
        "suite_file": str(suite.path),
        "seeds": list(suite.seeds),
        "lightwatch_version": __version__,
        "sumo_version": sumo_version(),
        "skipped": list(suite.skipped),
        "results": table,
    }


def make_baseline(report: Mapping[str, Any]) -> dict[str, Any]:
    """A baseline from a bench report: versions, seeds, settings and means (``wall_s`` dropped)."""
    results = {
        s: {
            c: {
                "n_seeds": e["n_seeds"],
                "settings": e["settings"],
                "mean": {k: v for k, v in e["mean"].items() if k != "wall_s"},
            }
            for c, e in ctl.items()
        }
        for s, ctl in report["results"].items()
    }
    return {
        "kind": BASELINE_KIND,
        "suite": report["suite"],
        "lightwatch_version": report["lightwatch_version"],
        "sumo_version": report["sumo_version"],
        "seeds": report["seeds"],
        "gate_metrics": {
            m: ("higher is worse" if d > 0 else "lower is worse") for m, d in GATE_METRICS
        },
        "results": results,
    }


def load_baseline(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline not found: {p}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"baseline {p} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND or "results" not in data:
        raise InputError(f"{p} is not a lightwatch bench baseline (written by --bless)")
    return data


def parse_tolerance(text: str) -> float:
    """``"2%"`` or ``"0.02"`` → 0.02 (relative tolerance of the baseline value)."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(f"--tolerance must look like 2% or 0.02, got {text!r}") from None
    if not t.endswith("%") and value >= 1:
        raise InputError(f"--tolerance {text!r} is ambiguous; write {t}% or {value / 100:g}")
    if not 0 <= value < 10 or math.isnan(value):
        raise InputError(f"--tolerance must be between 0% and 1000%, got {text!r}")
    return value


@dataclass(frozen=True)
class Finding:
    """One gated metric of one scenario × controller, compared with its baseline."""

    scenario: str
    controller: str
    metric: str
    baseline: float
    current: float
    direction: int  # +1: higher is worse, -1: lower is worse
    worse: bool

    @property
    def change(self) -> float:
        """Relative change (current − baseline) / |baseline|; ±inf from a zero baseline."""
        diff = self.current - self.baseline
        if self.baseline == 0:
            return 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return diff / abs(self.baseline)

    def describe(self) -> str:
        return (
            f"{self.scenario}/{self.controller} {self.metric} {self.baseline:.4g} -> "
            f"{self.current:.4g} ({self.change:+.1%})"
        )


@dataclass
class GateResult:
    findings: list[Finding]
    notes: list[str]
    rebless_needed: str | None

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.worse]


def compare(report: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float) -> GateResult:
    """Compare a bench report with a baseline, metric by metric (see module docstring)."""
    notes = []
    rebless = None
    if baseline.get("sumo_version") != report["sumo_version"]:
        rebless = (
            "baseline must be re-blessed: it was blessed with SUMO "
            f"{baseline.get('sumo_version')}, this is SUMO {report['sumo_version']}"
        )
    if baseline.get("seeds") != report["seeds"]:
        notes.append(f"seeds differ: baseline {baseline.get('seeds')}, suite {report['seeds']}")
    findings = []
    for s, ctl in report["results"].items():
        for c, entry in ctl.items():
            base = baseline["results"].get(s, {}).get(c)
            if base is None:
                notes.append(f"{s}/{c} is not in the baseline (bless to add it)")
                continue
            diff = _settings_diff(base.get("settings", {}), entry["settings"])
            if diff:
                notes.append(f"{s}/{c} settings differ from the baseline's: {diff}")
            for metric, direction in GATE_METRICS:
                if metric not in base["mean"] or metric not in entry["mean"]:
                    continue
                b, v = float(base["mean"][metric]), float(entry["mean"][metric])
                worse = direction * (v - b) > tolerance * abs(b)
                findings.append(Finding(s, c, metric, b, v, direction, worse))
    for s, ctl in baseline["results"].items():
        for c in ctl:
            if c not in report["results"].get(s, {}):
                notes.append(f"{s}/{c} is in the baseline but was not run")
    return GateResult(findings, notes, rebless)


def _settings_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """Keys whose values differ; a key missing on one side counts as its RunConfig default (so a
    setting added to lightwatch after the bless is no difference)."""
    defaults = result_settings(RunConfig(scenario="x"), with_scenario=False)
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, defaults.get(k)), b.get(k, defaults.get(k))
        if va != vb:
            diffs.append(f"{k} {va!r} -> {vb!r}")
    return ", ".join(diffs)


# ---------------------------------------------------------------------------------------------
# output


def _pm(mean: float, ci: float, n: int) -> str:
    """``mean ± ci``; the mean alone for one seed (no interval)."""
    if math.isnan(mean):
        return ""
    digits = 0 if abs(mean) >= 1000 else 1 if abs(mean) >= 10 else 2
    return f"{mean:.{digits}f}" + (f" ± {ci:.{digits}f}" if n > 1 else "")


def print_bench_table(title: str, table: Mapping[str, Any]) -> None:
    """Mean ± 95 % CI per scenario × controller."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    t.add_column("scenario")
    t.add_column("controller")
    t.add_column("seeds", justify="right")
    for _, head in TABLE_COLUMNS:
        t.add_column(head, justify="right")
    for s, ctl in table.items():
        for c, e in ctl.items():
            t.add_row(
                s,
                c,
                str(e["n_seeds"]),
                *(
                    _pm(e["mean"].get(k, math.nan), e["ci95"].get(k, math.nan), e["n_seeds"])
                    for k, _ in TABLE_COLUMNS
                ),
            )
    Console(width=140).print(t)


def print_gate(gate: GateResult, tolerance: float) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"regression gate (tolerance {tolerance:.1%})")
    for col in ("scenario", "controller", "metric", "baseline", "now", "change", ""):
        t.add_column(col, justify="right" if col in ("baseline", "now", "change") else "left")
    for f in gate.findings:
        if f.worse:
            status = "worse (not gated)" if gate.rebless_needed else "WORSE"
        elif f.change == 0:
            status = "same"
        else:
            status = "better" if f.direction * f.change < 0 else "within tolerance"
        t.add_row(
            f.scenario,
            f.controller,
            f.metric,
            f"{f.baseline:.4g}",
            f"{f.current:.4g}",
            f"{f.change:+.2%}",
            status,
        )
    Console(width=120).print(t)


# ---------------------------------------------------------------------------------------------
# command


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
    help="Exit 1 if a metric got worse than in this baseline beyond the tolerance.",
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
        click.echo(f"bench {suite.name}: nothing to run (every scenario was skipped)", err=True)
        return
    out_dir = Path(out) if out else Path("results") / "bench" / suite.name
    t0 = time.perf_counter()
    outcome = run_suite(suite, out_dir, jobs, resume, executor, scheduler)
    table = aggregate(suite, outcome.results)
    report = bench_report(suite, table)
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
        first = next(iter(outcome.failed.items()))
        raise RunFailed(
            f"{len(outcome.failed)} of {len(suite.runs)} runs failed "
            f"(first: {first[0]}: {first[1]})"
        )
    if bless_file:
        dest = Path(bless_file)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(make_baseline(report), indent=2) + "\n", encoding="utf-8")
        click.echo(f"baseline blessed: {dest}")
    if baseline is not None:
        gate = compare(report, baseline, tol)
        print_gate(gate, tol)
        for note in gate.notes:
            click.echo(f"note: {note}")
        if gate.rebless_needed:
            bar = "!" * 80
            click.echo(
                f"{bar}\nWARNING: {gate.rebless_needed}\n"
                f"the gate is not applied; bless again with --bless {baseline_file}\n{bar}",
                err=True,
            )
            return
        worse = gate.regressions
        if worse:
            for f in worse:
                click.echo(f"worse: {f.describe()}")
            raise RunFailed(
                f"{len(worse)} metric(s) worse than the baseline beyond {tol:.1%}: "
                + "; ".join(f.describe() for f in worse)
            )
        click.echo(f"gate passed: no metric worse than the baseline beyond {tol:.1%}")


def _main_run_config(path: str) -> None:
    """``python -m sim.bench CONFIG.json``: run one configuration (used by the Dask executor)."""
    from sim.errors import LightwatchError

    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        cfg["sumo_args"] = tuple(cfg.get("sumo_args", ()))
        run(RunConfig(**cfg))
    except LightwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m sim.bench CONFIG.json", file=sys.stderr)
        sys.exit(2)
    _main_run_config(sys.argv[1])
