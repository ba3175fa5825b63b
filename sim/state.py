"""Per-step traffic state: preallocated numpy arrays the backend fills once per step."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.layout import NetworkLayout

VEHICLE_SPACE_M = 7.5  # jam spacing used to turn a lane length into a capacity


@dataclass(slots=True, eq=False)
class TrafficState:
    """What controllers see each step. Lane arrays are indexed like ``layout.lane_ids``.

    ``queue_veh`` and ``near_veh`` are the controller's sensed view: with ideal sensing the
    halting vehicles on the whole lane and the vehicles within the detection range of the stop
    line; with detector sensing both come from a lane-area detector of the configured length.
    ``moving_veh`` counts the vehicles that are not halting within the (shorter) gap range at
    the stop line (with detector sensing: on the detector): a lane whose queue is being
    released, or that has arrivals close by, has ``moving_veh > 0``. ``halting_veh`` is always the
    true count (for metrics). Outgoing-only lanes have ``near_veh == moving_veh == 0``.
    """

    time_s: float
    queue_veh: NDArray[np.int32]  # [n_lanes] halting vehicles as sensed
    near_veh: NDArray[np.int32]  # [n_lanes] vehicles within the detection range as sensed
    moving_veh: NDArray[np.int32]  # [n_lanes] vehicles not halting within the gap range
    lane_veh: NDArray[np.int32]  # [n_lanes] vehicles on the lane
    halting_veh: NDArray[np.int32]  # [n_lanes] true halting vehicles (speed < 0.1 m/s)
    capacity_veh: NDArray[np.float64]  # [n_lanes] static: lane length / 7.5 m
    # [n_lanes] the lane's detector seems silent or stuck (sim/faults.py); all False by default
    suspect_lane: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    def __post_init__(self) -> None:
        if self.suspect_lane.shape != self.queue_veh.shape:
            self.suspect_lane = np.zeros(self.queue_veh.shape, dtype=np.bool_)

    @classmethod
    def empty(cls, layout: NetworkLayout) -> TrafficState:
        """Zeroed state; ``queue_veh`` is its own array (sensed), never ``halting_veh`` (true)."""
        n = layout.n_lanes
        halting = np.zeros(n, dtype=np.int32)
        return cls(
            time_s=0.0,
            queue_veh=np.zeros(n, dtype=np.int32),
            near_veh=np.zeros(n, dtype=np.int32),
            moving_veh=np.zeros(n, dtype=np.int32),
            lane_veh=np.zeros(n, dtype=np.int32),
            halting_veh=halting,
            capacity_veh=np.maximum(layout.lane_length_m / VEHICLE_SPACE_M, 1.0),
        )
