"""Plots of finished runs; they read result files only (never a running simulation).

Size: over 500 lines, one figure per function over the same run readers; each figure is
short and independent.

Inputs are run folders (holding ``summary.json``) or folders above them such as a ``compare``
output (``<out>/<controller>/seed<N>/``). Runs are grouped by controller name; series are averaged
over the seeds of a controller. All runs must come from the same network.

Figures (PNG, and SVG with ``svg=True``), written to ``out_dir``:
    queue_signal_<id>.png  halting vehicles over time on each approach of one signal
    queue_network.png      halting vehicles over time summed over all controlled approaches
    delay_ecdf.png         ECDF of per-vehicle delay (timeLoss + departDelay; undeparted
                           vehicles count their departDelay, as in ``delay_s``)
    compare_bars.png       ``delay_s`` and ``throughput_veh_h``: mean and 95 % CI over seeds
    network_map.png        the net's lanes in grey, each controlled approach coloured by its mean
                           queue (one panel per controller, one shared colour scale)
    ped_wait_ecdf.png      ECDF of single pedestrian waits at crossings (``ped_waits.csv``);
                           only when some run has pedestrian waits
Every controller keeps its colour in all figures (:func:`controller_color`).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.metrics import read_delays
from sim.results import find_table, read_table

CONTROLLER_COLORS = {
    "fixed": "#7f7f7f",
    "count": "#1f77b4",
    "sumo-actuated": "#ff7f0e",
    "sumo-delay": "#2ca02c",
    "max-pressure": "#d62728",
}
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DPI = 100
MAP_CMAP = "plasma"


def controller_color(name: str) -> str:
    """Fixed colour of a controller: the table above, else a tab10 colour chosen by name hash."""
    if name in CONTROLLER_COLORS:
        return CONTROLLER_COLORS[name]
    return TAB10[zlib.crc32(name.encode()) % len(TAB10)]


@dataclass
class QueueSeries:
    """Halting vehicles per approach over time, from ``queues.csv``/``.parquet``."""

    time_s: NDArray[np.float64]  # [n_times]
    approach_ids: tuple[str, ...]  # [n_approaches] incoming edge ids
    approach_signal: tuple[str, ...]  # [n_approaches] signal id of each approach
    halting_veh: NDArray[np.float64]  # [n_times, n_approaches]


@dataclass
class RunData:
    """One finished run folder."""

    path: Path
    summary: dict[str, Any]
    _queues: QueueSeries | None = field(default=None, repr=False)

    @property
    def controller(self) -> str:
        return str(self.summary.get("manifest", {}).get("controller", self.path.parent.name))

    @property
    def seed(self) -> int:
        return int(self.summary.get("manifest", {}).get("seed", 0))

    @property
    def net_file(self) -> Path:
        return Path(self.summary.get("manifest", {}).get("net_file", ""))

    def queues(self) -> QueueSeries:
        if self._queues is None:
            self._queues = read_queues(self.path)
        return self._queues

    def delays_s(self) -> NDArray[np.float64]:
        """Per-vehicle delay [s] from ``tripinfo.xml``, shape [n_vehicles]."""
        return read_delays(self.path / "tripinfo.xml")

    def ped_waits_s(self) -> NDArray[np.float64]:
        """Single pedestrian waits at crossings [s] from ``ped_waits.<fmt>``, shape [n_waits]
        (empty when the run has none)."""
        path = find_table(self.path, "ped_waits")
        if path is None:
            return np.zeros(0)
        return np.asarray(read_table(path)["wait_s"], dtype=np.float64)


def read_queues(run_dir: Path) -> QueueSeries:
    """Queue series of a run folder (long table → matrix)."""
    path = find_table(run_dir, "queues")
    if path is None:
        raise InputError(f"{run_dir} has no queues.csv or queues.parquet")
    cols = read_table(path)
    missing = {"time_s", "signal", "approach", "halting"} - set(cols)
    if missing:
        raise InputError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    t = np.asarray(cols["time_s"], dtype=np.float64)
    halting = np.asarray(cols["halting"], dtype=np.float64)
    sig, app = list(cols["signal"]), list(cols["approach"])
    keys: dict[tuple[str, str], int] = {}
    a_idx = np.array([keys.setdefault((s, a), len(keys)) for s, a in zip(sig, app, strict=True)])
    times, t_idx = np.unique(t, return_inverse=True)
    mat = np.zeros((times.shape[0], len(keys)))
    mat[t_idx, a_idx] = halting
    return QueueSeries(
        time_s=times,
        approach_ids=tuple(a for _, a in keys),
        approach_signal=tuple(s for s, _ in keys),
        halting_veh=mat,
    )


def _compare_runs(root: Path) -> list[Path]:
    """``summary.json`` files of exactly the runs a ``compare.json`` lists."""
    try:
        data = json.loads((root / "compare.json").read_text(encoding="utf-8"))
        return [
            root / name / f"seed{seed}" / "summary.json"
            for name, entry in data["controllers"].items()
            for seed in entry["seeds"]
            if (root / name / f"seed{seed}" / "summary.json").exists()
        ]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return []


def collect_runs(paths: Sequence[Path]) -> list[RunData]:
    """Every finished run folder at or below ``paths`` (``*.partial`` folders are skipped)."""
    runs: list[RunData] = []
    seen: set[Path] = set()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise InputError(f"results folder not found: {root}")
        found = [root / "summary.json"] if (root / "summary.json").exists() else []
        if not found and (root / "compare.json").exists():
            found = _compare_runs(root)
        if not found:
            found = sorted(root.rglob("summary.json"))
        for s in found:
            d = s.parent.resolve()
            if d in seen or any(p.name.endswith(".partial") for p in (d, *d.parents)):
                continue
            seen.add(d)
            try:
                summary = json.loads(s.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(f"cannot read {s}: {exc}") from None
            runs.append(RunData(path=d, summary=summary))
    if not runs:
        raise InputError(f"no finished runs (summary.json) under {', '.join(map(str, paths))}")
    nets = {str(r.net_file) for r in runs}
    if len(nets) > 1:
        raise InputError(f"results come from different networks: {', '.join(sorted(nets))}")
    return runs


def _settings(run: RunData) -> dict[str, Any]:
    """What distinguishes runs of one controller besides the seed: its parameters and timing."""
    m = run.summary.get("manifest", {})
    out = dict(m.get("controller_params") or {})
    out.update({k: v for k, v in (m.get("timing") or {}).items() if v is not None})
    return out


def group_runs(runs: list[RunData]) -> dict[str, list[RunData]]:
    """Runs per label, in order of first appearance, seeds sorted.

    The label is the controller name; where runs of one controller differ in parameters or
    timing, the differing settings are appended (``count (extend_veh=1)``), so they are not
    averaged together.
    """
    by_name: dict[str, list[RunData]] = {}
    for r in runs:
        by_name.setdefault(r.controller, []).append(r)
    groups: dict[str, list[RunData]] = {}
    for name, members in by_name.items():
        settings = [_settings(r) for r in members]
        keys = sorted({k for st in settings for k in st})
        differ = [k for k in keys if len({json.dumps(st.get(k)) for st in settings}) > 1]
        for r, st in zip(members, settings, strict=True):
            label = name
            if differ:
                label += " (" + ", ".join(f"{k}={st.get(k)}" for k in differ) + ")"
            groups.setdefault(label, []).append(r)
    return {k: sorted(v, key=lambda r: r.seed) for k, v in groups.items()}


def _stack(series: list[QueueSeries], cols: Sequence[int]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Times [n_t] and halting [n_seeds, n_t, len(cols)], cut to the shortest run."""
    n_t = min(s.time_s.shape[0] for s in series)
    return series[0].time_s[:n_t], np.stack([s.halting_veh[:n_t, list(cols)] for s in series])


def _approach_cols(q: QueueSeries, approaches: Sequence[tuple[str, str]]) -> list[int]:
    index = {k: i for i, k in enumerate(zip(q.approach_signal, q.approach_ids, strict=True))}
    try:
        return [index[a] for a in approaches]
    except KeyError as exc:
        raise InputError(f"approach {exc.args[0]} is missing in some run's queues") from None


def busiest_signal(runs: list[RunData]) -> str:
    """Signal with the largest mean halting vehicles summed over its approaches, over all runs."""
    total: dict[str, float] = {}
    for r in runs:
        q = r.queues()
        means = q.halting_veh.mean(axis=0) if q.time_s.shape[0] else np.zeros(len(q.approach_ids))
        for s, m in zip(q.approach_signal, means, strict=True):
            total[s] = total.get(s, 0.0) + float(m)
    if not total:
        raise InputError("the queue files hold no approaches")
    return max(total, key=lambda s: (total[s], s))


def _save(fig: Any, out_dir: Path, stem: str, svg: bool) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = [out_dir / f"{stem}.png"]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    if svg:
        paths.append(out_dir / f"{stem}.svg")
        fig.savefig(paths[1], bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return paths


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def plot_signal_queues(
    groups: dict[str, list[RunData]], signal_id: str, out_dir: Path, svg: bool
) -> list[Path]:
    """One panel per approach of ``signal_id``; one line per controller (mean over seeds)."""
    import matplotlib.pyplot as plt

    first = next(iter(groups.values()))[0].queues()
    approaches = [
        (s, a)
        for s, a in zip(first.approach_signal, first.approach_ids, strict=True)
        if s == signal_id
    ]
    if not approaches:
        known = sorted(set(first.approach_signal))
        raise InputError(
            f"no signal {signal_id!r} in the results; signals: {', '.join(known[:10])}"
            + (" ..." if len(known) > 10 else "")
        )
    n = len(approaches)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(9, 1.9 * nrows + 1.0), sharex=True, sharey=True, squeeze=False
    )
    for name, runs in groups.items():
        series = [r.queues() for r in runs]
        t, h = _stack(series, _approach_cols(series[0], approaches))
        mean = h.mean(axis=0)
        for k in range(n):
            ax = axes[k // ncols][k % ncols]
            ax.plot(t, mean[:, k], color=controller_color(name), lw=1.0, label=name)
    for k, (_, a) in enumerate(approaches):
        ax = axes[k // ncols][k % ncols]
        ax.set_title(f"approach {a}", fontsize=9)
        ax.grid(alpha=0.3)
        if k % ncols == 0:
            ax.set_ylabel("queue [veh]")
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("simulated time [s]")
    n_seeds = ", ".join(f"{k} {len(v)}" for k, v in groups.items())
    fig.suptitle(
        f"Halting vehicles per approach at signal {signal_id} (mean over seeds: {n_seeds})",
        fontsize=10,
    )
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, out_dir, f"queue_signal_{_safe(signal_id)}", svg)


def plot_network_queue(groups: dict[str, list[RunData]], out_dir: Path, svg: bool) -> list[Path]:
    """Halting vehicles summed over all approaches: mean over seeds, band = seed range."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for name, runs in groups.items():
        series = [r.queues() for r in runs]
        t, h = _stack(series, range(len(series[0].approach_ids)))
        total = h.sum(axis=2)  # [n_seeds, n_t]
        color = controller_color(name)
        ax.plot(t, total.mean(axis=0), color=color, lw=1.2, label=f"{name} ({len(runs)} seeds)")
        if len(runs) > 1:
            ax.fill_between(t, total.min(axis=0), total.max(axis=0), color=color, alpha=0.2, lw=0)
    ax.set_xlabel("simulated time [s]")
    ax.set_ylabel("halting vehicles, all approaches [veh]")
    ax.set_title("Network-wide queue (line: mean over seeds, band: range over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "queue_network", svg)


def plot_delay_ecdf(groups: dict[str, list[RunData]], out_dir: Path, svg: bool) -> list[Path]:
    """ECDF of per-vehicle delay, vehicles of all seeds pooled per controller."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    x_max = 0.0
    for name, runs in groups.items():
        d = np.sort(np.concatenate([r.delays_s() for r in runs]))
        if d.shape[0] == 0:
            continue
        y = np.arange(1, d.shape[0] + 1) / d.shape[0]
        ax.step(
            d,
            y,
            where="post",
            color=controller_color(name),
            lw=1.3,
            label=f"{name}: mean {d.mean():.1f} s, median {np.median(d):.1f} s, {d.shape[0]} veh",
        )
        x_max = max(x_max, float(np.quantile(d, 0.99)))
    ax.set_xlim(0, max(x_max * 1.05, 1.0))
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("delay per vehicle, timeLoss + departDelay [s]")
    ax.set_ylabel("share of vehicles with at most this delay")
    ax.set_title(
        "Delay distribution (seeds pooled; x axis cut at the 99th percentile)", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, out_dir, "delay_ecdf", svg)


def plot_ped_wait_ecdf(groups: dict[str, list[RunData]], out_dir: Path, svg: bool) -> list[Path]:
    """ECDF of single pedestrian waits at crossings, seeds pooled per controller; nothing when
    no run has pedestrian waits."""
    waits = {name: np.sort(np.concatenate([r.ped_waits_s() for r in runs]))
             for name, runs in groups.items()}  # fmt: skip
    if not any(w.shape[0] for w in waits.values()):
        return []
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, w in waits.items():
        if w.shape[0] == 0:
            continue
        y = np.arange(1, w.shape[0] + 1) / w.shape[0]
        label = f"{name}: mean {w.mean():.1f} s, max {w[-1]:.0f} s, {w.shape[0]} waits"
        ax.step(w, y, where="post", color=controller_color(name), lw=1.3, label=label)
    ax.set_xscale("symlog", linthresh=10.0)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("single wait of one pedestrian at one crossing [s]")
    ax.set_ylabel("share of waits at most this long")
    ax.set_title("Pedestrian waits at crossings (seeds pooled)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, out_dir, "ped_wait_ecdf", svg)


def plot_compare_bars(groups: dict[str, list[RunData]], out_dir: Path, svg: bool) -> list[Path]:
    """Bars of the mean over seeds with 95 % CI whiskers; dots are the single seeds."""
    import matplotlib.pyplot as plt

    from sim.stats import mean_ci

    metrics = (("delay_s", "mean delay [s/veh]"), ("throughput_veh_h", "throughput [veh/h]"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    names = list(groups)
    x = np.arange(len(names))
    for ax, (key, label) in zip(axes, metrics, strict=True):
        for i, name in enumerate(names):
            vals = [float(r.summary[key]) for r in groups[name] if key in r.summary]
            if not vals:
                continue
            m, ci = mean_ci(vals)
            color = controller_color(name)
            ax.bar(i, m, color=color, alpha=0.8, width=0.6)
            if len(vals) > 1:
                ax.errorbar(i, m, yerr=ci, color="black", capsize=6, lw=1.2)
            jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), vals, color="black", s=10, zorder=3)
        ax.set_xticks(x, [n.replace(" (", "\n(") for n in names], fontsize=9)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    seeds = sorted({r.seed for runs in groups.values() for r in runs})
    if max(len(runs) for runs in groups.values()) > 1:
        title = (
            f"Mean over seeds {', '.join(map(str, seeds))} with 95 % confidence interval "
            "(t distribution); dots: single seeds"
        )
    else:
        title = f"One seed per controller ({', '.join(map(str, seeds))}): no confidence interval"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "compare_bars", svg)


def plot_network_map(
    groups: dict[str, list[RunData]], out_dir: Path, svg: bool, highlight: str | None = None
) -> list[Path]:
    """The net's lanes in grey; lanes of each controlled approach coloured by its mean queue."""
    import matplotlib.pyplot as plt
    import sumolib
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    net_file = next(iter(groups.values()))[0].net_file
    if not net_file.exists():
        raise InputError(f"network file of the results not found: {net_file}")
    net = sumolib.net.readNet(str(net_file))
    grey = [lane.getShape() for edge in net.getEdges() for lane in edge.getLanes()]

    means: dict[str, dict[str, float]] = {}  # controller → approach edge → mean queue [veh]
    sig_of: dict[str, str] = {}
    for name, runs in groups.items():
        series = [r.queues() for r in runs]
        _, h = _stack(series, range(len(series[0].approach_ids)))
        per = h.mean(axis=(0, 1)) if h.shape[1] else np.zeros(h.shape[2])
        means[name] = dict(zip(series[0].approach_ids, map(float, per), strict=True))
        sig_of.update(zip(series[0].approach_ids, series[0].approach_signal, strict=True))
    v_max = max((v for m in means.values() for v in m.values()), default=1.0)
    norm = Normalize(vmin=0.0, vmax=max(v_max, 1e-6))
    cmap = plt.get_cmap(MAP_CMAP)

    (x0, y0), (x1, y1) = net.getBBoxXY()
    aspect = (y1 - y0) / max(x1 - x0, 1e-9)
    n = len(groups)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    panel_w = 6.0 if n > 1 else 7.5
    panel_h = min(max(panel_w * aspect, 2.5), 8.0)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_w * ncols + 1.2, panel_h * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for k, (name, m) in enumerate(means.items()):
        ax = axes[k // ncols][k % ncols]
        ax.add_collection(LineCollection(grey, colors="#c8c8c8", linewidths=0.6))
        segs, vals = [], []
        for edge_id, v in m.items():
            if not net.hasEdge(edge_id):
                continue
            for lane in net.getEdge(edge_id).getLanes():
                segs.append(lane.getShape())
                vals.append(v)
        ax.add_collection(
            LineCollection(
                segs, colors=cmap(norm(np.asarray(vals))), linewidths=2.6, capstyle="butt"
            )
        )
        if highlight is not None:
            ends = [
                net.getEdge(e).getLanes()[0].getShape()[-1]
                for e, s in sig_of.items()
                if s == highlight and net.hasEdge(e)
            ]
            if ends:
                cx, cy = np.mean(ends, axis=0)
                ax.plot(cx, cy, "o", mfc="none", mec="black", ms=14, mew=1.2)
                ax.annotate(
                    highlight, (cx, cy), xytext=(8, 8), textcoords="offset points", fontsize=8
                )
        ax.set_xlim(x0 - 10, x1 + 10)
        ax.set_ylim(y0 - 10, y1 + 10)
        ax.set_aspect("equal")
        ax.set_title(
            f"{name}: mean {np.mean(list(m.values())):.2f} veh per approach",
            fontsize=9,
            color=controller_color(name),
        )
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.tick_params(labelsize=7)
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(
        sm,
        ax=axes.ravel().tolist(),
        shrink=0.85,
        label="mean queue per approach [veh]\n(halting vehicles, mean over time and seeds)",
    )
    fig.suptitle(f"Controlled approaches of {net_file.name} coloured by mean queue", fontsize=10)
    return _save(fig, out_dir, "network_map", svg)


def plot_results(
    paths: Sequence[Path],
    out_dir: Path,
    signal_id: str | None = None,
    svg: bool = False,
) -> list[Path]:
    """Write every figure of the module doc for the runs under ``paths``; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    runs = collect_runs(paths)
    groups = group_runs(runs)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the plot folder {out_dir}: {exc.strerror}") from None
    sig = signal_id or busiest_signal(runs)
    written: list[Path] = []
    written += plot_signal_queues(groups, sig, out_dir, svg)
    written += plot_network_queue(groups, out_dir, svg)
    written += plot_delay_ecdf(groups, out_dir, svg)
    written += plot_ped_wait_ecdf(groups, out_dir, svg)
    written += plot_compare_bars(groups, out_dir, svg)
    written += plot_network_map(groups, out_dir, svg, highlight=sig)
    return written


@click.command("plot")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the figures (default: RESULTS/plots for one folder, else ./plots).",
)
@click.option(
    "--signal",
    "signal_id",
    default=None,
    help="Signal whose approaches get the queue plot (default: the busiest).",
)
@click.option("--svg", is_flag=True, help="Also write SVG files.")
def plot_cmd(results: tuple[Path, ...], out: Path | None, signal_id: str | None, svg: bool) -> None:
    """Plot finished runs: RESULTS are run folders or compare folders."""
    if out is None:
        out = results[0] / "plots" if len(results) == 1 else Path("plots")
    files = plot_results(list(results), out, signal_id=signal_id, svg=svg)
    for f in files:
        click.echo(str(f))
