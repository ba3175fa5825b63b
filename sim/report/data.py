"""What the study tables read: the network's approaches and one run folder's files.

All inputs are result files and the ``.net.xml`` named in the run's manifest; nothing runs SUMO.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import GREEN_CHARS
from sim.report.outputs import (
    ARRIVAL_FILE,
    ARRIVAL_TABLE,
    arrival_events,
    arrival_pos_m,
    lane_edge,
    xml_source,
)
from sim.results import find_table, read_table

VEH_SPACING_M = 7.5
"""Road length one queued vehicle takes [m]: SUMO's default passenger car (5 m) plus its
minimum gap (2.5 m)."""


@dataclass
class NetInfo:
    """Signal-controlled approaches of a network (from its ``.net.xml``)."""

    lane_links: dict[str, dict[str, list[int]]]  # signal → lane → link indices it controls
    lane_length_m: dict[str, float]  # controlled lane → length [m]
    lane_speed_ms: dict[str, float]  # controlled lane → speed limit [m/s]

    def approach_lanes(self, signal: str, approach: str) -> list[str]:
        """Controlled lanes of ``approach`` (an incoming edge id) at ``signal``."""
        return [ln for ln in self.lane_links.get(signal, {}) if lane_edge(ln) == approach]

    def storage_m(self, signal: str, approach: str) -> float:
        """Storage of an approach: the mean length of its controlled lanes [m]."""
        lanes = self.approach_lanes(signal, approach)
        return float(np.mean([self.lane_length_m[ln] for ln in lanes])) if lanes else np.nan

    def served_approaches(self, signal: str, state: str) -> set[str]:
        """Approaches with at least one link green (``G``/``g``) in ``state``."""
        out = set()
        for lane, links in self.lane_links.get(signal, {}).items():
            if any(i < len(state) and state[i] in GREEN_CHARS for i in links):
                out.add(lane_edge(lane))
        return out


def read_net(net_file: Path) -> NetInfo:
    """Controlled lanes, their link indices, lengths and speeds, streamed from ``net_file``."""
    if not net_file.exists():
        raise InputError(f"network file of the results not found: {net_file}")
    links: dict[str, dict[str, list[int]]] = {}
    length: dict[str, float] = {}
    speed: dict[str, float] = {}
    for _, el in ET.iterparse(xml_source(net_file), events=("end",)):
        if el.tag == "lane":
            length[el.get("id", "")] = float(el.get("length", "0"))
            speed[el.get("id", "")] = float(el.get("speed", "13.89"))
        elif el.tag == "connection" and el.get("tl") and el.get("linkIndex") is not None:
            lane = f"{el.get('from')}_{el.get('fromLane')}"
            links.setdefault(el.get("tl", ""), {}).setdefault(lane, []).append(
                int(el.get("linkIndex", "0"))
            )
        el.clear()
    lanes = {ln for per in links.values() for ln in per}
    return NetInfo(
        lane_links=links,
        lane_length_m={ln: length.get(ln, 0.0) for ln in lanes},
        lane_speed_ms={ln: speed.get(ln, 13.89) for ln in lanes},
    )


@dataclass
class SignalLog:
    """The rows of ``signals.csv`` of one signal, in time order."""

    time_s: list[float] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    phase: list[int] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # "" where not recorded

    def state_at(self, t_s: float) -> str | None:
        """State shown at time ``t_s`` (``None`` before the first row)."""
        k = bisect_right(self.time_s, t_s) - 1
        return self.state[k] if k >= 0 else None


def read_signals(run_dir: Path) -> tuple[dict[str, SignalLog], bool]:
    """Signal id → its rows; and whether the file has the ``ended`` column."""
    path = find_table(run_dir, "signals")
    if path is None:
        raise InputError(f"{run_dir} has no signals.csv or signals.parquet")
    cols = read_table(path)
    missing = {"time_s", "signal", "state", "phase", "stage"} - set(cols)
    if missing:
        raise InputError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    has_ended = "ended" in cols
    n = len(cols["signal"])
    ended = [str(v) for v in cols["ended"]] if has_ended else [""] * n
    ended = ["" if v in ("nan", "None") else v for v in ended]
    order = np.argsort(np.asarray(cols["time_s"], dtype=np.float64), kind="stable")
    logs: dict[str, SignalLog] = {}
    for k in order:
        log = logs.setdefault(str(cols["signal"][k]), SignalLog())
        log.time_s.append(float(cols["time_s"][k]))
        log.state.append(str(cols["state"][k]))
        log.phase.append(int(float(cols["phase"][k])))
        log.stage.append(int(float(cols["stage"][k])))
        log.ended.append(ended[k])
    return logs, has_ended


def read_arrivals(run_dir: Path) -> dict[str, NDArray[np.float64]] | None:
    """Lane → times [s] vehicles reached its arrival detector, shape [n]; from ``arrivals.csv``
    (or SUMO's ``arrivals.xml`` where a run was not condensed); ``None`` without either."""
    table = run_dir / ARRIVAL_TABLE
    out: dict[str, list[float]] = {}
    if table.exists():
        with table.open(encoding="utf-8", newline="") as fh:
            events = [(row["time_s"], row["lane"]) for row in csv.DictReader(fh)]
    elif (run_dir / ARRIVAL_FILE).exists():
        events = list(arrival_events(run_dir / ARRIVAL_FILE))
    else:
        return None
    for time_s, lane in events:
        out.setdefault(lane, []).append(float(time_s))
    return {k: np.asarray(v) for k, v in out.items()}


def arrivals_on_green(
    net: NetInfo,
    signal: str,
    approach: str,
    arrivals: dict[str, NDArray[np.float64]],
    log: SignalLog,
    end_s: float,
) -> tuple[int, int]:
    """(arrivals on green, arrivals) of one approach.

    Each detector event is projected to the stop line at the lane's speed limit; the arrival is on
    green when some link of its lane is ``G``/``g`` at that time. Projections past ``end_s`` are
    left out.
    """
    n_green = n_all = 0
    for lane in net.approach_lanes(signal, approach):
        times = arrivals.get(lane)
        if times is None or times.shape[0] == 0:
            continue
        length = net.lane_length_m[lane]
        travel_s = (length - arrival_pos_m(length)) / max(net.lane_speed_ms[lane], 0.1)
        links = net.lane_links[signal][lane]
        for t in times + travel_s:
            if t > end_s:
                continue
            state = log.state_at(float(t))
            if state is None:
                continue
            n_all += 1
            n_green += any(i < len(state) and state[i] in GREEN_CHARS for i in links)
    return n_green, n_all
