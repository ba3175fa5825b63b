"""The study tables: intersection operations per approach, and signal timing per green.

Both take runs grouped by controller (:func:`sim.plots.group_runs`) and return rows (dicts keyed
by the CSV columns) in signal, approach / green, controller order.

Definitions
    control delay      time loss (SUMO ``timeLoss``: time lost to driving below the desired
                       speed) accrued on the approach edge, the junction lanes its vehicles cross
                       and the edges feeding it without a signal in between
                       (``sim.report.outputs``), divided by the vehicles that drove on the
                       approach edge; pooled over seeds
    level of service   HCM 6 signalised thresholds on control delay (``LOS_THRESHOLDS_S``); the
                       v/c > 1 rule is not applied (lightwatch estimates no capacity)
    queue              halting vehicles on the approach's controlled lanes (``queues.csv``),
                       samples pooled over seeds; metres = vehicles × 7.5 m / lanes
    storage            mean length of the approach's controlled lanes [m]
    arrivals on green  share of vehicles reaching the stop line (projected from the arrival
                       detector at the speed limit) while one of their lane's links is green
    green              a stretch of rows of one signal with stage 0 and the same green index;
                       one still shown at the window end ends there (``window-end``)
    mean cycle         mean time between successive starts of the same green
    skipped            the signal's most-served green started again, and this green was not
                       served in between
    split failure      halting vehicles on the approaches the green serves, at the last queue
                       sample before the green ended, are at least as many as at the last sample
                       before it started, and at least one (the queue it found was not cleared)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from sim.errors import InputError
from sim.plots import QueueSeries, RunData
from sim.report.data import (
    VEH_SPACING_M,
    NetInfo,
    SignalLog,
    arrivals_on_green,
    read_arrivals,
    read_signals,
)
from sim.report.outputs import read_approach_delays

LOS_THRESHOLDS_S = (10.0, 20.0, 35.0, 55.0, 80.0)
"""Upper control-delay bounds of LOS A-E [s/veh] (HCM 6, signalised intersections)."""
INTERSECTION = "(intersection)"
APPROACH_COLUMNS = (
    "signal",
    "approach",
    "controller",
    "n_seeds",
    "volume_veh_h",
    "control_delay_s",
    "los",
    "queue_mean_veh",
    "queue_p95_veh",
    "queue_p95_m",
    "storage_m",
    "queue_storage_ratio",
    "arrivals_on_green_pct",
)
ENDINGS = ("gap-out", "max-out", "cut", "starvation", "fallback", "timed", "window-end", "unknown")
TIMING_COLUMNS = (
    "signal",
    "green",
    "controller",
    "n_seeds",
    "times_served",
    "green_mean_s",
    "green_min_s",
    "green_max_s",
    "green_total_s",
    "split_pct",
    "cycle_mean_s",
    *(f"n_{e.replace('-', '_')}" for e in ENDINGS),
    "n_skipped",
    "n_split_failures",
)
SUMO_FIXED = frozenset({"fixed"})


def los(delay_s: float | None, thresholds_s: Sequence[float] = LOS_THRESHOLDS_S) -> str:
    """HCM level of service A-F of a control delay [s/veh]; ``n/a`` for none."""
    if delay_s is None or not np.isfinite(delay_s):
        return "n/a"
    for letter, bound in zip("ABCDE", thresholds_s, strict=True):
        if delay_s <= bound:
            return letter
    return "F"


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"10,20,35,55,80"`` → five increasing positive bounds; ``InputError`` otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--los-thresholds must be five numbers, got {text!r}") from None
    ok = len(values) == 5 and values[0] > 0 and all(b > a for a, b in pairwise(values))
    if not ok:
        raise InputError(f"--los-thresholds must be five increasing positive numbers: {text!r}")
    return values


def window_s(run: RunData) -> tuple[float, float]:
    m = run.summary.get("manifest", {})
    try:
        return float(m["begin_s"]), float(m["end_s"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{run.path}/summary.json has no time window in its manifest") from None


def _round(v: float | None, nd: int = 1) -> float | str:
    return "" if v is None or not np.isfinite(v) else round(float(v), nd)


@dataclass
class _Acc:
    """Per approach and controller, summed over seeds."""

    loss_s: float = 0.0
    n_veh: int = 0
    has_delay: bool = False
    n_green: int = 0
    n_arrivals: int = 0


def approach_table(
    groups: dict[str, list[RunData]],
    net: NetInfo,
    thresholds_s: Sequence[float] = LOS_THRESHOLDS_S,
) -> list[dict[str, Any]]:
    """Rows of ``approaches.csv``: per signal × approach (and the intersection) × controller."""
    rows: list[dict[str, Any]] = []
    per_ctl: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    for label, runs in groups.items():
        acc: dict[tuple[str, str], _Acc] = {}
        samples: dict[tuple[str, str], list[np.ndarray]] = {}
        hours = 0.0
        for run in runs:
            begin_s, end_s = window_s(run)
            hours += (end_s - begin_s) / 3600.0
            q = run.queues()
            keys = list(zip(q.approach_signal, q.approach_ids, strict=True))
            if not order:
                order = keys
            delays = read_approach_delays(run.path)
            arrivals = read_arrivals(run.path)
            logs, _ = read_signals(run.path) if arrivals is not None else ({}, False)
            inside = (q.time_s >= begin_s) & (q.time_s <= end_s)
            for col, key in enumerate(keys):
                a = acc.setdefault(key, _Acc())
                samples.setdefault(key, []).append(q.halting_veh[inside, col])
                if delays is not None and key[1] in delays:
                    a.has_delay = True
                    a.loss_s += delays[key[1]][0]
                    a.n_veh += delays[key[1]][1]
                if arrivals is not None and key[0] in logs:
                    g, n = arrivals_on_green(net, *key, arrivals, logs[key[0]], end_s)
                    a.n_green += g
                    a.n_arrivals += n
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for key, a in acc.items():
            pooled = np.concatenate(samples[key]) if samples[key] else np.zeros(0)
            n_lanes = max(len(net.approach_lanes(*key)), 1)
            storage = net.storage_m(*key)
            p95 = float(np.percentile(pooled, 95)) if pooled.shape[0] else None
            p95_m = p95 * VEH_SPACING_M / n_lanes if p95 is not None else None
            delay = (a.loss_s / a.n_veh if a.n_veh else 0.0) if a.has_delay else None
            out[key] = {
                "signal": key[0],
                "approach": key[1],
                "controller": label,
                "n_seeds": len(runs),
                "volume_veh_h": _round(a.n_veh / hours if a.has_delay and hours else None),
                "control_delay_s": _round(delay),
                "los": los(delay, thresholds_s),
                "queue_mean_veh": _round(float(pooled.mean()) if pooled.shape[0] else None, 2),
                "queue_p95_veh": _round(p95),
                "queue_p95_m": _round(p95_m),
                "storage_m": _round(storage),
                "queue_storage_ratio": _round(
                    p95_m / storage if p95_m is not None and storage > 0 else None, 2
                ),
                "arrivals_on_green_pct": _round(
                    100.0 * a.n_green / a.n_arrivals if a.n_arrivals else None
                ),
                "_acc": a,
                "_hours": hours,
            }
        per_ctl[label] = out
    signals = list(dict.fromkeys(s for s, _ in order))
    for sig in signals:
        keys = [k for k in order if k[0] == sig]
        for key in [*keys, (sig, INTERSECTION)]:
            for label, out in per_ctl.items():
                if key[1] == INTERSECTION:
                    rows.append(_intersection_row(sig, label, [out[k] for k in keys], thresholds_s))
                elif key in out:
                    rows.append({c: out[key][c] for c in APPROACH_COLUMNS})
    return rows


def _intersection_row(
    signal: str, label: str, parts: list[dict[str, Any]], thresholds_s: Sequence[float]
) -> dict[str, Any]:
    """The intersection as a whole: volumes summed, delay and arrivals on green pooled."""
    accs: list[_Acc] = [p["_acc"] for p in parts]
    hours = parts[0]["_hours"] if parts else 0.0
    has_delay = any(a.has_delay for a in accs)
    n_veh = sum(a.n_veh for a in accs)
    delay = (sum(a.loss_s for a in accs) / n_veh if n_veh else 0.0) if has_delay else None
    n_arr = sum(a.n_arrivals for a in accs)
    row = dict.fromkeys(APPROACH_COLUMNS, "")
    row.update(
        signal=signal,
        approach=INTERSECTION,
        controller=label,
        n_seeds=parts[0]["n_seeds"] if parts else 0,
        volume_veh_h=_round(n_veh / hours if has_delay and hours else None),
        control_delay_s=_round(delay),
        los=los(delay, thresholds_s),
        queue_mean_veh=_round(sum(float(p["queue_mean_veh"] or 0.0) for p in parts), 2),
        arrivals_on_green_pct=_round(
            100.0 * sum(a.n_green for a in accs) / n_arr if n_arr else None
        ),
    )
    return row


# ---------------------------------------------------------------------------------------------
# timing


@dataclass
class Green:
    """One green shown by a signal."""

    phase: int
    start_s: float
    end_s: float
    state: str
    ended: str  # one of ENDINGS

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def greens_of(
    log: SignalLog, end_s: float, controller: str, max_green_s: float | None
) -> list[Green]:
    """The greens in one signal's rows; how each ended from ``ended`` where recorded, else
    derived: ``timed`` for a fixed-time program, ``max-out`` when it lasted max green,
    ``unknown`` otherwise."""
    out: list[Green] = []
    n = len(log.time_s)
    k = 0
    while k < n:
        if log.stage[k] != 0:
            k += 1
            continue
        phase, start = log.phase[k], log.time_s[k]
        j = k + 1
        while j < n and log.stage[j] == 0 and log.phase[j] == phase:
            j += 1
        stop = log.time_s[j] if j < n else end_s
        if j >= n:
            how = "window-end"
        elif log.ended[j] in ENDINGS:
            how = log.ended[j]
        elif controller in SUMO_FIXED:
            how = "timed"
        elif max_green_s is not None and stop - start >= max_green_s - 0.5:
            how = "max-out"
        else:
            how = "unknown"
        out.append(Green(phase, start, min(stop, end_s), log.state[k], how))
        k = j
    return out


def max_green_of(run: RunData) -> float | None:
    """Max green of a run [s]: a SUMO program's own (``controller_params``, e.g. sumo-actuated),
    else the timing kernel's; ``None`` when the manifest has neither."""
    m = run.summary.get("manifest", {})
    value = (m.get("controller_params") or {}).get("max_green_s")
    if value is None:
        value = (m.get("timing") or {}).get("max_green_s")
    return float(value) if value is not None else None


def _skips(greens: list[Green], phases: list[int]) -> dict[int, int]:
    """Per green: cycles of the most-served green in which it was not served."""
    counts = {p: sum(g.phase == p for g in greens) for p in phases}
    ref = max(phases, key=lambda p: (counts[p], -p))
    starts = [g.start_s for g in greens if g.phase == ref]
    out = dict.fromkeys(phases, 0)
    for a, b in pairwise(starts):
        served = {g.phase for g in greens if a < g.start_s < b}
        for p in phases:
            if p != ref and p not in served:
                out[p] += 1
    return out


def _split_failure(g: Green, q: QueueSeries, cols: list[int]) -> bool:
    if not cols:
        return False
    i0 = int(np.searchsorted(q.time_s, g.start_s, side="right")) - 1
    i1 = int(np.searchsorted(q.time_s, g.end_s, side="left")) - 1
    if i0 < 0 or i1 <= i0:
        return False
    at_start = float(q.halting_veh[i0, cols].sum())
    return at_start > 0 and float(q.halting_veh[i1, cols].sum()) >= at_start


def timing_table(groups: dict[str, list[RunData]], net: NetInfo) -> list[dict[str, Any]]:
    """Rows of ``timing.csv``: per signal × green × controller, counts totalled over seeds."""
    per: dict[tuple[str, int, str], dict[str, Any]] = {}
    for label, runs in groups.items():
        for run in runs:
            begin_s, end_s = window_s(run)
            logs, _ = read_signals(run.path)
            max_green = max_green_of(run)
            q = run.queues()
            for sig, log in logs.items():
                greens = greens_of(log, end_s, run.controller, max_green)
                phases = sorted({g.phase for g in greens})
                if not phases:
                    continue
                skips = _skips(greens, phases)
                for p in phases:
                    mine = [g for g in greens if g.phase == p]
                    r = per.setdefault(
                        (sig, p, label),
                        {
                            "lengths": [],
                            "gaps": [],
                            "window_s": 0.0,
                            "seeds": 0,
                            "failures": 0,
                            "skipped": 0,
                            "ended": dict.fromkeys(ENDINGS, 0),
                        },
                    )
                    r["seeds"] += 1
                    r["window_s"] += end_s - begin_s
                    r["lengths"] += [g.length_s for g in mine]
                    starts = [g.start_s for g in mine]
                    r["gaps"] += [b - a for a, b in pairwise(starts)]
                    r["skipped"] += skips[p]
                    for g in mine:
                        r["ended"][g.ended] += 1
                        served = net.served_approaches(sig, g.state)
                        cols = [
                            c
                            for c, (s, a) in enumerate(
                                zip(q.approach_signal, q.approach_ids, strict=True)
                            )
                            if s == sig and a in served
                        ]
                        r["failures"] += _split_failure(g, q, cols)
    rows = []
    for (sig, p, label), r in sorted(per.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        lengths = np.asarray(r["lengths"])
        row: dict[str, Any] = {
            "signal": sig,
            "green": p,
            "controller": label,
            "n_seeds": r["seeds"],
            "times_served": int(lengths.shape[0]),
            "green_mean_s": _round(float(lengths.mean()), 3),
            "green_min_s": _round(float(lengths.min()), 2),
            "green_max_s": _round(float(lengths.max()), 2),
            "green_total_s": _round(float(lengths.sum()), 3),
            "split_pct": _round(100.0 * float(lengths.sum()) / r["window_s"]),
            "cycle_mean_s": _round(float(np.mean(r["gaps"])) if r["gaps"] else None),
        }
        for e in ENDINGS:
            row[f"n_{e.replace('-', '_')}"] = r["ended"][e]
        row["n_skipped"] = r["skipped"]
        row["n_split_failures"] = r["failures"]
        rows.append(row)
    return rows
