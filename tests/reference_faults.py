"""Slow pure-Python twins of the fault, gridlock and fallback kernels.

Written from the documented behaviour (module docstring of ``sim/faults.py`` and each kernel's
docstring), not from the kernels' code, so a kernel that drifts from its documentation shows up.
Each twin takes the kernel's parameters (same names, same order) and writes the same outputs in
place, including scratch arrays the kernel fills.

Kernels covered:
    sim.faults.apply_faults_kernel     -> apply_faults_ref
    sim.faults.suspect_kernel          -> suspect_ref
    sim.faults.mask_kernel             -> mask_ref
    sim.faults.suspect_phase_kernel    -> suspect_phase_ref
    sim.faults.stuck_kernel            -> stuck_ref
    sim.faults.red_wait_kernel         -> red_wait_ref
    sim.timing.fallback_kernel         -> fallback_ref
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from reference import EPS, GREEN

SILENT, STUCK = 0, 1
SUSPECT_NONE, SUSPECT_SOME, SUSPECT_ALL = 0, 1, 2


def _rows(ptr: NDArray[np.int64], idx: NDArray[np.int64]) -> list[list[int]]:
    """CSR rows as Python lists of column indices."""
    return [[int(c) for c in idx[int(ptr[r]) : int(ptr[r + 1])]] for r in range(len(ptr) - 1)]


# --------------------------------------------------------------------------------------------
# sim.faults: detector faults


def apply_faults_ref(
    failed_idx: NDArray[np.int64],
    mode: int,
    frozen: NDArray[np.int32],
    values: NDArray[np.int32],
) -> None:
    """Silent: failed lanes read 0. Stuck: a failed lane reads its true value until that is
    non-zero for the first time; from then on it reads that first non-zero value forever
    (remembered in ``frozen``, -1 while none was seen)."""
    for k, lane in enumerate(int(i) for i in failed_idx):
        if mode == SILENT:
            values[lane] = 0
            continue
        seen = int(frozen[k])
        if seen == -1:
            if int(values[lane]) != 0:
                frozen[k] = values[lane]  # first vehicle seen: this reading sticks
        else:
            values[lane] = seen


# --------------------------------------------------------------------------------------------
# sim.faults: detection of failed detectors


def suspect_ref(
    lane_group: NDArray[np.int64],
    queue_veh: NDArray[np.int32],
    near_veh: NDArray[np.int32],
    dt_s: float,
    suspect_after_s: float,
    last_queue: NDArray[np.int32],
    last_near: NDArray[np.int32],
    unchanged_s: NDArray[np.float64],
    quiet1_s: NDArray[np.float64],
    quiet2_s: NDArray[np.float64],
    suspect: NDArray[np.bool_],
    ever: NDArray[np.bool_],
) -> int:
    """A lane becomes suspect once its reading (queue, near) has been the same for
    ``suspect_after_s`` while another lane of its group changed within that time; it stays suspect
    until its own reading changes. ``quiet1_s``/``quiet2_s`` [n_groups] get the smallest and
    second smallest ``unchanged_s`` of each group (inf when missing). Returns the suspect count."""
    n_in = len(lane_group)
    # 1. how long has each lane's reading been the same?
    for lane in range(n_in):
        reading = (int(queue_veh[lane]), int(near_veh[lane]))
        if reading == (int(last_queue[lane]), int(last_near[lane])):
            unchanged_s[lane] += dt_s
        else:
            unchanged_s[lane] = 0.0
            last_queue[lane], last_near[lane] = reading
    # 2. lanes of each group
    members: dict[int, list[int]] = {}
    for lane in range(n_in):
        members.setdefault(int(lane_group[lane]), []).append(lane)
    for g in range(len(quiet1_s)):
        ages = sorted(float(unchanged_s[lane]) for lane in members.get(g, []))
        quiet1_s[g] = ages[0] if ages else math.inf
        quiet2_s[g] = ages[1] if len(ages) > 1 else math.inf
    # 3. flag
    n_suspect = 0
    for lane in range(n_in):
        others = [float(unchanged_s[o]) for o in members[int(lane_group[lane])] if o != lane]
        traffic_elsewhere = any(age < suspect_after_s for age in others)
        silent_long = unchanged_s[lane] >= suspect_after_s
        if not silent_long:
            suspect[lane] = False
        elif not suspect[lane]:
            suspect[lane] = traffic_elsewhere  # becoming suspect needs traffic elsewhere
        # else: already suspect and still unchanged, it stays suspect
        if suspect[lane]:
            ever[lane] = True
            n_suspect += 1
    return n_suspect


def mask_ref(suspect_lane: NDArray[np.bool_], values: NDArray[np.int32]) -> None:
    """Suspect lanes read 0; others keep their value."""
    for lane in range(len(values)):
        if suspect_lane[lane]:
            values[lane] = 0


def suspect_phase_ref(
    phase_lane_ptr: NDArray[np.int64],
    phase_lane_idx: NDArray[np.int64],
    suspect_lane: NDArray[np.bool_],
    out: NDArray[np.int8],
) -> None:
    """Per phase: 0 when none of its lanes is suspect (also a phase without lanes), 2 when all
    are, 1 otherwise."""
    for p, lanes in enumerate(_rows(phase_lane_ptr, phase_lane_idx)):
        flags = [bool(suspect_lane[lane]) for lane in set(lanes)]
        if not any(flags):
            out[p] = SUSPECT_NONE
        elif all(flags):
            out[p] = SUSPECT_ALL
        else:
            out[p] = SUSPECT_SOME


# --------------------------------------------------------------------------------------------
# sim.faults: gridlock and red waiting


def stuck_ref(lane_veh: NDArray[np.int32], halting_veh: NDArray[np.int32]) -> bool:
    """There are vehicles, and all of them halt."""
    vehicles = sum(int(v) for v in lane_veh)
    halting = sum(int(h) for h in halting_veh)
    return vehicles > 0 and halting == vehicles


def red_wait_ref(
    phase_lane_ptr: NDArray[np.int64],
    phase_lane_idx: NDArray[np.int64],
    cur_p: NDArray[np.int64],
    stage: NDArray[np.int8],
    halting_veh: NDArray[np.int32],
    dt_s: float,
    served: NDArray[np.bool_],
    red_wait_s: NDArray[np.float64],
) -> float:
    """A lane's red wait grows by ``dt_s`` while it holds halting vehicles and no signal shows a
    green (stage 0) serving it; otherwise it is 0. ``served`` [n_lanes] marks the lanes the
    shown greens serve. Returns the largest red wait (0 when none)."""
    rows = _rows(phase_lane_ptr, phase_lane_idx)
    green_lanes: set[int] = set()
    for s in range(len(cur_p)):
        if int(stage[s]) == GREEN:
            green_lanes.update(rows[int(cur_p[s])])
    for lane in range(len(served)):
        served[lane] = lane in green_lanes
    for lane in range(len(red_wait_s)):
        if lane in green_lanes or int(halting_veh[lane]) == 0:
            red_wait_s[lane] = 0.0
        else:
            red_wait_s[lane] += dt_s
    return max([0.0, *(float(w) for w in red_wait_s)])


# --------------------------------------------------------------------------------------------
# sim.timing.fallback_kernel


def fallback_ref(
    request: NDArray[np.int64],
    demand: NDArray[np.bool_],
    dt_s: float,
    phase_ptr: NDArray[np.int64],
    suspect_phase: NDArray[np.int8],
    program_green_s: NDArray[np.float64],
    fixed_wait_s: NDArray[np.float64],
    cur_p: NDArray[np.int64],
    stage: NDArray[np.int8],
    t_stage_s: NDArray[np.float64],
    wait_s: NDArray[np.float64],
    unserved_s: NDArray[np.float64],
    request_out: NDArray[np.int64],
    demand_out: NDArray[np.bool_],
) -> None:
    """Fallback for phases with suspect detectors, one signal at a time.

    ``unserved_s``: seconds since the phase was last shown green, counting this step.
    Recall (suspect 1 or 2): the phase has demand, and its waiting time (before the constrain
    kernel adds this step's ``dt_s``) is at least its unserved time minus ``dt_s``; the signal's
    current phase is left to the constrain kernel. All suspect (2): while green it is held until
    it has been green ``program_green_s`` (this step included), then the request goes to the
    other phase with demand that waited longest (lowest index on ties, -1 when none); while
    another phase is green it is requested once unserved ``fixed_wait_s`` (the most unserved
    such phase, lowest index on ties). During a clearance the request passes unchanged.
    """
    for s in range(len(cur_p)):
        own = range(int(phase_ptr[s]), int(phase_ptr[s + 1]))
        cur = int(cur_p[s])
        green = int(stage[s]) == GREEN
        for p in own:
            unserved_s[p] = 0.0 if (green and p == cur) else unserved_s[p] + dt_s
            on_recall = int(suspect_phase[p]) != SUSPECT_NONE
            demand_out[p] = bool(demand[p]) or on_recall
            if on_recall and p != cur:
                wait_s[p] = max(float(wait_s[p]), float(unserved_s[p]) - dt_s)
        request_out[s] = request[s]
        if not green:
            continue
        others = [p for p in own if p != cur]
        if int(suspect_phase[cur]) == SUSPECT_ALL:
            green_after_step_s = float(t_stage_s[s]) + dt_s
            if green_after_step_s < program_green_s[cur] - EPS:
                request_out[s] = cur  # hold for the program green
            else:
                waiting = [p for p in others if demand_out[p]]
                longest = max((float(wait_s[p]) for p in waiting), default=None)
                request_out[s] = (
                    -1 if longest is None else min(p for p in waiting if wait_s[p] == longest)
                )
            continue
        due = [
            p
            for p in others
            if int(suspect_phase[p]) == SUSPECT_ALL and unserved_s[p] >= fixed_wait_s[p] - EPS
        ]
        if due:
            most = max(float(unserved_s[p]) for p in due)
            request_out[s] = min(p for p in due if unserved_s[p] == most)
