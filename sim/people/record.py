"""Pedestrian tables of a run: waiting pedestrians per crossing over time, and every single wait.

``crossings.<fmt>`` (long format, every ``interval_s`` like ``queues.csv``):
    ``time_s, signal, crossing, waiting_ped, wait_s`` - pedestrians waiting to use the crossing
    (lane id) and how long the first of them has waited.
``ped_waits.<fmt>``:
    ``person, signal, crossing, begin_s, wait_s`` - one row per wait of one person at one
    crossing (the data of the pedestrian-wait ECDF).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.people.crossings import CrossingLayout
from sim.results import write_table


class CrossingRecorder:
    """Waiting pedestrians per crossing: a row every ``interval_s`` of simulated time."""

    def __init__(
        self,
        crossings: CrossingLayout,
        signal_ids: Sequence[str],
        begin_s: float,
        end_s: float,
        interval_s: float,
    ) -> None:
        self.crossings = crossings
        self.signal_ids = tuple(signal_ids)
        self.interval_s = float(interval_s)
        n_rows = int(np.ceil((end_s - begin_s) / self.interval_s)) + 2
        self.times_s = np.zeros(n_rows)
        self.waiting = np.zeros((n_rows, crossings.n_crossings), dtype=np.int32)
        self.wait_s = np.zeros((n_rows, crossings.n_crossings))
        self.n_rows = 0
        self._next_s = begin_s

    def record(
        self, time_s: float, waiting_ped: NDArray[np.int32], wait_s: NDArray[np.float64]
    ) -> None:
        """Keep ``waiting_ped`` and ``wait_s`` [n_crossings] when an interval is due."""
        if time_s >= self._next_s - 1e-9 and self.n_rows < self.times_s.shape[0]:
            self.times_s[self.n_rows] = time_s
            self.waiting[self.n_rows] = waiting_ped
            self.wait_s[self.n_rows] = wait_s
            self.n_rows += 1
            self._next_s += self.interval_s

    def write(self, out_dir: Path, fmt: str) -> Path:
        """``crossings.<fmt>`` in long format; returns its path."""
        cl, n, n_c = self.crossings, self.n_rows, self.crossings.n_crossings
        signal = [self.signal_ids[s] for s in cl.crossing_signal]
        return write_table(
            out_dir / "crossings",
            {
                "time_s": [f"{t:g}" for t in np.repeat(self.times_s[:n], n_c)],
                "signal": signal * n,
                "crossing": list(cl.crossing_lane_ids) * n,
                "waiting_ped": self.waiting[:n].reshape(-1).tolist(),
                "wait_s": [f"{w:g}" for w in self.wait_s[:n].reshape(-1)],
            },
            fmt,
        )


def write_waits(
    waits: Sequence[tuple[str, int, float, float]],
    crossings: CrossingLayout,
    signal_ids: Sequence[str],
    out_dir: Path,
    fmt: str,
) -> Path:
    """``ped_waits.<fmt>`` from ``PedSensor.waits`` (call ``PedSensor.finish`` first)."""
    return write_table(
        out_dir / "ped_waits",
        {
            "person": [w[0] for w in waits],
            "signal": [signal_ids[crossings.crossing_signal[w[1]]] for w in waits],
            "crossing": [crossings.crossing_lane_ids[w[1]] for w in waits],
            "begin_s": [f"{w[2]:g}" for w in waits],
            "wait_s": [f"{w[3]:g}" for w in waits],
        },
        fmt,
    )
