"""``webster``: a fixed-time plan whose cycle and splits come from Webster's formula.

Each signal runs its greens in program order, each for its planned green time, like a fixed-time
controller (the shared timing kernel adds the clearances). The plan of a signal is

    y[p] = max over the lanes l phase p serves of flow[l] / saturation_flow   (critical flow ratio)
    Y    = sum of y[p] over the signal's greens
    L    = n_greens * (yellow_s + all_red_s)                               (lost time per cycle)
    C    = (1.5 L + 5) / (1 - Y), clipped to [min_cycle_s, max_cycle_s]    (max_cycle_s if Y >= 1)
    g[p] = max(min_green_s, (C - L) * y[p] / Y)                            (equal splits if Y = 0)

Lanes that every green of their signal serves (free turns) do not count: they never wait.

Flows: until the first update the signal runs the net's own green times. The controller measures
each incoming lane's arrival flow while the lane is red: there no vehicle leaves it, so the change
in the number of vehicles sensed on the lane (``max(queue_veh, near_veh)``: the halting queue, or
the vehicles within the detection range if more) is the number that arrived (intervals during
yellow are not counted); with ``--sensing detectors`` only what the detectors see counts. Every
``update_s`` the plan is recomputed from the flows measured since the previous update. Flows can
also be given per lane (``Webster(lane_flow_veh_h={lane_id: veh/h})``, Python API only); the plan
is then computed once and never updated.

Assumptions: arrivals at a red lane come from upstream only (lane changes on the approach move
vehicles between its lanes and are counted where they end up); a lane with spillback from its
downstream end shows less arrival than its real demand. No offsets between signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from controllers.base import Controller, register
from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.state import SensedState
from sim.timing import _EPS, ALL_RED, GREEN, Timing, TimingParams


@njit(cache=True)
def webster_plan_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    lane_flow_veh_h: NDArray[np.float64],  # [n_lanes] arrival flow
    lane_always: NDArray[np.bool_],  # [n_lanes] served by every green of its signal
    saturation_veh_h: float,  # saturation flow per lane
    lost_s: NDArray[np.float64],  # [n_signals] lost time per cycle
    min_green_s: NDArray[np.float64],  # [n_signals]
    min_cycle_s: float,
    max_cycle_s: float,
    ratio: NDArray[np.float64],  # [n_phases] out: critical flow ratio y
    green_s: NDArray[np.float64],  # [n_phases] out: planned green
    cycle_s: NDArray[np.float64],  # [n_signals] out: Webster cycle after clipping
) -> None:
    """Webster's cycle and proportional splits for every signal (module docstring)."""
    for s in range(phase_ptr.shape[0] - 1):
        lo = phase_ptr[s]
        hi = phase_ptr[s + 1]
        y_sum = 0.0
        for p in range(lo, hi):
            y = 0.0
            for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
                lane = phase_lane_idx[k]
                if lane_always[lane]:
                    continue
                r = lane_flow_veh_h[lane] / saturation_veh_h
                if r > y:
                    y = r
            ratio[p] = y
            y_sum += y
        lost = lost_s[s]
        c = max_cycle_s if y_sum >= 1.0 - _EPS else (1.5 * lost + 5.0) / (1.0 - y_sum)
        c = min(max(c, min_cycle_s), max_cycle_s)
        cycle_s[s] = c
        effective = max(c - lost, 0.0)
        n = hi - lo
        for p in range(lo, hi):
            g = effective * ratio[p] / y_sum if y_sum > 0.0 else effective / n
            green_s[p] = max(g, min_green_s[s])


@njit(cache=True)
def arrival_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    lane_signal: NDArray[np.int64],  # [n_in_lanes] signal of an incoming lane, -1 none
    lane_always: NDArray[np.bool_],  # [n_lanes]
    cur_p: NDArray[np.int64],  # [n_signals] green shown during the last step
    stage: NDArray[np.int8],  # [n_signals] stage shown during the last step
    lane_veh: NDArray[np.int32],  # [n_lanes] vehicles sensed on each lane now
    prev_veh: NDArray[np.int32],  # [n_lanes] in/out: vehicles one step earlier
    dt_s: float,
    served: NDArray[np.bool_],  # [n_lanes] scratch
    arrived_veh: NDArray[np.float64],  # [n_lanes] in/out: net arrivals counted at red
    red_s: NDArray[np.float64],  # [n_lanes] in/out: seconds counted at red
) -> None:
    """Count arrivals on incoming lanes while they were red during the last step.

    A lane counts when its signal showed a green that does not serve it, or all-red; then the
    change of ``lane_veh`` is arrivals. Lanes served by every green are never counted.
    """
    served[:] = False
    for s in range(cur_p.shape[0]):
        if stage[s] == GREEN:
            p = cur_p[s]
            for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
                served[phase_lane_idx[k]] = True
    for lane in range(lane_signal.shape[0]):
        s = lane_signal[lane]
        if s >= 0 and not lane_always[lane]:
            red = (stage[s] == GREEN and not served[lane]) or stage[s] == ALL_RED
            if red:
                arrived_veh[lane] += lane_veh[lane] - prev_veh[lane]
                red_s[lane] += dt_s
        prev_veh[lane] = lane_veh[lane]


@njit(cache=True)
def cyclic_plan_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    green_s: NDArray[np.float64],  # [n_phases] planned green
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    out: NDArray[np.int64],  # [n_signals] requested phase, -1 keeps
) -> None:
    """Request the next green in program order once the current one has had its planned time."""
    for s in range(out.shape[0]):
        out[s] = -1
        lo = phase_ptr[s]
        n = phase_ptr[s + 1] - lo
        if n < 2 or stage[s] != GREEN:
            continue
        cur = cur_p[s]
        if t_stage_s[s] >= green_s[cur] - _EPS:
            out[s] = lo + (cur - lo + 1) % n


def lane_rows(layout: NetworkLayout) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per incoming lane: its signal (-1 when no green serves it) [n_in_lanes], and whether every
    green of that signal serves it [n_lanes]."""
    lane_signal = np.full(layout.n_in_lanes, -1, dtype=np.int64)
    n_serving = np.zeros(layout.n_lanes, dtype=np.int64)
    for p in range(layout.n_phases):
        lanes = layout.phase_lane_idx[layout.phase_lane_ptr[p] : layout.phase_lane_ptr[p + 1]]
        lane_signal[lanes] = layout.phase_signal[p]
        n_serving[lanes] += 1
    always = np.zeros(layout.n_lanes, dtype=np.bool_)
    n_greens = layout.n_greens
    for lane in range(layout.n_in_lanes):
        s = lane_signal[lane]
        always[lane] = s >= 0 and n_greens[s] > 1 and n_serving[lane] >= n_greens[s]
    return lane_signal, always


@dataclass(frozen=True)
class WebsterParams:
    """Saturation flow per lane [veh/h], seconds between plan updates, cycle bounds [s]."""

    saturation_veh_h: float = 1800.0
    update_s: float = 900.0
    min_cycle_s: float = 30.0
    max_cycle_s: float = 150.0

    def validate(self) -> None:
        if not self.saturation_veh_h > 0:
            raise InputError(f"saturation_veh_h must be positive, got {self.saturation_veh_h:g}")
        if not self.update_s > 0:
            raise InputError(f"update_s must be positive, got {self.update_s:g}")
        if not 0 < self.min_cycle_s <= self.max_cycle_s:
            raise InputError(
                f"need 0 < min_cycle_s <= max_cycle_s, got {self.min_cycle_s:g} and "
                f"{self.max_cycle_s:g}"
            )


@register
class Webster(Controller):
    """Fixed-time plan from Webster's formula on measured or given flows (module docstring)."""

    name = "webster"
    summary = "fixed-time plan from Webster's formula on flows measured every 15 min"
    Params = WebsterParams
    # max green above the longest possible split; the starvation bound above the longest cycle
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=150.0, max_wait_s=300.0)

    def __init__(
        self, params: Any = None, lane_flow_veh_h: Mapping[str, float] | None = None
    ) -> None:
        super().__init__(params)
        self.given_flow_veh_h = dict(lane_flow_veh_h) if lane_flow_veh_h is not None else None

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        n_lanes = layout.n_lanes
        self._lane_signal, self._always = lane_rows(layout)
        self._served = np.zeros(n_lanes, dtype=np.bool_)
        self._prev_veh = np.zeros(n_lanes, dtype=np.int32)
        self._sensed_veh = np.zeros(n_lanes, dtype=np.int32)
        self._arrived_veh = np.zeros(n_lanes)
        self._red_s = np.zeros(n_lanes)
        self.lane_flow_veh_h = np.zeros(n_lanes)
        self.ratio = np.zeros(layout.n_phases)
        self.green_s = layout.program_green_s.copy()
        self.cycle_s = np.zeros(layout.n_signals)
        self._started = False
        self._next_update_s = 0.0
        if self.given_flow_veh_h is not None:
            unknown = sorted(set(self.given_flow_veh_h) - set(layout.lane_ids))
            if unknown:
                raise InputError(f"flows given for unknown lane(s): {', '.join(unknown[:5])}")
            for lane_id, flow in self.given_flow_veh_h.items():
                self.lane_flow_veh_h[layout.lane_ids.index(lane_id)] = float(flow)

    def replan(self, timing: Timing) -> None:
        """Recompute the plan from ``lane_flow_veh_h``; sets ``ratio``, ``green_s``, ``cycle_s``."""
        lay = self.layout
        p = self.params
        lost_s = lay.n_greens * (timing.yellow_s + timing.all_red_s)
        webster_plan_kernel(
            lay.phase_ptr,
            lay.phase_lane_ptr,
            lay.phase_lane_idx,
            self.lane_flow_veh_h,
            self._always,
            p.saturation_veh_h,
            lost_s,
            timing.min_green_s,
            p.min_cycle_s,
            p.max_cycle_s,
            self.ratio,
            self.green_s,
            self.cycle_s,
        )

    def decide(self, state: SensedState, timing: Timing) -> NDArray[np.int64]:
        lay = self.layout
        # sensed vehicles per lane: the queue, or those within the detection range if more
        np.maximum(state.queue_veh, state.near_veh, out=self._sensed_veh)
        if not self._started:
            self._started = True
            self._prev_veh[:] = self._sensed_veh
            self._next_update_s = state.time_s + self.params.update_s
            if self.given_flow_veh_h is not None:
                self.replan(timing)
        elif self.given_flow_veh_h is None:
            arrival_kernel(
                lay.phase_lane_ptr,
                lay.phase_lane_idx,
                self._lane_signal,
                self._always,
                timing.cur_p,
                timing.stage,
                self._sensed_veh,
                self._prev_veh,
                timing.dt_s,
                self._served,
                self._arrived_veh,
                self._red_s,
            )
            if state.time_s >= self._next_update_s - _EPS:
                measured = self._red_s > 0
                self.lane_flow_veh_h[:] = 0.0
                self.lane_flow_veh_h[measured] = (
                    np.maximum(self._arrived_veh[measured], 0.0) / self._red_s[measured] * 3600.0
                )
                self._arrived_veh[:] = 0.0
                self._red_s[:] = 0.0
                self._next_update_s += self.params.update_s
                self.replan(timing)
        cyclic_plan_kernel(
            lay.phase_ptr, self.green_s, timing.cur_p, timing.stage, timing.t_stage_s, self._request
        )
        return self._request
