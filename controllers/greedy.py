"""``greedy``: the RESCO benchmark's queue-count rule.

Every ``period_s`` (10 s, as in RESCO) once min green has passed, each signal requests the green
whose lanes hold the most vehicles, counting for every lane ``max(queue, near)``: the halted
vehicles on the lane or the vehicles within the detection range of the stop line, whichever is
larger (``controllers.kernels.lane_demand``). Ties keep the current green, then go to the lowest
phase index. No look at the downstream lanes, no memory: the rule RESCO found worse than fixed
time on cologne3, kept here as a peer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from controllers.base import Controller, register
from controllers.kernels import lane_demand, phase_sum
from controllers.max_pressure import check_period, periodic_argmax_kernel
from sim.layout import NetworkLayout
from sim.state import SensedState
from sim.timing import Timing, TimingParams


@dataclass(frozen=True)
class GreedyParams:
    """``period_s``: seconds between decisions of a signal once min green has passed."""

    period_s: float = 10.0

    def validate(self) -> None:
        check_period(self.period_s)


@register
class Greedy(Controller):
    """Most queued plus approaching vehicles, decided every ``period_s`` (module docstring)."""

    name = "greedy"
    summary = "RESCO greedy: every 10 s serve the green with most queued plus approaching vehicles"
    Params = GreedyParams
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=60.0, max_wait_s=120.0)

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        self._lane_need = np.zeros(layout.n_lanes)
        self._phase_need = np.zeros(layout.n_phases)
        self._since_s = np.zeros(layout.n_signals)

    def decide(self, state: SensedState, timing: Timing) -> NDArray[np.int64]:
        lay = self.layout
        lane_demand(state.queue_veh, state.near_veh, self._lane_need)
        phase_sum(lay.phase_lane_ptr, lay.phase_lane_idx, self._lane_need, self._phase_need)
        periodic_argmax_kernel(
            lay.phase_ptr,
            self._phase_need,
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.min_green_s,
            self._since_s,
            self.params.period_s,
            timing.dt_s,
            self._request,
        )
        return self._request
