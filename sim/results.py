"""Result files beside ``summary.json``: signal changes, Parquet output, and config files.

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
    stage   0 green, 1 yellow, 2 all-red
    ended   on the row where a signal leaves a green, why that green ended (``gap-out``,
            ``max-out``, ``cut``, ``starvation``, ``fallback``; ``sim.timing.END_REASONS``);
            empty otherwise, and always for signals SUMO times itself
Signals that lightwatch drives are recorded from the timing kernel, only where ``changed`` is set.
Signals SUMO times itself (``fixed``, SUMO's actuated programs) are read once per step with
``getRedYellowGreenState`` (one call per signal; with the ``traci`` backend through a
subscription), and a row is written only when the string differs from the previous step.

Config files (``--save-config FILE.toml`` / ``--config FILE.toml``) are TOML whose keys equal the
long command-line flags without ``--`` (``min-green-s = 7.0``, ``[param]`` for ``-p KEY=VALUE``).
Flags given on the command line override the file; unknown keys are an input error. ``--out``,
``--gui`` and the config flags themselves are never saved, so re-running a saved configuration
does not overwrite the results it came from.
"""

from __future__ import annotations

import csv
import importlib.util
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import tomli_w
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import GREEN_CHARS, YELLOW_CHARS, NetworkLayout
from sim.timing import END_REASONS

FORMATS = ("csv", "parquet")
QUEUE_COLUMNS = ("time_s", "signal", "approach", "halting")
SIGNAL_COLUMNS = ("time_s", "signal", "state", "phase", "stage", "ended")
NOT_SAVED = frozenset({"out", "gui", "config", "save_config", "plot"})


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


# ---------------------------------------------------------------------------------------------
# config files: keys equal the command-line flags


def _flag(param: click.Parameter) -> str | None:
    """Config key of a parameter: the long flag without ``--`` (an argument: its name with ``-``);
    ``None`` for parameters that are not saved."""
    if param.name is None or param.name in NOT_SAVED:
        return None
    if isinstance(param, click.Argument):
        return param.name.replace("_", "-")
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0][2:] if longs else None


def _many(param: click.Parameter) -> bool:
    return bool(getattr(param, "multiple", False)) or param.nargs == -1


def _to_toml(param: click.Parameter, value: Any) -> Any:
    if param.name == "params":
        out = {}
        for item in value or ():
            key, _, v = str(item).partition("=")
            try:
                out[key.strip()] = float(v)
            except ValueError:
                out[key.strip()] = v.strip()
        return out
    if isinstance(value, tuple):
        return list(value)
    return value


def _from_toml(param: click.Parameter, value: Any, path: Path) -> Any:
    flag = _flag(param)
    if param.name == "params":
        if not isinstance(value, dict):
            raise InputError(f"{path}: 'param' must be a table of KEY = VALUE")
        return [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()]
    if isinstance(value, dict):
        raise InputError(f"{path}: {flag!r} must be a value, not a table")
    if _many(param):
        if isinstance(value, str) and param.nargs == -1:
            return value.split()
        return [str(v) for v in value] if isinstance(value, list) else [value]
    if isinstance(value, list):
        return ",".join(str(v) for v in value)  # --seeds = [1, 2] means "1,2"
    return value


def config_values(ctx: click.Context, resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The command's options as ``{flag: value}`` (``None`` left out), with ``resolved`` applied.

    ``resolved`` maps parameter names (``end_s``) to values that replace ``None`` defaults, such
    as the scenario's time window.
    """
    resolved = resolved or {}
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        flag = _flag(param)
        if flag is None or param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if value is None:
            value = resolved.get(param.name)
        value = _to_toml(param, value)
        if value is None or (isinstance(value, str | list | dict) and not value):
            continue  # empty: the default
        out[flag] = value
    return out


def save_resolved_config(
    path: str | Path | None, command: str, begin_s: float, end_s: float
) -> None:
    """``--save-config``: write the current command's options (window resolved) to ``path``."""
    if not path:
        return
    ctx = click.get_current_context()
    values = config_values(ctx, {"begin_s": begin_s, "end_s": end_s})
    from sim.scenario import bundled_scenarios

    bundled = bundled_scenarios()
    for key in ("scenario", "net-file"):  # paths given relative to here: make them absolute
        v = values.get(key)
        if isinstance(v, str) and v not in bundled and Path(v).exists():
            values[key] = str(Path(v).resolve())
    routes = values.get("route-files")
    if isinstance(routes, str):
        values["route-files"] = ",".join(
            str(Path(r.strip()).resolve()) if Path(r.strip()).exists() else r
            for r in routes.split(",")
        )
    save_config(Path(path), values, command)
    click.echo(f"config: {Path(path).resolve()}", err=True)


def save_config(path: Path, values: dict[str, Any], command: str) -> None:
    """Write ``values`` (from :func:`config_values`) as TOML with a short header."""
    head = (
        f"# lightwatch {command} configuration: keys equal the command-line flags.\n"
        f"# Re-run with: lightwatch {command} --config {path.name}\n"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(head + tomli_w.dumps(values), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the config file {path}: {exc.strerror}") from None


def load_config(path: Path, command: click.Command) -> dict[str, Any]:
    """Read a TOML config for ``command`` as click's ``default_map`` (parameter name → value)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read the config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    by_flag = {f: p for p in command.params if (f := _flag(p)) is not None}
    unknown = sorted(set(data) - set(by_flag))
    if unknown:
        raise InputError(
            f"{path}: unknown key(s) {', '.join(unknown)} for 'lightwatch {command.name}'"
        )
    return {by_flag[k].name: _from_toml(by_flag[k], v, path) for k, v in data.items()}  # type: ignore[misc]


def _load_callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    defaults = load_config(Path(value), ctx.command)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--config FILE.toml`` (read first; flags override it) and ``--save-config FILE.toml``."""
    f = click.option(
        "--save-config",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write the resolved configuration to this TOML file (keys = flags).",
    )(f)
    f = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        default=None,
        is_eager=True,
        expose_value=False,
        callback=_load_callback,
        help="Read options from a TOML file written by --save-config; flags given here win.",
    )(f)
    return f
