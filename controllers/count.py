"""``count``: vehicle-count release ("lights watch the cars").

The green stays on while the movements it serves still hold vehicles: a queue on the lane, or
vehicles within the detection range of the stop line. Once those served lanes hold no more than
``extend_veh`` vehicles (the approach has emptied), or max green is reached, the next green goes to
the phase with the most waiting-plus-approaching vehicles; phases without vehicles are skipped.
The shared timing kernel adds min green, clearance and the starvation bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from controllers.base import Controller, register
from controllers.kernels import lane_demand, phase_sum
from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.state import TrafficState
from sim.timing import GREEN, Timing, TimingParams


@njit(cache=True)
def count_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    phase_need: NDArray[np.float64],  # [n_phases] vehicles on the lanes each phase serves
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    min_green_s: NDArray[np.float64],  # [n_signals]
    extend_veh: float,
    out: NDArray[np.int64],  # [n_signals] requested phase, -1 keeps
) -> None:
    """Request per signal. Ties between phases go to the lowest phase index."""
    for s in range(out.shape[0]):
        out[s] = -1
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s]:
            continue
        cur = cur_p[s]
        if phase_need[cur] > extend_veh:
            continue
        best = -1
        best_need = 0.0
        for p in range(phase_ptr[s], phase_ptr[s + 1]):
            if p != cur and phase_need[p] > best_need:
                best = p
                best_need = phase_need[p]
        out[s] = best


@dataclass(frozen=True)
class CountParams:
    """``extend_veh``: the green holds while its lanes have more than this many vehicles."""

    extend_veh: float = 0.0

    def validate(self) -> None:
        if self.extend_veh < 0:
            raise InputError(f"extend_veh must not be negative, got {self.extend_veh:g}")


@register
class Count(Controller):
    """Vehicle-count release (see module docstring)."""

    name = "count"
    summary = "vehicle-count release: hold green while served lanes hold vehicles"
    Params = CountParams
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=60.0, max_wait_s=120.0)

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        self._lane_need = np.zeros(layout.n_lanes)
        self._phase_need = np.zeros(layout.n_phases)

    def decide(self, state: TrafficState, timing: Timing) -> NDArray[np.int64]:
        lay = self.layout
        lane_demand(state.queue_veh, state.near_veh, self._lane_need)
        phase_sum(lay.phase_lane_ptr, lay.phase_lane_idx, self._lane_need, self._phase_need)
        count_kernel(
            lay.phase_ptr,
            self._phase_need,
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.min_green_s,
            self.params.extend_veh,
            self._request,
        )
        return self._request
