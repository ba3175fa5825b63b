"""The ``count`` controller alone: seconds per decision round over many synthetic signals.

Used by ``benchmarks/speed.py`` (row ``kernel``); the layout is a tiling of the conformance
checker's random layouts.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import numpy as np

N_KERNEL_SIGNALS = 10_000


def tile_layout(base: Any, k: int) -> Any:
    """``k`` disjoint copies of a :class:`NetworkLayout` as one layout (incoming lanes first)."""
    from sim.layout import NetworkLayout

    known = {
        "signal_ids", "lane_ids", "n_in_lanes", "lane_length_m", "phase_ptr", "phase_signal",
        "phase_states", "phase_lane_ptr", "phase_lane_idx", "phase_move_ptr", "phase_move_idx",
        "move_in_lane", "move_out_lane", "move_signal", "move_link_index", "needs_clearance",
        "yellow_s", "all_red_s", "program_green_s", "approach_ids", "approach_signal",
        "lane_approach", "ped_links", "ped_foes", "_transition_cache", "_derived",
    }  # fmt: skip
    fields = {f.name for f in dataclasses.fields(NetworkLayout)}
    if fields - known:
        raise SystemExit(f"tile_layout does not know NetworkLayout fields {fields - known}")
    n_s, n_l, n_in = base.n_signals, base.n_lanes, base.n_in_lanes
    n_p, n_m, n_a = base.n_phases, len(base.move_in_lane), len(base.approach_ids)
    n_out = n_l - n_in

    def lane_map(i: int, lanes: np.ndarray) -> np.ndarray:
        lanes = np.asarray(lanes, dtype=np.int64)
        return np.where(lanes < n_in, i * n_in + lanes, k * n_in + i * n_out + (lanes - n_in))

    order = np.empty(n_l * k, dtype=np.int64)  # new lane index -> (copy, old lane)
    for i in range(k):
        order[lane_map(i, np.arange(n_l))] = i * n_l + np.arange(n_l)

    def csr(ptr: np.ndarray, idx: np.ndarray, shift: Any) -> tuple[np.ndarray, np.ndarray]:
        ptrs = [ptr[:-1] + i * ptr[-1] for i in range(k)] + [np.array([k * ptr[-1]])]
        return np.concatenate(ptrs), np.concatenate([shift(i, idx) for i in range(k)])

    def cat(a: np.ndarray, step: int = 0) -> np.ndarray:
        return np.concatenate([a + i * step for i in range(k)])

    lanes_all = [f"{i}_{x}" for i in range(k) for x in base.lane_ids]
    lane_appr = np.concatenate(
        [np.where(base.lane_approach >= 0, base.lane_approach + i * n_a, -1) for i in range(k)]
    )
    pl_ptr, pl_idx = csr(base.phase_lane_ptr, base.phase_lane_idx, lane_map)
    pm_ptr, pm_idx = csr(base.phase_move_ptr, base.phase_move_idx, lambda i, x: x + i * n_m)
    return NetworkLayout(
        signal_ids=tuple(f"{i}_{s}" for i in range(k) for s in base.signal_ids),
        lane_ids=tuple(lanes_all[j] for j in order),
        n_in_lanes=k * n_in,
        lane_length_m=np.tile(base.lane_length_m, k)[order],
        phase_ptr=np.concatenate([base.phase_ptr[:-1] + i * n_p for i in range(k)] + [[k * n_p]]),
        phase_signal=cat(base.phase_signal, n_s),
        phase_states=base.phase_states * k,
        phase_lane_ptr=pl_ptr,
        phase_lane_idx=pl_idx,
        phase_move_ptr=pm_ptr,
        phase_move_idx=pm_idx,
        move_in_lane=np.concatenate([lane_map(i, base.move_in_lane) for i in range(k)]),
        move_out_lane=np.concatenate([lane_map(i, base.move_out_lane) for i in range(k)]),
        move_signal=cat(base.move_signal, n_s),
        move_link_index=cat(base.move_link_index),
        needs_clearance=np.concatenate([base.needs_clearance] * k),
        yellow_s=cat(base.yellow_s),
        all_red_s=cat(base.all_red_s),
        program_green_s=cat(base.program_green_s),
        approach_ids=tuple(f"{i}_{a}" for i in range(k) for a in base.approach_ids),
        approach_signal=cat(base.approach_signal, n_s),
        lane_approach=lane_appr[order],
        ped_links=tuple(base.ped_links) * k if base.ped_links else (),
        ped_foes=tuple(base.ped_foes) * k if base.ped_foes else (),
    )


def kernel_round_s(n_signals: int = N_KERNEL_SIGNALS, rounds: int = 2000) -> tuple[float, int]:
    """Seconds per ``count`` decision round (``Controller.decide``) over ``n_signals`` signals.

    The layout is a tiling of the conformance checker's random layouts; traffic is random and the
    shared timing kernel runs 120 steps first, so the signals are in a mix of stages. Returns
    (median seconds per round, number of signals)."""
    import controllers
    from controllers.check import random_layout, random_traffic
    from sim.state import SensedState
    from sim.timing import Timing, phase_demand_kernel

    rng = np.random.default_rng(1)
    base = random_layout(rng, 20)
    layout = tile_layout(base, n_signals // 20)
    ctl = controllers.create("count")
    ctl.reset(layout, np.random.default_rng(1))
    timing = Timing(layout, type(ctl).timing_defaults, 1.0)
    state = SensedState.empty(layout)
    demand = np.zeros(layout.n_phases, dtype=np.bool_)
    for step in range(120):
        state.time_s = float(step)
        random_traffic(rng, state)
        req = ctl.decide(state, timing)
        phase_demand_kernel(
            layout.phase_lane_ptr, layout.phase_lane_idx, state.queue_veh, state.near_veh, demand
        )
        timing.step(req, demand)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ctl.decide(state, timing)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), layout.n_signals
