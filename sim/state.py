"""Per-step traffic state, split by who may see it.

:class:`SensedState` is what the detectors report, and the *only* thing a controller gets
(``Controller.decide(sensed, timing)``). It holds no ground truth: a controller cannot read how
many vehicles really halt on a lane, only what its sensing mode makes visible.

:class:`TrueCounts` is what SUMO knows about every lane. Only the runner, the metrics
(``sim.metrics.QueueRecorder``) and the reliability checks (``sim.faults``: gridlock watch,
longest red wait) read it; it is never passed to a controller.

Both are preallocated numpy arrays that ``sim.backend.Backend.read`` fills once per step. Lane
arrays are indexed like ``layout.lane_ids`` (incoming lanes first, then outgoing-only lanes).

What the sensed arrays hold (``--sensing``; the detectors are written by ``sim.sensing``):
    ``queue_veh``   ideal: halting vehicles on the whole lane, or on the lane-area detector where
                    it reaches further upstream (short lanes); detectors: halting vehicles on the
                    detector of ``--detector-length-m``. Outgoing-only lanes: ideal, the lane's
                    halting vehicles (max-pressure and the spillback guard read them); detectors,
                    0 (no detector there).
    ``near_veh``    vehicles on the detector (ideal: of ``--detection-range-m``).
    ``moving_veh``  vehicles that are not halting within the gap range of the stop line (ideal:
                    a second detector of ``--gap-range-m``; detectors: the one detector). Only
                    ``count`` reads it (``Controller.reads_moving``); for the other controllers
                    ideal sensing writes no gap detectors and the array holds the moving vehicles
                    of the detection range instead. It is read only on the lanes the next decision
                    looks at (``Controller.moving_lanes``; for ``count`` the lanes of greens past
                    min green) and is 0 on the others, except while detector faults are simulated
                    (a stuck reading freezes whatever it first sees, so every lane is read).
    ``suspect_lane`` the lane's detector seems silent or stuck (``sim.faults``); the runner then
                    masks its readings to 0.
Simulated detector faults (``--fail-detectors``) change only the sensed arrays.

People (``sim.people``; filled by ``PeopleAtSignals.sense`` when the run has crossings at its
signals or vehicles other than passenger cars, else left at their neutral values):
    ``lane_person_weight`` persons per vehicle on the lane in passenger-car units (occupants per
                    vehicle / ``--occupancy`` of a car): 1 for cars, about 31 for a lane holding
                    one bus (40 / 1.3); 1 everywhere without people.
    ``phase_ped_release`` pedestrians waiting at the crossings a green serves that the signal's
                    current green does not serve already (``--sensing detectors``: 1 per standing
                    push-button call); 0 without crossings.
    ``lane_yielding`` one of the lane's movements passes a crossing that shows red with
                    people still on it. Its halting vehicles wait for people finishing their
                    crossing: they are *discharging*, not an empty or blocked approach, so the
                    runner counts one of them as moving (``moving_veh`` at least 1 on a yielding
                    lane with a queue); gap-out rules then hold the green as for a moving queue.
                    People walking on a green crossing do not count (a gap to wait for).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.layout import NetworkLayout

VEHICLE_SPACE_M = 7.5  # jam spacing used to turn a lane length into a capacity


@dataclass(slots=True, eq=False)
class SensedState:
    """What the detectors report this step: the controller's whole view (module docstring)."""

    time_s: float  # simulated time of the step [s]
    queue_veh: NDArray[np.int32]  # [n_lanes] halting vehicles as sensed
    near_veh: NDArray[np.int32]  # [n_lanes] vehicles within the detection range as sensed
    moving_veh: NDArray[np.int32]  # [n_lanes] vehicles not halting within the gap range
    capacity_veh: NDArray[np.float64]  # [n_lanes] static: lane length / 7.5 m, at least 1
    # [n_lanes] the lane's detector seems silent or stuck (sim/faults.py); all False by default
    suspect_lane: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    # people (module docstring); neutral values unless the run has people
    lane_person_weight: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    lane_yielding: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    phase_ped_release: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = self.queue_veh.shape
        if self.suspect_lane.shape != n:
            self.suspect_lane = np.zeros(n, dtype=np.bool_)
        if self.lane_person_weight.shape != n:
            self.lane_person_weight = np.ones(n)
        if self.lane_yielding.shape != n:
            self.lane_yielding = np.zeros(n, dtype=np.bool_)

    def with_phases(self, n_phases: int) -> SensedState:
        """Size ``phase_ped_release`` [n_phases] (zeros) when it is not; returns ``self``."""
        if self.phase_ped_release.shape != (n_phases,):
            self.phase_ped_release = np.zeros(n_phases)
        return self

    @classmethod
    def empty(cls, layout: NetworkLayout) -> SensedState:
        """Zeroed sensed state for ``layout``; capacities from the lane lengths."""
        n = layout.n_lanes
        return cls(
            time_s=0.0,
            queue_veh=np.zeros(n, dtype=np.int32),
            near_veh=np.zeros(n, dtype=np.int32),
            moving_veh=np.zeros(n, dtype=np.int32),
            capacity_veh=np.maximum(layout.lane_length_m / VEHICLE_SPACE_M, 1.0),
        ).with_phases(layout.n_phases)


@dataclass(slots=True, eq=False)
class TrueCounts:
    """Ground truth per lane from SUMO, for metrics and reliability checks only."""

    halting_veh: NDArray[np.int32]  # [n_lanes] vehicles below 0.1 m/s on the lane
    lane_veh: NDArray[np.int32]  # [n_lanes] vehicles on the lane (refreshed when sampled)

    @classmethod
    def empty(cls, layout: NetworkLayout) -> TrueCounts:
        n = layout.n_lanes
        return cls(halting_veh=np.zeros(n, dtype=np.int32), lane_veh=np.zeros(n, dtype=np.int32))
