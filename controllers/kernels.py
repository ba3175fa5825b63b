"""Numba kernels shared by controllers. All work on every signal at once.

Conventions: lane arrays are indexed like ``layout.lane_ids``; phase rows are CSR
(``phase_lane_ptr`` [n_phases + 1], ``phase_lane_idx`` [nnz]); outputs are written into ``out``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray


@njit(cache=True)
def lane_demand(
    queue_veh: NDArray[np.int32], near_veh: NDArray[np.int32], out: NDArray[np.float64]
) -> None:
    """Vehicles a lane needs green for: ``max(queue, near)`` (halting on the lane, or within
    the detection range, whichever is larger), shape [n_lanes]."""
    for i in range(out.shape[0]):
        q = queue_veh[i]
        n = near_veh[i]
        out[i] = q if q > n else n


@njit(cache=True)
def phase_sum(
    ptr: NDArray[np.int64],
    idx: NDArray[np.int64],
    values: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """``out[p] = sum(values[idx[ptr[p]:ptr[p+1]]])`` for every phase, shape [n_phases]."""
    for p in range(out.shape[0]):
        acc = 0.0
        for k in range(ptr[p], ptr[p + 1]):
            acc += values[idx[k]]
        out[p] = acc


@njit(cache=True)
def mask_blocked_lanes(
    move_in_lane: NDArray[np.int64],  # [n_moves]
    move_out_lane: NDArray[np.int64],  # [n_moves]
    queue_veh: NDArray[np.int32],  # [n_lanes] halting vehicles
    capacity_veh: NDArray[np.float64],  # [n_lanes]
    full_ratio: float,
    free_moves: NDArray[np.int64],  # [n_lanes] scratch
    lane_need: NDArray[np.float64],  # [n_lanes] in/out: set to 0 where every exit is full
) -> None:
    """Spillback guard: a lane whose every movement leads into a full exit lane cannot release
    anyone; its need becomes 0. An exit is full with ``max(1, floor(full_ratio * capacity))``
    halting vehicles (one stopped car fills a 12 m connector between two junctions)."""
    free_moves[:] = 0
    for m in range(move_in_lane.shape[0]):
        out = move_out_lane[m]
        full = max(1.0, np.floor(full_ratio * capacity_veh[out]))
        if queue_veh[out] < full:
            free_moves[move_in_lane[m]] += 1
    for m in range(move_in_lane.shape[0]):
        lane = move_in_lane[m]
        if free_moves[lane] == 0:
            lane_need[lane] = 0.0
