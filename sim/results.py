"""Result files beside ``summary.json``: signal changes and Parquet output.

Files of a run folder (``<out>/``):
    summary.json   contract metrics and the manifest (written by :mod:`sim.runner`)
    queues.csv     ``time_s,signal,approach,halting`` every ``--queue-interval-s`` (QueueRecorder)
    signals.csv    ``time_s,signal,state,phase,stage,ended``: one row per change of a display
    tripinfo.xml   SUMO's per-vehicle trip information (unfinished and undeparted vehicles too)
With ``--format parquet`` the two tables are ``queues.parquet`` and ``signals.parquet`` (same
columns; needs the optional ``pyarrow``). :func:`read_table` reads either.

``signals.csv`` columns:
    time_s  simulated time the state was first shown [s]
    signal  traffic light id
    state   SUMO state string (one character per controlled link)
    phase   local index of the green shown, or of the green being left during yellow/all-red
            (numbering of ``sim.layout``: the distinct greens of the program in program order;
            during the clearance of what SUMO showed at the start, the green it leads to)
    stage   0 green, 1 yellow, 2 all-red, 3 pedestrian clearance (crossings closing red,
            vehicle links still green; ``sim.timing`` rule 2)
    ended   on the row where a signal leaves a green, why that green ended (``gap-out``,
            ``max-out``, ``cut``, ``starvation``, ``fallback``; ``sim.timing.END_REASONS``);
            empty otherwise, and always for signals SUMO times itself
Signals that lightwatch drives are recorded from the timing kernel, only where ``changed`` is set.
Signals SUMO times itself (``fixed``, SUMO's actuated programs) are read once per step with
``getRedYellowGreenState`` (one call per signal; with the ``traci`` backend through a
subscription), and a row is written only when the string differs from the previous step.

Config files (``--config`` / ``--save-config``) are read and written by :mod:`sim.config`.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import GREEN_CHARS, YELLOW_CHARS, NetworkLayout
from sim.timing import END_REASONS

FORMATS = ("csv", "parquet")
QUEUE_COLUMNS = ("time_s", "signal", "approach", "halting")
SIGNAL_COLUMNS = ("time_s", "signal", "state", "phase", "stage", "ended")


# ---------------------------------------------------------------------------------------------
# tables (CSV or Parquet)


def have_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def check_format(fmt: str) -> None:
    """``InputError`` for an unknown format, or ``parquet`` without ``pyarrow`` installed."""
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet" and not have_pyarrow():
        raise InputError(
            "--format parquet needs pyarrow: pip install 'lightwatch[parquet]' (or use csv)"
        )


def write_table(path: Path, columns: dict[str, Sequence[Any] | NDArray[Any]], fmt: str) -> Path:
    """Write equal-length ``columns`` to ``path`` with the suffix of ``fmt``; returns the path."""
    path = path.with_suffix("." + fmt)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({k: list(v) for k, v in columns.items()}), path)
        return path
    names = list(columns)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        w.writerows(zip(*(columns[k] for k in names), strict=True))
    return path


def find_table(run_dir: Path, stem: str) -> Path | None:
    """``<run_dir>/<stem>.csv`` or ``.parquet``, whichever exists (CSV first)."""
    for fmt in FORMATS:
        p = run_dir / f"{stem}.{fmt}"
        if p.exists():
            return p
    return None


def read_table(path: Path) -> dict[str, list[str] | NDArray[Any]]:
    """Columns of a CSV or Parquet table; numeric CSV columns become float arrays."""
    if path.suffix == ".parquet":
        if not have_pyarrow():
            raise InputError(f"{path} is Parquet; reading it needs pyarrow")
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        out: dict[str, list[str] | NDArray[Any]] = {}
        for name in table.column_names:
            values = table.column(name).to_pylist()
            is_num = values and isinstance(values[0], int | float)
            out[name] = np.asarray(values, dtype=np.float64) if is_num else values
        return out
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path} is empty") from None
        cols: list[list[str]] = [[] for _ in header]
        for row in reader:
            for c, v in zip(cols, row, strict=False):
                c.append(v)
    result: dict[str, list[str] | NDArray[Any]] = {}
    for name, values in zip(header, cols, strict=True):
        try:
            result[name] = np.asarray(values, dtype=np.float64)
        except ValueError:
            result[name] = values
    return result


def write_queues(recorder: Any, out_dir: Path, fmt: str) -> Path:
    """The queue series of a :class:`sim.metrics.QueueRecorder` as ``queues.<fmt>``."""
    if fmt == "csv":
        path = out_dir / "queues.csv"
        recorder.write_csv(path)
        return path
    lay = recorder.layout
    n_a = lay.n_approaches
    n = recorder.n_rows
    sig = [lay.signal_ids[s] for s in lay.approach_signal]
    return write_table(
        out_dir / "queues",
        {
            "time_s": np.repeat(recorder.times_s[:n], n_a),
            "signal": sig * n,
            "approach": list(lay.approach_ids) * n,
            "halting": recorder.rows[:n].reshape(-1),
        },
        fmt,
    )


# ---------------------------------------------------------------------------------------------
# signal changes


def stage_of(state: str) -> int:
    """0 green (some G/g, no yellow), 1 yellow (any y/Y/u), 2 all-red (neither)."""
    if any(c in YELLOW_CHARS for c in state):
        return 1
    if any(c in GREEN_CHARS for c in state):
        return 0
    return 2


class SignalRecorder:
    """Rows of ``signals.csv``: one per change of a signal's displayed state."""

    def __init__(self, layout: NetworkLayout) -> None:
        self.layout = layout
        self.time_s: list[float] = []
        self.signal: list[int] = []
        self.state: list[str] = []
        self.phase: list[int] = []
        self.stage: list[int] = []
        self.ended: list[str] = []  # why the green just left ended; "" on other rows
        self._last: list[str] = [""] * layout.n_signals
        self._green_of = {
            (int(layout.phase_signal[p]), st): p - int(layout.phase_ptr[layout.phase_signal[p]])
            for p, st in enumerate(layout.phase_states)
        }
        self._last_green = np.zeros(layout.n_signals, dtype=np.int64)

    def record(self, time_s: float, timing: Any) -> None:
        """Signals driven by ``timing`` (:class:`sim.timing.Timing`) whose ``changed`` is set."""
        changed = np.flatnonzero(timing.changed)
        if changed.shape[0] == 0:
            return
        ptr = self.layout.phase_ptr
        for s in changed:
            s = int(s)
            st = timing.state_string(s)
            phase = int(timing.cur_p[s] - ptr[s])
            ended = END_REASONS[int(timing.end_reason[s])]
            self._add(time_s, s, st, phase, int(timing.stage[s]), ended)

    def record_states(self, time_s: float, states: list[str]) -> None:
        """Signals SUMO times itself: ``states[s]`` is the string shown now, for every signal."""
        if states == self._last:
            return
        for s, st in enumerate(states):
            if st == self._last[s]:
                continue
            self._last[s] = st
            stage = stage_of(st)
            green = self._green_of.get((s, st))
            if stage == 0 and green is not None:
                self._last_green[s] = green
            self._add(time_s, s, st, int(self._last_green[s]), stage)

    def _add(
        self, time_s: float, s: int, state: str, phase: int, stage: int, ended: str = ""
    ) -> None:
        self.time_s.append(time_s)
        self.signal.append(s)
        self.state.append(state)
        self.phase.append(phase)
        self.stage.append(stage)
        self.ended.append(ended)

    def __len__(self) -> int:
        return len(self.time_s)

    def write(self, out_dir: Path, fmt: str) -> Path:
        """Write ``signals.<fmt>`` into ``out_dir``."""
        ids = self.layout.signal_ids
        return write_table(
            out_dir / "signals",
            {
                "time_s": [f"{t:g}" for t in self.time_s] if fmt == "csv" else self.time_s,
                "signal": [ids[s] for s in self.signal],
                "state": self.state,
                "phase": self.phase,
                "stage": self.stage,
                "ended": self.ended,
            },
            fmt,
        )
