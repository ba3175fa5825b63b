"""The regression gate: blessed baselines and the comparison of a bench with one.

A comparison means something only when both sides ran the same thing. Before any metric is
compared, :func:`mismatches` lists what differs between the bench and the baseline:

* the SUMO release (major.minor): SUMO releases change the traffic itself, so the baseline must be
  re-blessed; versions differing only in the patch release are compared strictly (a note);
* the seeds (as a set);
* the settings of a scenario × controller (a key missing on one side counts as its RunConfig
  default, so a setting added to lightwatch after the bless is no difference);
* scenario × controller pairs present on one side only.

Any of them fails the gate (exit 1, with the command that re-blesses). Otherwise every gated
metric is compared: ``delay_s`` and ``queue_mean_veh`` are worse when higher, ``throughput_veh_h``
when lower, beyond a relative tolerance of the baseline value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.bench.suite import Suite, result_settings
from sim.errors import InputError
from sim.runner import RunConfig
from sim.stats import relative_change
from sim.sumo_home import sumo_version

# metric, +1 when higher is worse, -1 when lower is worse
GATE_METRICS: tuple[tuple[str, int], ...] = (
    ("delay_s", 1),
    ("queue_mean_veh", 1),
    ("throughput_veh_h", -1),
)
BASELINE_KIND = "lightwatch-bench-baseline"
_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


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
    """A baseline written by ``--bless``; InputError when missing, foreign or empty."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline not found: {p}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"baseline {p} is not readable JSON: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("kind") != BASELINE_KIND
        or not isinstance(data.get("results"), dict)
    ):
        raise InputError(f"{p} is not a lightwatch bench baseline (written by --bless)")
    if not any(data["results"].values()):
        raise InputError(f"--compare: baseline {p} holds no results, nothing to compare")
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


def planned_report(suite: Suite) -> dict[str, Any]:
    """What a bench of ``suite`` will be compared on, known before it runs: SUMO version, seeds
    and the settings of each scenario × controller (the shape of a bench report)."""
    results: dict[str, Any] = {}
    for (s, c), settings in suite.settings.items():
        results.setdefault(s, {})[c] = {"settings": settings}
    return {"sumo_version": sumo_version(), "seeds": list(suite.seeds), "results": results}


def sumo_release(version: Any) -> tuple[int, int] | None:
    """``(major, minor)`` of a SUMO version string (``"1.28.0"`` → ``(1, 28)``); None if not one."""
    m = _RELEASE.match(str(version)) if version is not None else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def _pairs(results: Mapping[str, Any]) -> list[str]:
    return [f"{s}/{c}" for s, ctl in results.items() for c in ctl]


def _settings_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """Keys whose values differ (``key old -> new``); a key missing on one side counts as its
    RunConfig default."""
    defaults = result_settings(RunConfig(scenario="x"), with_scenario=False)
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, defaults.get(k)), b.get(k, defaults.get(k))
        if va != vb:
            diffs.append(f"{k} {va!r} -> {vb!r}")
    return ", ".join(diffs)


def mismatches(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """What makes ``report`` (a bench report or :func:`planned_report`) incomparable with
    ``baseline``, one phrase each; empty when the two ran the same thing."""
    out = []
    b_ver, r_ver = baseline.get("sumo_version"), report.get("sumo_version")
    if b_ver != r_ver and (
        sumo_release(b_ver) is None or sumo_release(b_ver) != sumo_release(r_ver)
    ):
        out.append(f"SUMO {r_ver} here, {b_ver} in the baseline")
    b_seeds, r_seeds = baseline.get("seeds") or [], report.get("seeds") or []
    if sorted(b_seeds) != sorted(r_seeds):
        out.append(f"seeds {r_seeds} here, {b_seeds} in the baseline")
    base_res, rep_res = baseline.get("results", {}), report.get("results", {})
    new = [p for p in _pairs(rep_res) if p.split("/")[1] not in base_res.get(p.split("/")[0], {})]
    gone = [p for p in _pairs(base_res) if p.split("/")[1] not in rep_res.get(p.split("/")[0], {})]
    if new:
        out.append(f"not in the baseline: {', '.join(new)}")
    if gone:
        out.append(f"in the baseline but not in this bench: {', '.join(gone)}")
    for s, ctl in rep_res.items():
        for c, entry in ctl.items():
            base = base_res.get(s, {}).get(c)
            if base is None:
                continue
            diff = _settings_diff(base.get("settings", {}), entry.get("settings", {}))
            if diff:
                out.append(f"{s}/{c} settings differ from the baseline's: {diff}")
    return out


def notes(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """Differences that do not prevent a strict comparison (a SUMO patch release)."""
    b_ver, r_ver = baseline.get("sumo_version"), report.get("sumo_version")
    if (
        b_ver != r_ver
        and sumo_release(b_ver) is not None
        and sumo_release(b_ver) == sumo_release(r_ver)
    ):
        return [
            f"baseline blessed with SUMO {b_ver}, this is SUMO {r_ver}: same release, "
            "compared strictly"
        ]
    return []


def rebless_hint(suite_file: str | Path, baseline_file: str | Path) -> str:
    return f"lightwatch bench --suite {suite_file} --bless {baseline_file}"


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
        return relative_change(self.baseline, self.current)

    def describe(self) -> str:
        return (
            f"{self.scenario}/{self.controller} {self.metric} {self.baseline:.4g} -> "
            f"{self.current:.4g} ({self.change:+.1%})"
        )


@dataclass
class GateResult:
    """The findings per gated metric, what made the comparison impossible, and notes."""

    findings: list[Finding]
    mismatches: list[str]
    notes: list[str]

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.worse]


def compare(report: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float) -> GateResult:
    """Compare a bench report with a baseline, metric by metric (see the module docstring).

    Findings are listed for every pair and gated metric present on both sides; with mismatches
    they are for information only.
    """
    findings = []
    for s, ctl in report["results"].items():
        for c, entry in ctl.items():
            base = baseline["results"].get(s, {}).get(c)
            if base is None:
                continue
            for metric, direction in GATE_METRICS:
                if metric not in base.get("mean", {}) or metric not in entry["mean"]:
                    continue
                b, v = float(base["mean"][metric]), float(entry["mean"][metric])
                worse = direction * (v - b) > tolerance * abs(b)
                findings.append(Finding(s, c, metric, b, v, direction, worse))
    return GateResult(findings, mismatches(report, baseline), notes(report, baseline))
