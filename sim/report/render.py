"""``report.html`` (one self-contained file) and the CSV / Markdown tables behind it.

The HTML embeds its figures as base64 PNG and its style inline: no network access, scripts or
fonts. Controllers keep the colours of :func:`sim.plots.controller_color` in tables and figures.
"""

from __future__ import annotations

import base64
import csv
import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import InputError
from sim.plots import RunData, collect_runs, controller_color, group_runs
from sim.report.data import read_net
from sim.report.outputs import EMISSION_MODEL
from sim.report.tables import (
    APPROACH_COLUMNS,
    INTERSECTION,
    LOS_THRESHOLDS_S,
    TIMING_COLUMNS,
    approach_table,
    timing_table,
)

SUMMARY_COLUMNS = (
    ("delay_s", "network delay s/veh", 1),
    ("approach_delay_s", "approach control delay s/veh (volume-weighted)", 1),
    ("throughput_veh_h", "throughput veh/h", 0),
    ("stops_per_veh", "stops/veh", 2),
    ("co2_kg", "CO2 kg", 1),
    ("co2_kg_per_veh_km", "CO2 kg/veh-km", 3),
    ("fuel_l", "fuel l", 1),
    ("fuel_l_per_veh_km", "fuel l/veh-km", 3),
    ("nox_g", "NOx g", 1),
    ("nox_g_per_veh_km", "NOx g/veh-km", 3),
)
FORMATS = ("html", "md", "csv")


def summary_rows(groups: dict[str, list[RunData]]) -> list[dict[str, Any]]:
    """Per controller: the network summary keys, mean over seeds (``None`` where absent)."""
    rows = []
    for label, runs in groups.items():
        row: dict[str, Any] = {"controller": label, "n_seeds": len(runs)}
        for key, _, nd in SUMMARY_COLUMNS:
            vals = [float(r.summary[key]) for r in runs if r.summary.get(key) is not None]
            row[key] = round(float(np.mean(vals)), nd) if len(vals) == len(runs) else None
        rows.append(row)
    return rows


def provenance(groups: dict[str, list[RunData]]) -> dict[str, Any]:
    """What the results came from: versions, scenario, window, seeds, commands."""
    runs = [r for rs in groups.values() for r in rs]
    m = [r.summary.get("manifest", {}) for r in runs]

    def distinct(key: str) -> str:
        return ", ".join(sorted({str(x.get(key, "?")) for x in m}))

    commands = sorted({" ".join(["lightwatch", *map(str, x.get("command", [])[1:])]) for x in m})
    return {
        "lightwatch": distinct("lightwatch_version"),
        "sumo": distinct("sumo_version"),
        "scenario": distinct("scenario"),
        "net_file": distinct("net_file"),
        "window": ", ".join(
            sorted({f"{x.get('begin_s', 0):g}-{x.get('end_s', 0):g} s" for x in m})
        ),
        "seeds": {label: [r.seed for r in rs] for label, rs in groups.items()},
        "commands": commands,
        "report_command": " ".join(["lightwatch", *sys.argv[1:]]),
    }


def caption(prov: dict[str, Any]) -> str:
    """One line naming the command, versions and seeds of a figure."""
    seeds = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in prov["seeds"].items())
    return (
        f"{prov['scenario']}, window {prov['window']}; seeds {seeds}; lightwatch "
        f"{prov['lightwatch']}, SUMO {prov['sumo']}; from: {' | '.join(prov['commands'])}"
    )


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(v: Any) -> float:
    return float(v) if v not in ("", None) else np.nan


def _split_figure(
    timing: list[dict[str, Any]], labels: list[str], signals: list[str], width: float
) -> dict[str, str]:
    """Green split per signal: one stacked bar per controller, one segment per green (darker
    segments are lower green indices)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.5 * len(signals) * len(labels) + 2)), 3.6))
    x = np.arange(len(signals))
    for k, label in enumerate(labels):
        bottom = np.zeros(len(signals))
        mine = [r for r in timing if r["controller"] == label]
        for green in sorted({int(r["green"]) for r in mine}):
            split = {r["signal"]: _num(r["split_pct"]) for r in mine if int(r["green"]) == green}
            h = np.nan_to_num([split.get(s, 0.0) for s in signals])
            ax.bar(
                x + k * width,
                h,
                width,
                bottom=bottom,
                color=controller_color(label),
                alpha=max(0.25, 1.0 - 0.2 * green),
                edgecolor="white",
                lw=0.4,
                label=label if green == 0 else None,
            )
            bottom += h
    ax.set_xticks(x + width * (len(labels) - 1) / 2, signals, rotation=60, fontsize=8)
    ax.set_ylabel("green time [% of window]")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.2)
    title = "Green split per signal (segments: greens in program order, darkest first)"
    return {"title": title, "png": _png(fig)}


def figures(
    groups: dict[str, list[RunData]],
    approaches: list[dict[str, Any]],
    timing: list[dict[str, Any]],
    summary: list[dict[str, Any]],
    thresholds_s: Sequence[float] = LOS_THRESHOLDS_S,
) -> list[dict[str, str]]:
    """Figures as ``{"title", "png"}`` (base64)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(groups)
    width = 0.8 / max(len(labels), 1)
    out = []
    inter = [r for r in approaches if r["approach"] == INTERSECTION]
    signals = list(dict.fromkeys(r["signal"] for r in inter))
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.5 * len(signals) * len(labels) + 2)), 3.6))
    x = np.arange(len(signals))
    for k, label in enumerate(labels):
        vals = {r["signal"]: _num(r["control_delay_s"]) for r in inter if r["controller"] == label}
        ax.bar(
            x + k * width,
            [vals.get(s, np.nan) for s in signals],
            width,
            color=controller_color(label),
            label=label,
        )
    ax.set_xticks(x + width * (len(labels) - 1) / 2, signals, rotation=60, fontsize=8)
    ax.set_ylabel("control delay [s/veh]")
    for bound in thresholds_s:
        ax.axhline(bound, color="#bbbbbb", lw=0.6, zorder=0)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.2)
    out.append(
        {"title": "Intersection control delay (grey lines: LOS A-E bounds)", "png": _png(fig)}
    )

    out.append(_split_figure(timing, labels, signals, width))

    rows = [r for r in approaches if r["approach"] != INTERSECTION]
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    for label in labels:
        ratio = [_num(r["queue_storage_ratio"]) for r in rows if r["controller"] == label]
        ratio = np.sort(np.asarray([v for v in ratio if np.isfinite(v)]))
        if ratio.shape[0]:
            y = np.arange(1, ratio.shape[0] + 1) / ratio.shape[0]
            ax.step(ratio, y, where="post", color=controller_color(label), label=label)
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xlabel("95th-percentile queue / storage")
    ax.set_ylabel("share of approaches")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    out.append(
        {
            "title": "Queue against storage over all approaches (right of 1: spills back)",
            "png": _png(fig),
        }
    )

    keys = [
        ("stops_per_veh", "stops/veh"),
        ("co2_kg_per_veh_km", "CO2 kg/veh-km"),
        ("fuel_l_per_veh_km", "fuel l/veh-km"),
        ("nox_g_per_veh_km", "NOx g/veh-km"),
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(9.0, 3.0))
    for ax, (key, name) in zip(axes, keys, strict=True):
        for k, row in enumerate(summary):
            ax.bar(k, _num(row.get(key)), color=controller_color(row["controller"]))
        ax.set_xticks(
            range(len(summary)), [r["controller"] for r in summary], rotation=45, fontsize=7
        )
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out.append(
        {
            "title": "Stops and emissions per controller (mean over seeds; missing bars: "
            "runs without --emissions)",
            "png": _png(fig),
        }
    )
    return out


def _write_rows(fh: Any, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


def write_csv(path: Path, rows: list[dict[str, Any]], columns: Sequence[str]) -> Path:
    """``rows`` as a CSV file with ``columns``."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        _write_rows(fh, rows, columns)
    return path


def write_csv_stream(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV on standard output."""
    _write_rows(sys.stdout, rows, columns)


def markdown(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown (pipe) table of ``rows``."""

    def cell(v: Any) -> str:
        return ("" if v is None else str(v)).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def build(
    result_dirs: Sequence[Path], thresholds_s: Sequence[float] = LOS_THRESHOLDS_S
) -> dict[str, Any]:
    """Collect the runs under ``result_dirs`` and build every table."""
    runs = collect_runs(list(result_dirs))
    groups = group_runs(runs)
    net = read_net(runs[0].net_file)
    return {
        "groups": groups,
        "approaches": approach_table(groups, net, thresholds_s),
        "timing": timing_table(groups, net),
        "summary": summary_rows(groups),
    }


def _html(tables: dict[str, Any], thresholds_s: Sequence[float]) -> str:
    import jinja2

    groups = tables["groups"]
    prov = provenance(groups)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sim.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    by_key: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in tables["approaches"]:
        by_key.setdefault((r["signal"], r["approach"]), {})[r["controller"]] = r
    timing_keys: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in tables["timing"]:
        timing_keys.setdefault((r["signal"], r["green"]), {})[r["controller"]] = r
    missing = sorted({r["controller"] for r in tables["approaches"] if r["control_delay_s"] == ""})
    return env.get_template("report.html.j2").render(
        controllers=[(label, controller_color(label)) for label in groups],
        prov=prov,
        caption=caption(prov),
        summary=tables["summary"],
        summary_columns=SUMMARY_COLUMNS,
        approaches=by_key,
        timing=timing_keys,
        figures=figures(
            groups, tables["approaches"], tables["timing"], tables["summary"], thresholds_s
        ),
        thresholds=thresholds_s,
        emission_model=EMISSION_MODEL,
        missing_study=missing,
        intersection=INTERSECTION,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def study_sets(result_dirs: Sequence[Path]) -> dict[str, list[Path]]:
    """Result folders per report: a bench output (``runs/<scenario>/...``) gives one set per
    scenario, anything else one set (``""``)."""
    sets: dict[str, list[Path]] = {}
    for d in map(Path, result_dirs):
        runs = d / "runs"
        if not (d / "summary.json").exists() and runs.is_dir():
            for sc in sorted(p for p in runs.iterdir() if p.is_dir()):
                sets.setdefault(sc.name, []).append(sc)
        else:
            sets.setdefault("", []).append(d)
    if "" in sets and len(sets) > 1:
        raise InputError("give either bench outputs or run/compare folders, not both")
    return sets


def write_report(
    result_dirs: list[Path],
    out_dir: Path,
    fmt: str = "html",
    thresholds_s: Sequence[float] = LOS_THRESHOLDS_S,
) -> Path:
    """Write the study of the runs under ``result_dirs`` into ``out_dir``; returns the main file.

    ``html``: ``report.html`` with ``approaches.csv``, ``timing.csv`` and ``summary.csv``;
    ``md``: ``approaches.md``; ``csv``: the three CSV files (returns ``approaches.csv``).
    A bench output with several scenarios gets one such folder per scenario under ``out_dir``
    and an ``index.html`` (or ``index.md``) linking them, which is returned.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    sets = study_sets(result_dirs)
    if len(sets) == 1:
        return _write_one(next(iter(sets.values())), out_dir, fmt, thresholds_s)
    built = {name: build(dirs, thresholds_s) for name, dirs in sets.items()}
    written = {
        name: _write_one(sets[name], out_dir / name, fmt, thresholds_s, tables)
        for name, tables in built.items()
    }
    index = out_dir / ("index.md" if fmt == "md" else "index.html")
    links = [(name, path.relative_to(out_dir).as_posix()) for name, path in written.items()]
    if fmt == "md":
        text = "".join(f"- [{name}]({href})\n" for name, href in links)
    else:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("sim.report", "templates"), autoescape=True
        )
        text = env.get_template("index.html.j2").render(links=links)
    index.write_text(text, encoding="utf-8")
    return index


def _write_one(
    dirs: list[Path],
    out_dir: Path,
    fmt: str,
    thresholds_s: Sequence[float],
    tables: dict[str, Any] | None = None,
) -> Path:
    tables = tables if tables is not None else build(dirs, thresholds_s)
    html = _html(tables, thresholds_s) if fmt == "html" else None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the report folder {out_dir}: {exc.strerror}") from None
    if fmt == "md":
        path = out_dir / "approaches.md"
        path.write_text(markdown(tables["approaches"], APPROACH_COLUMNS), encoding="utf-8")
        return path
    main = write_csv(out_dir / "approaches.csv", tables["approaches"], APPROACH_COLUMNS)
    write_csv(out_dir / "timing.csv", tables["timing"], TIMING_COLUMNS)
    write_csv(
        out_dir / "summary.csv",
        tables["summary"],
        ["controller", "n_seeds", *(k for k, _, _ in SUMMARY_COLUMNS)],
    )
    if html is None:
        return main
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
