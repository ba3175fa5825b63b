"""Slow pure-Python twins of the peer controllers' numba kernels.

Each twin takes the same arguments as its kernel (same names, same order) and writes the same
outputs, so a test can call both on copies of one input and compare. Written for reading: one
signal at a time, Python lists and sets, the rule spelled out as in the controller's docstring.

Kernels covered:
    controllers.max_pressure.pressure_kernel          -> pressure_ref
    controllers.max_pressure.periodic_argmax_kernel   -> periodic_argmax_ref
    controllers.sotl.sotl_kernel                      -> sotl_ref
    controllers.webster.webster_plan_kernel           -> webster_plan_ref
    controllers.webster.arrival_kernel                -> arrival_ref
    controllers.webster.cyclic_plan_kernel            -> cyclic_plan_ref

``CONTROLLER_TWINS`` (end of file) lists them, with the shared twins of tests/reference.py, by
controller name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from reference import (
    count_ref,
    holding_lanes_ref,
    lane_demand_ref,
    mask_blocked_lanes_ref,
    phase_sum_ref,
)

GREEN, YELLOW, ALL_RED = 0, 1, 2
EPS = 1e-9


def rows(ptr: NDArray[np.int64], idx: NDArray[np.int64]) -> list[list[int]]:
    """CSR rows as Python lists."""
    return [[int(x) for x in idx[ptr[i] : ptr[i + 1]]] for i in range(len(ptr) - 1)]


def pressure_ref(
    phase_lane_ptr, phase_lane_idx, phase_out_ptr, phase_out_idx, queue_veh, out
) -> None:
    """Queue on the lanes a phase serves minus queue on the lanes it feeds."""
    ins = rows(phase_lane_ptr, phase_lane_idx)
    outs = rows(phase_out_ptr, phase_out_idx)
    for p in range(len(ins)):
        out[p] = float(sum(int(queue_veh[x]) for x in ins[p])) - float(
            sum(int(queue_veh[x]) for x in outs[p])
        )


def pressure_from_moves(layout, queue_veh) -> list[float]:
    """Pressure straight from the movements: distinct in-lanes minus distinct out-lanes."""
    result = []
    for p in range(layout.n_phases):
        moves = layout.phase_move_idx[layout.phase_move_ptr[p] : layout.phase_move_ptr[p + 1]]
        ins = {int(layout.move_in_lane[m]) for m in moves}
        outs = {int(layout.move_out_lane[m]) for m in moves}
        result.append(float(sum(queue_veh[x] for x in ins) - sum(queue_veh[x] for x in outs)))
    return result


def periodic_argmax_ref(
    phase_ptr, score, cur_p, stage, t_stage_s, min_green_s, since_s, period_s, dt_s, out
) -> None:
    """Every ``period_s`` after min green, ask for the best score; ties keep, then lowest index."""
    for s in range(len(cur_p)):
        since_s[s] += dt_s
        out[s] = -1
        green_long_enough = stage[s] == GREEN and t_stage_s[s] >= min_green_s[s] - EPS
        if not green_long_enough or since_s[s] < period_s - EPS:
            continue
        since_s[s] = 0.0
        own = list(range(int(phase_ptr[s]), int(phase_ptr[s + 1])))
        top = max(score[p] for p in own)
        if score[cur_p[s]] >= top:
            continue
        out[s] = min(p for p in own if score[p] == top)


def sotl_ref(
    phase_ptr,
    phase_need,
    phase_near,
    signal_need,
    cur_p,
    stage,
    t_stage_s,
    min_green_s,
    dt_s,
    theta_veh_s,
    mu_veh,
    kappa_veh_s,
    last_p,
    out,
) -> None:
    """Gershenson's rules, one signal at a time."""
    for s in range(len(cur_p)):
        out[s] = -1
        if stage[s] != GREEN:
            kappa_veh_s[s], last_p[s] = 0.0, -1
            continue
        cur = int(cur_p[s])
        if last_p[s] != cur:  # a new green: the counter restarts
            kappa_veh_s[s], last_p[s] = 0.0, cur
        waiting_at_red = signal_need[s] - phase_need[cur]
        kappa_veh_s[s] += dt_s * waiting_at_red
        if t_stage_s[s] < min_green_s[s] - EPS:
            continue
        enough_waited = kappa_veh_s[s] >= theta_veh_s - EPS
        green_empty = phase_need[cur] <= 0 and waiting_at_red > 0
        platoon_crossing = 0 < phase_near[cur] <= mu_veh
        if not (enough_waited or green_empty) or platoon_crossing:
            continue
        own = list(range(int(phase_ptr[s]), int(phase_ptr[s + 1])))
        k = own.index(cur)
        following = own[k + 1 :] + own[:k]
        with_demand = [p for p in following if phase_need[p] > 0]
        if with_demand:
            out[s] = with_demand[0]


def webster_plan_ref(
    phase_ptr,
    phase_lane_ptr,
    phase_lane_idx,
    lane_flow_veh_h,
    lane_always,
    saturation_veh_h,
    lost_s,
    min_green_s,
    min_cycle_s,
    max_cycle_s,
    ratio,
    green_s,
    cycle_s,
) -> None:
    """Webster's cycle and proportional splits, one signal at a time."""
    lanes_of = rows(phase_lane_ptr, phase_lane_idx)
    for s in range(len(phase_ptr) - 1):
        own = list(range(int(phase_ptr[s]), int(phase_ptr[s + 1])))
        for p in own:
            counted = [lane_flow_veh_h[x] / saturation_veh_h for x in lanes_of[p]]
            counted = [r for x, r in zip(lanes_of[p], counted, strict=True) if not lane_always[x]]
            ratio[p] = max(counted, default=0.0)
        y_total = sum(ratio[p] for p in own)
        saturated = y_total >= 1.0 - EPS
        cycle = max_cycle_s if saturated else (1.5 * lost_s[s] + 5.0) / (1.0 - y_total)
        cycle = float(np.clip(cycle, min_cycle_s, max_cycle_s))
        cycle_s[s] = cycle
        effective = max(cycle - lost_s[s], 0.0)
        for p in own:
            split = effective * ratio[p] / y_total if y_total > 0 else effective / len(own)
            green_s[p] = max(split, min_green_s[s])


def arrival_ref(
    phase_lane_ptr,
    phase_lane_idx,
    lane_signal,
    lane_always,
    cur_p,
    stage,
    lane_veh,
    prev_veh,
    dt_s,
    served,
    arrived_veh,
    red_s,
) -> None:
    """Arrivals counted on lanes that were red (their signal green elsewhere, or all-red)."""
    lanes_of = rows(phase_lane_ptr, phase_lane_idx)
    green_lanes = set()
    for s in range(len(cur_p)):
        if stage[s] == GREEN:
            green_lanes.update(lanes_of[int(cur_p[s])])
    served[:] = False
    for x in green_lanes:
        served[x] = True
    for lane in range(len(lane_signal)):
        s = lane_signal[lane]
        counted = s >= 0 and not lane_always[lane]
        red = counted and (stage[s] == ALL_RED or (stage[s] == GREEN and lane not in green_lanes))
        if red:
            arrived_veh[lane] += int(lane_veh[lane]) - int(prev_veh[lane])
            red_s[lane] += dt_s
        prev_veh[lane] = lane_veh[lane]


def cyclic_plan_ref(phase_ptr, green_s, cur_p, stage, t_stage_s, out) -> None:
    """The next green in program order once the current one has had its planned time."""
    for s in range(len(cur_p)):
        out[s] = -1
        own = list(range(int(phase_ptr[s]), int(phase_ptr[s + 1])))
        cur = int(cur_p[s])
        if len(own) > 1 and stage[s] == GREEN and t_stage_s[s] >= green_s[cur] - EPS:
            out[s] = own[(own.index(cur) + 1) % len(own)]


# --------------------------------------------------------------------------------------------
# twins by controller name

CONTROLLER_TWINS: dict[str, dict[str, Callable[..., Any]]] = {
    "count": {
        "count_kernel": count_ref,
        "holding_lanes_kernel": holding_lanes_ref,
        "lane_demand": lane_demand_ref,
        "mask_blocked_lanes": mask_blocked_lanes_ref,
    },
    "greedy": {
        "lane_demand": lane_demand_ref,
        "phase_sum": phase_sum_ref,
        "periodic_argmax_kernel": periodic_argmax_ref,
    },
    "max-pressure": {
        "pressure_kernel": pressure_ref,
        "periodic_argmax_kernel": periodic_argmax_ref,
    },
    "sotl": {"sotl_kernel": sotl_ref, "lane_demand": lane_demand_ref, "phase_sum": phase_sum_ref},
    "webster": {
        "webster_plan_kernel": webster_plan_ref,
        "arrival_kernel": arrival_ref,
        "cyclic_plan_kernel": cyclic_plan_ref,
    },
}
"""Every controller lightwatch drives, by registered name: ``{kernel name: twin}`` for the numba
kernels its module defines or imports. A new controller adds its entry here (and a test in
tests/test_peers.py that compares each kernel with its twin); ``test_every_controller_has_twins``
fails until it does."""


def twin_pair(controller: str, kernel: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(kernel, twin) of ``controller`` (registered name), the kernel looked up in the module
    that defines the controller's class."""
    import controllers

    module = sys.modules[controllers.get(controller).__module__]
    return getattr(module, kernel), CONTROLLER_TWINS[controller][kernel]
