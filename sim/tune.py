"""``lightwatch tune``: grid search of a controller's settings on the tuning seeds.

Size: about 500 lines, one job (grid, suite, subprocess, selection); the tuned-file reading
is already split out to :mod:`sim.tuned`.

The grid's combinations become the controllers of one bench suite (written into the output
folder), which ``lightwatch bench`` runs in a subprocess (``python -m sim.cli bench``; its
progress lines pass through, Ctrl-C or SIGTERM stop it, ``--resume`` continues). From the
``bench.json`` it writes, the best combination per scenario is the one with the lowest mean
``delay_s`` over the seeds (ties: the lower worst-seed ``delay_s``, then grid order), among
combinations that finished every seed; a grid key that changed no delay anywhere gets a
``warning:`` line (:func:`sim.tuned.inert_axes`). The choice is saved as data (a TOML "tuned
file"; format in :func:`tuned_document`) that ``benchmarks/evaluate.py`` turns into evaluation
runs.

Assumptions:
    * Seeds 6-10 are the evaluation seeds (``benchmarks/PROTOCOL.md``): tuning on them is refused
      unless ``--allow-eval-seeds``.
    * A grid key is a parameter of the controller (``-p KEY=VALUE``, typed by its ``Params``
      annotation: float, bool or str) or, for controllers timed by lightwatch, one of
      :data:`RUN_KEYS` (a run setting such as ``max_green_s``).
    * Bench labels must name folders, so a combination's bench label is
      ``NAME@key-value+key-value``; tables show ``NAME[key=value,key=value]``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import tomli_w

from sim import __version__
from sim.config import read_toml
from sim.errors import InputError, LightwatchError, RunFailed
from sim.tuned import METRIC, TUNED_KIND, Choice, inert_axes, select_best

EVAL_SEEDS = frozenset(range(6, 11))
TUNE_SEEDS = "1-5"
# run settings a grid may set for controllers that lightwatch times (not SUMO's programs)
RUN_KEYS = ("min_green_s", "max_green_s", "max_wait_s", "detection_range_m", "gap_range_m")
_VALUE_TEXT = re.compile(r"^[A-Za-z0-9._-]+$")

Value = float | bool | str


class Interrupted(LightwatchError):
    """The bench was stopped (Ctrl-C or SIGTERM); finished runs are kept."""

    exit_code = 130


@dataclass(frozen=True)
class Axis:
    """One grid key: where it goes (``params`` of the controller or a ``run`` setting), values."""

    key: str
    target: str
    values: tuple[Value, ...]


# ---------------------------------------------------------------------------------------------
# grid, seeds, labels


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1-5"``, ``"1,2,3"`` or ``"1-3,7"`` → the seeds in order; bad text raises InputError."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise InputError(f"--seeds must look like 1-5 or 1,2,3, got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InputError(f"--seeds range {part!r} runs backwards")
        seeds += range(lo, hi + 1)
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds repeat: {text!r}")
    return tuple(seeds)


def check_tuning_seeds(seeds: Sequence[int], allow_eval_seeds: bool) -> None:
    """Refuse the evaluation seeds 6-10 for tuning unless explicitly allowed."""
    used = sorted(EVAL_SEEDS.intersection(seeds))
    if used and not allow_eval_seeds:
        raise InputError(
            f"seed(s) {','.join(map(str, used))} are evaluation seeds (6-10, "
            "benchmarks/PROTOCOL.md); tune on 1-5 or pass --allow-eval-seeds"
        )


def _kinds(controller: str) -> tuple[dict[str, Any], bool]:
    """``({param: type}, drives_signals)`` of a registered controller."""
    import controllers

    cls = controllers.get(controller)
    return typing.get_type_hints(cls.Params), cls.drives_signals


def parse_grid(controller: str, items: Sequence[str]) -> list[Axis]:
    """``["max_gap_s=2,3", "build_all_detectors=true,false"]`` → axes, values typed by the
    controller's ``Params`` (or float for :data:`RUN_KEYS`); any error is one InputError."""
    from controllers.base import parse_value

    if not items:
        raise InputError("give at least one --grid KEY=V1,V2")
    hints, drives = _kinds(controller)
    axes: list[Axis] = []
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip().replace("-", "_")
        texts = [v.strip() for v in rest.split(",")]
        if not sep or not key or not all(texts):
            raise InputError(f"--grid expects KEY=V1,V2,... without empty values, got {item!r}")
        if key in hints:
            target, kind = "params", hints[key]
        elif key in RUN_KEYS and drives:
            target, kind = "run", float
        else:
            known = sorted(set(hints) | (set(RUN_KEYS) if drives else set()))
            raise InputError(
                f"--grid: controller {controller!r} has no key {key!r} (known: {', '.join(known)})"
            )
        if any(a.key == key for a in axes):
            raise InputError(f"--grid: key {key!r} is given twice")
        values = tuple(parse_value(key, t, kind) for t in texts)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise InputError(f"--grid: {key} must be finite, got {v!r}")
            if isinstance(v, str) and not _VALUE_TEXT.match(v):
                raise InputError(f"--grid: {key} value {v!r} must be letters, digits and . _ -")
        if target == "run" and any(float(v) <= 0 for v in values):
            raise InputError(f"--grid: {key} values must be positive, got {item!r}")
        if len(set(values)) != len(values):
            raise InputError(f"--grid: {key} repeats a value in {item!r}")
        axes.append(Axis(key, target, values))
    return axes


def combinations(axes: Sequence[Axis]) -> list[dict[str, Value]]:
    """Every combination of the axes' values (the last axis varies fastest)."""
    return [
        dict(zip((a.key for a in axes), vals, strict=True))
        for vals in itertools.product(*(a.values for a in axes))
    ]


def value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def bench_label(controller: str, combo: Mapping[str, Value]) -> str:
    """Folder-safe label: ``sumo-actuated@max_gap_s-2+max_green_s-30``."""
    return controller + "@" + "+".join(f"{k}-{value_text(v)}" for k, v in combo.items())


def display_label(controller: str, combo: Mapping[str, Value]) -> str:
    """Readable label: ``sumo-actuated[max_gap_s=2,max_green_s=30]``."""
    return controller + "[" + ",".join(f"{k}={value_text(v)}" for k, v in combo.items()) + "]"


def split_combo(
    combo: Mapping[str, Value], axes: Sequence[Axis]
) -> tuple[dict[str, Value], dict[str, float]]:
    """``(controller params, run settings)`` of a combination."""
    target = {a.key: a.target for a in axes}
    params = {k: v for k, v in combo.items() if target[k] == "params"}
    run = {k: float(v) for k, v in combo.items() if target[k] == "run"}
    return params, run


def suite_params(params: Mapping[str, Value]) -> dict[str, float | str]:
    """Controller params as a bench suite takes them (numbers and strings; booleans as text)."""
    return {k: value_text(v) if isinstance(v, bool) else v for k, v in params.items()}


def controller_entry(
    controller: str, label: str, params: Mapping[str, Value], run: Mapping[str, float]
) -> dict[str, Any]:
    """One ``[[controllers]]`` table of a suite."""
    entry: dict[str, Any] = {"name": controller, "label": label, **run}
    if params:
        entry["params"] = suite_params(params)
    return entry


# ---------------------------------------------------------------------------------------------
# the suite


def scenario_tables(
    scenarios: Sequence[str], suite_file: str | None
) -> tuple[str, bool, dict[str, Any], list[dict[str, Any]]]:
    """``(root, skip_missing, defaults, scenario tables)`` from ``--scenario`` and ``--suite``.

    ``--scenario`` takes a bundled name or a path (made absolute); ``--suite`` contributes its
    ``scenarios``, ``[defaults]``, ``root`` (made absolute) and ``skip_missing``; its controllers
    and seeds are not used. Both at once: the suite's scenarios first.
    """
    from sim.scenario import bundled_scenarios

    root, skip, defaults, tables = str(Path.cwd()), False, {}, []
    if suite_file:
        path = Path(suite_file)
        doc = read_toml(path, "suite file")
        root = str((path.parent / str(doc.get("root", "."))).resolve())
        skip = bool(doc.get("skip_missing", False))
        defaults = dict(doc.get("defaults", {}))
        raw = doc.get("scenarios")
        if not isinstance(raw, list) or not raw:
            raise InputError(f"suite {path} lists no scenarios")
        tables += [{"name": s} if isinstance(s, str) else dict(s) for s in raw]
    bundled = bundled_scenarios()
    for spec in scenarios:
        if spec in bundled:
            tables.append({"name": spec})
        else:
            p = Path(spec).expanduser()
            if not p.exists():
                raise InputError(
                    f"--scenario {spec!r}: neither a bundled scenario ({', '.join(bundled)}) "
                    "nor an existing path"
                )
            tables.append({"path": str(p.resolve())})
    if not tables:
        raise InputError("give --scenario NAME (repeatable) or --suite FILE")
    return root, skip, defaults, tables


def build_suite(
    name: str,
    seeds: Sequence[int],
    root: str,
    skip_missing: bool,
    defaults: Mapping[str, Any],
    scenarios: Sequence[Mapping[str, Any]],
    ctl_entries: Sequence[Mapping[str, Any]],
    end_s: float | None,
) -> dict[str, Any]:
    """A bench suite document; ``end_s`` (if given) overrides every scenario's window end."""
    scen = [dict(s) for s in scenarios]
    if end_s is not None:
        for s in scen:
            s["end_s"] = end_s
    doc: dict[str, Any] = {
        "name": name,
        "description": "generated by lightwatch tune",
        "seeds": list(seeds),
        "root": root,
        "skip_missing": skip_missing,
    }
    if defaults:
        doc["defaults"] = dict(defaults)
    doc["scenarios"] = scen
    doc["controllers"] = [dict(c) for c in ctl_entries]
    return doc


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_bench(
    suite_path: Path,
    out: Path,
    jobs: int | None,
    resume: bool,
    argv0: Sequence[str] | None = None,
    stdout: Any = None,
) -> None:
    """Run ``lightwatch bench`` on ``suite_path`` in a subprocess; its output passes through
    (its standard output to ``stdout`` when given, e.g. ``sys.stderr``).

    SIGTERM is passed on as SIGTERM (the bench stops its pool and keeps finished runs; SIGINT
    would not reach a bench started from a background shell, which inherits SIGINT ignored);
    Ctrl-C reaches it directly. Raises :class:`Interrupted`, InputError (exit 2) or RunFailed.
    """
    cmd = [*(argv0 or [sys.executable, "-m", "sim.cli"]), "bench", "--suite", str(suite_path)]
    cmd += ["--out", str(out)]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    if resume:
        cmd.append("--resume")
    proc: subprocess.Popen[bytes] | None = None
    stopped = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True
        if proc is not None:
            proc.send_signal(signal.SIGTERM)

    old = signal.signal(signal.SIGTERM, forward)
    try:
        proc = subprocess.Popen(cmd, stdout=stdout)
        if stopped:
            proc.send_signal(signal.SIGTERM)
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # the bench got the same Ctrl-C; wait for it to stop
                stopped = True
    finally:
        signal.signal(signal.SIGTERM, old)
    if stopped or rc in (130, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        raise Interrupted("interrupted; finished runs are kept, continue with --resume")
    if rc == 2:
        raise InputError(f"the bench refused the generated suite {suite_path} (message above)")
    if rc != 0:
        raise RunFailed(f"the tuning bench failed (exit {rc}); see {out}")


# ---------------------------------------------------------------------------------------------
# selection and the tuned file


def tuned_document(
    controller: str,
    axes: Sequence[Axis],
    seeds: Sequence[int],
    choices: Mapping[str, Choice],
    window: Mapping[str, Any],
    versions: Mapping[str, str],
    command: str,
) -> dict[str, Any]:
    """The tuned file (TOML), e.g.::

    kind = "lightwatch-tuned"
    controller = "sumo-actuated"
    seeds = [1, 2, 3, 4, 5]          # the tuning seeds
    metric = "delay_s"               # lowest mean; ties: lowest worst seed
    lightwatch_version, sumo_version, date, command
    [window]                         # end_s: the --end given, else each scenario's own
    [grid]                           # key = [values]
    [scenarios.grid4x4]              # one table per scenario label of the tuning suite
    label = "sumo-actuated[max_gap_s=2]"
    params = { max_gap_s = 2.0 }     # the controller's parameters
    settings = { }                   # run settings (max_green_s, ...) for lightwatch-timed
    delay_s = 71.2                   # mean over the tuning seeds, and the worst seed
    worst_delay_s = 75.0
    """
    scen = {}
    for name, ch in choices.items():
        params, run = split_combo(ch.combo, axes)
        scen[name] = {
            "label": display_label(controller, ch.combo),
            "params": params,
            "settings": run,
            "delay_s": round(ch.delay_s, 3),
            "worst_delay_s": round(ch.worst_delay_s, 3),
        }
        for key, value in zip(("begin_s", "end_s"), ch.window_s, strict=True):
            if value is not None:
                scen[name][key] = value
    return {
        "kind": TUNED_KIND,
        "controller": controller,
        "seeds": list(seeds),
        "metric": METRIC,
        "rule": "lowest mean delay_s over the seeds; ties: lowest worst-seed delay_s",
        "lightwatch_version": versions.get("lightwatch", __version__),
        "sumo_version": versions.get("sumo", ""),
        "date": dt.date.today().isoformat(),
        "command": command,
        "window": dict(window),
        "grid": {a.key: list(a.values) for a in axes},
        "scenarios": scen,
    }


# ---------------------------------------------------------------------------------------------
# command


@click.command("tune")
@click.option("--controller", required=True, help="Registered controller to tune.")
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A parameter (or run setting such as max_green_s) and its values; repeatable.",
)
@click.option("--scenario", "scenarios", multiple=True, help="Bundled name or path; repeatable.")
@click.option(
    "--suite", "suite_file", default=None, help="Take scenarios and defaults from a suite."
)
@click.option("--seeds", default=TUNE_SEEDS, show_default=True, help="Tuning seeds: 1-5 or 1,2,3.")
@click.option("--end", "end_s", type=float, default=None, help="End of every window [s].")
@click.option("--jobs", type=int, default=None, help="Parallel runs (default: CPU count).")
@click.option("--resume", is_flag=True, help="Reuse finished runs with the same configuration.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Bench folder (default results/tune/CONTROLLER).",
)
@click.option("--save", default=None, help="Tuned file to write (default OUT/tuned.toml).")
@click.option("--allow-eval-seeds", is_flag=True, help="Allow seeds 6-10 (evaluation seeds).")
def tune_cmd(
    controller: str,
    grid: tuple[str, ...],
    scenarios: tuple[str, ...],
    suite_file: str | None,
    seeds: str,
    end_s: float | None,
    jobs: int | None,
    resume: bool,
    out: str | None,
    save: str | None,
    allow_eval_seeds: bool,
) -> None:
    """Grid-search a controller's settings on the tuning seeds; save the best per scenario."""
    seed_list = parse_seeds(seeds)
    check_tuning_seeds(seed_list, allow_eval_seeds)
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if end_s is not None and not end_s > 0:
        raise InputError(f"--end must be positive, got {end_s:g}")
    axes = parse_grid(controller, grid)
    combos: dict[str, dict[str, Value]] = {}
    entries = []
    import controllers

    for combo in combinations(axes):
        params, run = split_combo(combo, axes)
        try:
            controllers.create(controller, params)
        except InputError as exc:
            raise InputError(f"--grid: {display_label(controller, combo)}: {exc}") from None
        label = bench_label(controller, combo)
        combos[label] = combo
        entries.append(controller_entry(controller, label, params, run))
    root, skip, defaults, tables = scenario_tables(scenarios, suite_file)
    out_dir = Path(out) if out else Path("results") / "tune" / controller
    suite = build_suite(
        f"tune-{controller}", seed_list, root, skip, defaults, tables, entries, end_s
    )
    suite_path = out_dir / "tune-suite.toml"
    write_atomic(suite_path, tomli_w.dumps(suite))
    click.echo(
        f"tune {controller}: {len(combos)} combinations x {len(tables)} scenarios x "
        f"{len(seed_list)} seeds; suite {suite_path}",
        err=True,
    )
    run_bench(suite_path, out_dir, jobs, resume)
    report = json.loads((out_dir / "bench.json").read_text(encoding="utf-8"))
    choices = select_best(report, combos, seed_list)
    if not choices:
        raise RunFailed("no combination finished every seed on any scenario")
    print_choices(controller, choices)
    for key in inert_axes(report, combos, seed_list):
        click.echo(
            f"warning: --grid {key} changed no result (every pair of settings differing only in "
            f"it gave the same delays on every seed); check that {controller} reads it",
            err=True,
        )
    doc = tuned_document(
        controller,
        axes,
        seed_list,
        choices,
        {"end_s": end_s} if end_s is not None else {},
        {"lightwatch": report.get("lightwatch_version", ""), "sumo": report.get("sumo_version")},
        "lightwatch " + shlex.join(sys.argv[1:]),
    )
    dest = Path(save) if save else out_dir / "tuned.toml"
    write_atomic(dest, tomli_w.dumps(doc))
    click.echo(f"tuned: {dest}")


def print_choices(controller: str, choices: Mapping[str, Choice]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"{controller}: best setting per scenario (lowest mean {METRIC})")
    for col in ("scenario", "setting", "delay s", "worst seed s"):
        t.add_column(col, justify="right" if col.endswith("s") and col != "scenario" else "left")
    for s, ch in choices.items():
        t.add_row(
            s,
            escape(display_label(controller, ch.combo)),
            f"{ch.delay_s:.1f}",
            f"{ch.worst_delay_s:.1f}",
        )
    Console(width=140).print(t)
