"""Metrics: queue recording during a run and the summary computed from SUMO's outputs.

Definitions (all vehicles of the window count, unfinished ones included):
    delay_s          mean of ``timeLoss + departDelay`` over every vehicle; a vehicle never
                     inserted counts ``end - scheduled depart`` (RESCO's definition)
    trip_time_s      mean ``duration`` of inserted vehicles (time so far for unfinished ones)
    waiting_time_s   mean ``waitingTime`` (time below 0.1 m/s) of inserted vehicles
    throughput_veh_h vehicles arrived per simulated hour
    queue_mean_veh   halting vehicles per controlled approach, mean over steps and approaches
    queue_max_veh    largest halting count on one approach at any step
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.timing import _EPS


@njit(cache=True)
def approach_sum_kernel(
    lane_approach: NDArray[np.int64],  # [n_lanes], -1 for lanes that are no approach
    halting_veh: NDArray[np.int32],  # [n_lanes]
    out: NDArray[np.int32],  # [n_approaches]
) -> None:
    """Halting vehicles per approach."""
    out[:] = 0
    for lane in range(lane_approach.shape[0]):
        a = lane_approach[lane]
        if a >= 0:
            out[a] += halting_veh[lane]


class QueueRecorder:
    """Halting vehicles per approach: statistics every step, a time series every interval."""

    def __init__(
        self, layout: NetworkLayout, begin_s: float, end_s: float, interval_s: float
    ) -> None:
        self.layout = layout
        self.interval_s = float(interval_s)
        n_rows = int(np.ceil((end_s - begin_s) / self.interval_s)) + 2
        self.times_s = np.zeros(n_rows)
        self.rows = np.zeros((n_rows, layout.n_approaches), dtype=np.int32)
        self.n_rows = 0
        self._now = np.zeros(layout.n_approaches, dtype=np.int32)
        self._next_s = begin_s
        self.total = 0.0
        self.n_steps = 0
        self.max = 0

    def record(self, time_s: float, halting_veh: NDArray[np.int32]) -> None:
        approach_sum_kernel(self.layout.lane_approach, halting_veh, self._now)
        self.n_steps += 1
        if self._now.shape[0]:
            self.total += float(self._now.sum())
            self.max = max(self.max, int(self._now.max()))
        if time_s >= self._next_s - _EPS and self.n_rows < self.rows.shape[0]:
            self.times_s[self.n_rows] = time_s
            self.rows[self.n_rows] = self._now
            self.n_rows += 1
            self._next_s += self.interval_s

    def queue_mean_veh(self) -> float:
        n = self.n_steps * self.layout.n_approaches
        return self.total / n if n else 0.0

    def write_csv(self, path: Path) -> None:
        """Long format: ``time_s,signal,approach,halting``."""
        lay = self.layout
        sig = [lay.signal_ids[s] for s in lay.approach_signal]
        with path.open("w", encoding="utf-8") as fh:
            fh.write("time_s,signal,approach,halting\n")
            for r in range(self.n_rows):
                t = f"{self.times_s[r]:g}"
                row = self.rows[r]
                fh.writelines(
                    f"{t},{sig[a]},{lay.approach_ids[a]},{row[a]}\n" for a in range(len(sig))
                )


class Trip(NamedTuple):
    """One ``<tripinfo>`` of SUMO's tripinfo output (written with unfinished and undeparted
    vehicles); times in seconds, -1 where SUMO writes none."""

    depart_s: float  # -1: never inserted
    depart_delay_s: float
    time_loss_s: float
    duration_s: float
    waiting_time_s: float
    arrival_s: float  # -1: still running at the end

    @property
    def inserted(self) -> bool:
        return self.depart_s >= 0

    @property
    def delay_s(self) -> float:
        """``timeLoss + departDelay``; ``departDelay`` alone for a vehicle never inserted."""
        if self.inserted:
            return self.time_loss_s + self.depart_delay_s
        return self.depart_delay_s


def read_trips(tripinfo: Path) -> Iterator[Trip]:
    """Stream the vehicles of a tripinfo file (the one parser of it; ``ET.ParseError`` or
    ``OSError`` for a broken or missing file)."""
    for _, el in ET.iterparse(tripinfo, events=("end",)):
        if el.tag != "tripinfo":
            continue
        yield Trip(
            depart_s=float(el.get("depart", "-1")),
            depart_delay_s=float(el.get("departDelay", "0")),
            time_loss_s=float(el.get("timeLoss", "0")),
            duration_s=float(el.get("duration", "0")),
            waiting_time_s=float(el.get("waitingTime", "0")),
            arrival_s=float(el.get("arrival", "-1")),
        )
        el.clear()


def read_delays(tripinfo: Path) -> NDArray[np.float64]:
    """Delay of every vehicle (:attr:`Trip.delay_s`) [s], shape [n_vehicles]."""
    if not tripinfo.exists():
        raise InputError(f"{tripinfo} not found (the delay plot needs SUMO's tripinfo)")
    return np.asarray([t.delay_s for t in read_trips(tripinfo)], dtype=np.float64)


def tripinfo_metrics(tripinfo: Path, begin_s: float, end_s: float) -> dict[str, float]:
    """Vehicle metrics (module docstring) from a tripinfo file written with unfinished and
    undeparted vehicles."""
    delay = trip = wait = 0.0
    n_all = n_inserted = n_arrived = 0
    for t in read_trips(tripinfo):
        n_all += 1
        delay += t.delay_s
        if t.inserted:
            n_inserted += 1
            trip += t.duration_s
            wait += t.waiting_time_s
            if t.arrival_s >= 0:
                n_arrived += 1
    hours = (end_s - begin_s) / 3600.0
    return {
        "delay_s": delay / n_all if n_all else 0.0,
        "trip_time_s": trip / n_inserted if n_inserted else 0.0,
        "waiting_time_s": wait / n_inserted if n_inserted else 0.0,
        "throughput_veh_h": n_arrived / hours if hours > 0 else 0.0,
        "arrived": n_arrived,
        "inserted": n_inserted,
        "not_inserted": n_all - n_inserted,
    }


def statistics_metrics(statistic: Path) -> dict[str, int]:
    """Teleports and vehicles still running, from SUMO's statistic output."""
    root = ET.parse(statistic).getroot()
    tele = root.find("teleports")
    veh = root.find("vehicles")
    return {
        "teleports": int(tele.get("total", "0")) if tele is not None else 0,
        "running": int(veh.get("running", "0")) if veh is not None else 0,
    }
