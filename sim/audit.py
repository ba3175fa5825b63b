"""``lightwatch audit RUN...``: check what SUMO displayed in finished runs against the network.

Reads a run folder (``summary.json``, ``signals.csv`` or ``.parquet``, ``queues.csv`` or
``.parquet``) and the run's ``.net.xml`` (:mod:`sim.conflicts`), never lightwatch's layout, timing
or controller code, so a bug there cannot hide a bug in what the signals showed. The rules are
documented in :mod:`sim.audit_rules`. Controllers SUMO times (``fixed``, ``sumo-actuated``,
``sumo-delay``, or a run whose manifest has no ``timing``) get the conflict, yellow and clearance
checks only; min green, max green and starvation are lightwatch's timing promises.

With the environment variable ``LIGHTWATCH_AUDIT=1`` every ``lightwatch run`` audits its own
folder when it is complete and fails (exit 1) on a violation; the test-suite sets it.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray

from sim.audit_rules import CHECKS, EPS, Limits, Violation, queue_checks, walk_signal
from sim.conflicts import SignalNet, is_green_state, read_signals
from sim.errors import InputError, RunFailed
from sim.results import find_table, read_table

SUMO_TIMED = frozenset({"fixed", "sumo-actuated", "sumo-delay"})
DEFAULT_YELLOW_S = 3.0
ENV_VAR = "LIGHTWATCH_AUDIT"


@dataclass
class AuditReport:
    """What the audit of one run folder found."""

    run_dir: Path
    controller: str
    sumo_timed: bool
    n_signals: int
    n_changes: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def line(self) -> str:
        """One line: the first violation in time, or what passed and what was skipped."""
        if self.violations:
            v = min(self.violations, key=lambda v: (v.time_s, CHECKS.index(v.check)))
            more = len(self.violations) - 1
            tail = f" (+{more} more)" if more else ""
            return (
                f"FAIL {self.run_dir}: signal {v.signal} at {v.time_s:g} s: {v.what} "
                f"[{v.check}]{tail}"
            )
        head = f"ok {self.run_dir}: {self.controller}, {self.n_signals} signals, "
        head += f"{self.n_changes} signal changes"
        if self.sumo_timed:
            return (
                head + ": conflict, yellow, clearance passed; min-green, max-green, starvation "
                "skipped (timed by SUMO)"
            )
        return head + ": " + ", ".join(CHECKS) + " passed"


# ---------------------------------------------------------------------------------------------
# run folders


def _read_rows(path: Path, columns: tuple[str, ...]) -> dict[str, list[Any]]:
    """Columns of a CSV (kept as strings: ids such as ``360082`` must not become numbers) or
    Parquet table; ``InputError`` when one of ``columns`` is missing. Extra columns are ignored."""
    if path.suffix == ".parquet":
        table = read_table(path)
        data = {k: list(v) for k, v in table.items()}
    else:
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
                header = reader.fieldnames or []
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
        data = {k: [row[k] for row in rows] for k in header}
    missing = [c for c in columns if c not in data]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)}")
    return {c: data[c] for c in columns}


def _floats(values: list[Any], path: Path, column: str) -> NDArray[np.float64]:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: column {column} holds a value that is not a number") from None


def _min_step(times: NDArray[np.float64], default: float = 1.0) -> float:
    d = np.diff(np.unique(times))
    d = d[d > EPS]
    return float(d.min()) if d.size else default


def run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders named by ``paths``: a run folder itself, or every run folder below it (a
    ``compare`` or ``bench`` output). ``InputError`` for a path that holds none."""
    out: list[Path] = []
    for p in paths:
        if not p.is_dir():
            raise InputError(f"no such run folder: {p}")
        if (p / "summary.json").is_file() or find_table(p, "signals") is not None:
            out.append(p)
            continue
        found = sorted(s.parent for s in p.rglob("summary.json"))
        if not found:
            raise InputError(f"{p} holds no run (no summary.json)")
        out.extend(found)
    return out


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir} is not a finished run: no summary.json") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    manifest = summary.get("manifest") if isinstance(summary, dict) else None
    if not isinstance(manifest, dict):
        raise InputError(f"{path} has no manifest")
    return manifest


def _net_path(run_dir: Path, manifest: dict[str, Any], net_file: Path | None) -> Path:
    if net_file is not None:
        return net_file
    value = manifest.get("net_file")
    if not value:
        raise InputError(f"{run_dir}/summary.json names no net_file; pass --net-file")
    path = Path(value)
    if not path.is_absolute() and not path.exists():
        path = run_dir / path
    if not path.is_file():
        raise InputError(f"the network of {run_dir} is missing: {path}")
    return path


def _limits(sig: SignalNet, timing: dict[str, Any] | None, n_greens: int) -> Limits:
    prog_yellow = sig.yellow_s if sig.yellow_s is not None else DEFAULT_YELLOW_S
    if timing is None:
        return Limits(yellow_s=prog_yellow, all_red_s=sig.all_red_s)
    yellow = prog_yellow if timing.get("yellow_s") is None else float(timing["yellow_s"])
    all_red = sig.all_red_s if timing.get("all_red_s") is None else float(timing["all_red_s"])
    min_green, max_green = float(timing["min_green_s"]), float(timing["max_green_s"])
    # a switch may add the pedestrian clearance before its yellow (vehicles still green) and an
    # all-red while a vehicle is left inside the junction (sim.timing rule 2)
    ped_clear = float(timing.get("ped_clear_max_s") or 0.0)
    box = float(timing.get("box_clear_max_s") or 0.0)
    bound = float(timing["max_wait_s"]) + n_greens * (
        min_green + yellow + all_red + ped_clear + box
    )
    max_green += ped_clear
    return Limits(yellow, all_red, min_green, max_green, bound)


def audit_run(run_dir: Path, net_file: Path | None = None) -> AuditReport:
    """Audit one finished run folder (module docstring); ``InputError`` for bad input."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"no such run folder: {run_dir}")
    manifest = _manifest(run_dir)
    sig_path = find_table(run_dir, "signals")
    if sig_path is None:
        raise InputError(f"{run_dir} has no signals.csv (or signals.parquet)")
    controller = str(manifest.get("controller", "?"))
    timing = manifest.get("timing") if isinstance(manifest.get("timing"), dict) else None
    if timing is not None and any(
        not isinstance(timing.get(k), int | float)
        for k in ("min_green_s", "max_green_s", "max_wait_s")
    ):
        timing = None
    sumo_timed = controller in SUMO_TIMED or timing is None
    nets = read_signals(_net_path(run_dir, manifest, net_file))
    cols = _read_rows(sig_path, ("time_s", "signal", "state"))
    times = _floats(cols["time_s"], sig_path, "time_s")
    by_signal: dict[str, list[int]] = {}
    for i, s in enumerate(cols["signal"]):
        by_signal.setdefault(str(s), []).append(i)
    unknown = sorted(set(by_signal) - set(nets))
    if unknown:
        raise InputError(f"{sig_path}: signal {unknown[0]!r} is not a traffic light of the net")
    end_s = float(manifest.get("end_s") or (times.max() if times.size else 0.0))
    step_s = _min_step(times)
    queues: dict[str, tuple[NDArray[np.float64], list[str], NDArray[np.float64]]] = {}
    interval_s = 0.0
    if not sumo_timed:
        q_path = find_table(run_dir, "queues")
        if q_path is None:
            raise InputError(f"{run_dir} has no queues.csv (or queues.parquet)")
        q = _read_rows(q_path, ("time_s", "signal", "approach", "halting"))
        q_t = _floats(q["time_s"], q_path, "time_s")
        q_h = _floats(q["halting"], q_path, "halting")
        interval_s = _min_step(q_t, default=0.0)
        grouped: dict[str, dict[str, dict[float, float]]] = {}
        for t, s, a, h in zip(q_t.tolist(), q["signal"], q["approach"], q_h.tolist(), strict=True):
            grouped.setdefault(str(s), {}).setdefault(str(a), {})[t] = h
        for s, per_app in grouped.items():
            apps = sorted(per_app)
            sample = np.unique(np.concatenate([np.fromiter(per_app[a], float) for a in apps]))
            h = np.array([[per_app[a].get(t, 0.0) for a in apps] for t in sample.tolist()])
            queues[s] = (sample, apps, h.reshape(len(sample), len(apps)))
    report = AuditReport(run_dir, controller, sumo_timed, len(by_signal), len(times))
    for sid, idx in by_signal.items():
        order = sorted(idx, key=lambda i: times[i])
        t_s = times[order]
        states = [str(cols["state"][i]) for i in order]
        sig = nets[sid]
        observed = {st for st in states if is_green_state(st)}
        lim = _limits(sig, None if sumo_timed else timing, max(len(sig.greens), len(observed)))
        found, green_since = walk_signal(sig, t_s, states, lim)
        report.violations += found
        if not sumo_timed and sid in queues:
            sample, apps, h = queues[sid]
            report.violations += queue_checks(
                sig, t_s, states, green_since, sample, apps, h, lim, step_s, interval_s, end_s
            )
    return report


def audit_or_raise(run_dir: Path) -> AuditReport:
    """:func:`audit_run`, raising ``RunFailed`` with the report line on a violation."""
    report = audit_run(Path(run_dir).resolve())
    if not report.ok:
        raise RunFailed(f"safety audit: {report.line()}")
    return report


def audit_requested() -> bool:
    """Whether runs should audit themselves (environment variable ``LIGHTWATCH_AUDIT=1``)."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


@click.command("audit")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--net-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The runs' .net.xml (default: the net_file of each run's manifest).",
)
def audit_cmd(runs: tuple[Path, ...], net_file: Path | None) -> None:
    """Check what the signals of finished runs showed against the net's conflict matrix.

    One line per run; exit 1 naming the first violation of a run, 2 for bad input.
    """
    reports = [audit_run(d, net_file) for d in run_dirs(list(runs))]
    for rep in reports:
        click.echo(rep.line())
    if any(not rep.ok for rep in reports):
        sys.exit(1)
