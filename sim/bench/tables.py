"""Rich tables of a bench: mean ± 95 % CI per scenario × controller, and the gate's findings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sim.bench.gate import GateResult

TABLE_COLUMNS = (
    ("delay_s", "delay s"),
    ("throughput_veh_h", "veh/h"),
    ("queue_mean_veh", "queue veh"),
    ("trip_time_s", "trip s"),
    ("teleports", "teleports"),
    ("wall_s", "wall s"),
)


def _pm(mean: float, ci: float, n: int) -> str:
    """``mean ± ci``; the mean alone for one seed (no interval)."""
    if math.isnan(mean):
        return ""
    digits = 0 if abs(mean) >= 1000 else 1 if abs(mean) >= 10 else 2
    return f"{mean:.{digits}f}" + (f" ± {ci:.{digits}f}" if n > 1 else "")


def print_bench_table(title: str, table: Mapping[str, Any]) -> None:
    """Mean ± 95 % CI per scenario × controller (``table`` as from ``aggregate``)."""
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
    """One row per gated metric: baseline, now, relative change and the verdict."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"regression gate (tolerance {tolerance:.1%})")
    for col in ("scenario", "controller", "metric", "baseline", "now", "change", ""):
        t.add_column(col, justify="right" if col in ("baseline", "now", "change") else "left")
    for f in gate.findings:
        if f.worse:
            status = "WORSE"
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
