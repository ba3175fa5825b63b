"""Numba kernels for pedestrians at signals: minimum green, demand, crossing state, push buttons.

All kernels loop over every signal, green or crossing of the run and write into ``out`` arrays
the caller allocates once. Index spaces as in :mod:`sim.people.crossings`; a green phase ``p``
is the layout's global green index, ``stage`` uses :mod:`sim.timing`'s codes (0 green).

Pedestrian walk: a green that begins while pedestrians wait at a crossing it serves lasts at least
``walk_s`` (the walk interval), and never less than the signal's own minimum green. The
pedestrian clearance that follows (the crossing red, its vehicles still green, for at most
``length_m / ped_speed_mps``) is a stage of the timing kernel (``sim.timing``, rule 2), so the
vehicle green lasts walk + clearance whenever people are on the crossing when it ends.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

GREEN = 0
DEFAULT_WALK_S = 7.0
"""Walk interval [s] (MUTCD 4I.06: 7 s, 4 s minimum where few pedestrians are expected)."""
DEFAULT_PED_SPEED_MPS = 1.2
"""Design walking speed for the clearance [m/s] (MUTCD 4I.06: 3.5 ft/s = 1.07 m/s, HCM 1.2)."""


def ped_clear_s(length_m: float, ped_speed_mps: float) -> float:
    """Pedestrian clearance [s] of a crossing of ``length_m`` metres: its length at the design
    walking speed (MUTCD 4E.06)."""
    return length_m / ped_speed_mps


@njit(cache=True)
def phase_ped_min_green_kernel(
    phase_crossing_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_crossing_idx: NDArray[np.int64],  # [nnz]
    waiting_ped: NDArray[np.int32],  # [n_crossings] pedestrians waiting (as sensed)
    walk_s: float,
    out: NDArray[np.float64],  # [n_phases] seconds; 0 where no served crossing has a wait
) -> None:
    """Pedestrian minimum green of each green phase: ``walk_s`` when a crossing it serves has
    waiting pedestrians, else 0."""
    for p in range(out.shape[0]):
        need = 0.0
        for k in range(phase_crossing_ptr[p], phase_crossing_ptr[p + 1]):
            if waiting_ped[phase_crossing_idx[k]] > 0:
                need = walk_s
                break
        out[p] = need


@njit(cache=True)
def green_hold_kernel(
    cur_p: NDArray[np.int64],  # [n_signals] current green (timing state after the step)
    stage: NDArray[np.int8],  # [n_signals] 0 green
    t_stage_s: NDArray[np.float64],  # [n_signals] seconds in the current stage
    changed: NDArray[np.bool_],  # [n_signals] the displayed state changed this step
    min_green_s: NDArray[np.float64],  # [n_signals] the signal's own minimum green
    phase_ped_min_s: NDArray[np.float64],  # [n_phases] from phase_ped_min_green_kernel
    hold_s: NDArray[np.float64],  # [n_signals] in/out: minimum length of the current green
) -> None:
    """Latch, when a green begins (``changed`` with stage green and ``t_stage_s == 0``), its
    minimum length: ``max(min_green_s, phase_ped_min_s[green])``. Other signals keep theirs."""
    for s in range(cur_p.shape[0]):
        if changed[s] and stage[s] == GREEN and t_stage_s[s] <= 1e-9:
            hold_s[s] = max(min_green_s[s], phase_ped_min_s[cur_p[s]])


@njit(cache=True)
def ped_phase_demand_kernel(
    phase_crossing_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_crossing_idx: NDArray[np.int64],  # [nnz]
    waiting_ped: NDArray[np.int32],  # [n_crossings]
    demand: NDArray[np.bool_],  # [n_phases] in/out: vehicle demand, OR-ed with pedestrians
) -> None:
    """A green with a waiting pedestrian at a crossing it serves has demand."""
    for p in range(demand.shape[0]):
        if demand[p]:
            continue
        for k in range(phase_crossing_ptr[p], phase_crossing_ptr[p + 1]):
            if waiting_ped[phase_crossing_idx[k]] > 0:
                demand[p] = True
                break


@njit(cache=True)
def crossing_green_kernel(
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    phase_crossing_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_crossing_idx: NDArray[np.int64],  # [nnz]
    out: NDArray[np.bool_],  # [n_crossings] the crossing shows green now
) -> None:
    """Which crossings the signals' current greens serve (none during yellow or all-red)."""
    out[:] = False
    for s in range(cur_p.shape[0]):
        if stage[s] != GREEN:
            continue
        p = cur_p[s]
        for k in range(phase_crossing_ptr[p], phase_crossing_ptr[p + 1]):
            out[phase_crossing_idx[k]] = True


@njit(cache=True)
def push_button_kernel(
    waiting_ped: NDArray[np.int32],  # [n_crossings] true waiting pedestrians
    crossing_green: NDArray[np.bool_],  # [n_crossings] from crossing_green_kernel
    dt_s: float,
    call: NDArray[np.bool_],  # [n_crossings] in/out: a call is registered
    call_age_s: NDArray[np.float64],  # [n_crossings] in/out: seconds since the call
    sensed_waiting: NDArray[np.int32],  # [n_crossings] out: 1 while a call stands, else 0
    sensed_wait_s: NDArray[np.float64],  # [n_crossings] out: age of the standing call
) -> None:
    """Push buttons: a waiting pedestrian places a call on a red crossing; the call stands (and
    ages) until the crossing shows green, which clears it. The controller sees one waiting
    pedestrian per standing call and its age, never the number of pedestrians."""
    for c in range(call.shape[0]):
        if crossing_green[c]:
            call[c] = False
            call_age_s[c] = 0.0
        else:
            if call[c]:
                call_age_s[c] += dt_s
            elif waiting_ped[c] > 0:
                call[c] = True
                call_age_s[c] = 0.0
        sensed_waiting[c] = 1 if call[c] else 0
        sensed_wait_s[c] = call_age_s[c]


@njit(cache=True)
def phase_ped_release_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    phase_crossing_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_crossing_idx: NDArray[np.int64],  # [nnz]
    waiting_ped: NDArray[np.int32],  # [n_crossings]
    cur_p: NDArray[np.int64],  # [n_signals] current green
    crossing_mark: NDArray[np.bool_],  # [n_crossings] scratch, all False on entry and exit
    out: NDArray[np.float64],  # [n_phases] persons
) -> None:
    """Pedestrians each green would release *additionally*: waiting pedestrians at the crossings
    it serves that the signal's current green does not serve already (0 for the current green)."""
    for s in range(phase_ptr.shape[0] - 1):
        cur = cur_p[s]
        for k in range(phase_crossing_ptr[cur], phase_crossing_ptr[cur + 1]):
            crossing_mark[phase_crossing_idx[k]] = True
        for p in range(phase_ptr[s], phase_ptr[s + 1]):
            total = 0.0
            for k in range(phase_crossing_ptr[p], phase_crossing_ptr[p + 1]):
                c = phase_crossing_idx[k]
                if not crossing_mark[c]:
                    total += waiting_ped[c]
            out[p] = total
        for k in range(phase_crossing_ptr[cur], phase_crossing_ptr[cur + 1]):
            crossing_mark[phase_crossing_idx[k]] = False


@njit(cache=True)
def lane_person_weight_kernel(
    lane_veh: NDArray[np.int32],  # [n_lanes] vehicles on the lane
    lane_persons: NDArray[np.float64],  # [n_lanes] persons on board them (Occupancy)
    car_persons: float,  # persons per passenger car
    out: NDArray[np.float64],  # [n_lanes] persons per vehicle
) -> None:
    """Persons per vehicle of each lane (``car_persons`` on an empty lane), the factor that turns
    a lane's vehicle counts into person counts."""
    for lane in range(out.shape[0]):
        if lane_veh[lane] > 0:
            out[lane] = lane_persons[lane] / lane_veh[lane]
        else:
            out[lane] = car_persons


@njit(cache=True)
def lane_yielding_kernel(
    move_in_lane: NDArray[np.int64],  # [n_moves]
    move_crossing_ptr: NDArray[np.int64],  # [n_moves + 1] CSR: crossings a movement passes
    move_crossing_idx: NDArray[np.int64],  # [nnz]
    ped_on_crossing: NDArray[np.int32],  # [n_crossings] persons on the crossing now
    crossing_green: NDArray[np.bool_],  # [n_crossings]
    out: NDArray[np.bool_],  # [n_lanes] the lane's vehicles are yielding to pedestrians
) -> None:
    """A lane *yields* when one of its movements passes a crossing that shows red with people
    still on it: its halting vehicles wait for people finishing their crossing and go as soon
    as they are across, so they are discharging, not an empty or blocked approach. People
    walking on a green crossing are not counted: turning vehicles waiting for a gap in that
    stream are like a permissive left waiting for a gap in oncoming traffic, and once their
    green ends the pedestrian clearance (``sim.timing`` stage 3) closes the crossing first,
    their green still on, so they leave as the last people are across."""
    out[:] = False
    for m in range(move_in_lane.shape[0]):
        for k in range(move_crossing_ptr[m], move_crossing_ptr[m + 1]):
            c = move_crossing_idx[k]
            if ped_on_crossing[c] > 0 and not crossing_green[c]:
                out[move_in_lane[m]] = True
                break


@njit(cache=True)
def yielding_moving_kernel(
    lane_yielding: NDArray[np.bool_],  # [n_lanes] from lane_yielding_kernel
    queue_veh: NDArray[np.int32],  # [n_lanes] halting vehicles as sensed
    moving_veh: NDArray[np.int32],  # [n_lanes] in/out: moving vehicles in the gap range
) -> None:
    """A yielding lane with a queue is discharging: at least one of its vehicles counts as
    moving (``sim.state``), so a gap-out rule does not end its green as for an empty lane."""
    for lane in range(moving_veh.shape[0]):
        if lane_yielding[lane] and queue_veh[lane] > 0 and moving_veh[lane] < 1:
            moving_veh[lane] = 1


@njit(cache=True)
def lane_car_units_kernel(
    lane_veh: NDArray[np.int32],  # [n_lanes] vehicles on the lane
    lane_persons: NDArray[np.float64],  # [n_lanes] persons on board them (Occupancy)
    car_persons: float,  # persons per passenger car
    out: NDArray[np.float64],  # [n_lanes] persons per vehicle in passenger-car units
) -> None:
    """Persons per vehicle relative to a passenger car: exactly 1 on a lane of cars only (and on
    an empty lane), ``1 + extra persons / (vehicles x car persons)`` where other vehicles carry
    more (or fewer) than a car. ``lane_persons`` counts cars as ``lane_veh * car_persons``
    (:class:`~sim.people.sensing.Occupancy`), so the difference is exactly 0 without them."""
    for lane in range(out.shape[0]):
        cars = lane_veh[lane] * car_persons
        if lane_veh[lane] > 0 and cars > 0.0:
            out[lane] = 1.0 + (lane_persons[lane] - cars) / cars
        else:
            out[lane] = 1.0
