"""``sotl``: Gershenson's self-organising traffic lights ("sotl-platoon", Complex Systems 2005).

Per signal, a counter ``kappa`` adds up vehicle-seconds of demand waiting at red: every step it
grows by ``dt_s`` times the vehicles (``max(queue, near)`` per lane) on the incoming lanes the
current green does not serve. It restarts at 0 whenever a new green starts. Once min green has
passed, the signal switches when

* ``kappa >= theta_veh_s`` (enough demand has waited at red), or the current green has no demand
  left while a red lane has some (Gershenson's rule 4),
* unless a short platoon is about to cross: ``0 < near <= mu_veh`` vehicles within the detection
  range (Gershenson's distance omega; here the run's ``--detection-range-m``) of the lanes the
  green serves — then the green holds for them (rule 3).

The next green is the following phase of the signal in program order that has demand; phases
without demand are skipped, and with no demand anywhere else the green holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from controllers.base import Controller, register
from controllers.kernels import lane_demand, phase_sum
from sim.errors import InputError
from sim.layout import NetworkLayout, csr_rows
from sim.state import SensedState
from sim.timing import _EPS, GREEN, Timing, TimingParams


def signal_lanes(layout: NetworkLayout) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """CSR rows (ptr [n_signals + 1], idx [nnz]): the distinct incoming lanes a signal serves."""
    rows = []
    for s in range(layout.n_signals):
        lanes: set[int] = set()
        for p in range(layout.phase_ptr[s], layout.phase_ptr[s + 1]):
            k0, k1 = layout.phase_lane_ptr[p], layout.phase_lane_ptr[p + 1]
            lanes.update(int(x) for x in layout.phase_lane_idx[k0:k1])
        rows.append(sorted(lanes))
    return csr_rows(rows)


@njit(cache=True)
def sotl_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    phase_need: NDArray[np.float64],  # [n_phases] vehicles on the lanes each phase serves
    phase_near: NDArray[np.float64],  # [n_phases] vehicles within range on those lanes
    signal_need: NDArray[np.float64],  # [n_signals] vehicles on all lanes the signal serves
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    min_green_s: NDArray[np.float64],  # [n_signals]
    dt_s: float,
    theta_veh_s: float,
    mu_veh: float,
    kappa_veh_s: NDArray[np.float64],  # [n_signals] in/out: vehicle-seconds waited at red
    last_p: NDArray[np.int64],  # [n_signals] in/out: green kappa counts for (-1: none)
    out: NDArray[np.int64],  # [n_signals] requested phase, -1 keeps
) -> None:
    """Gershenson's rules per signal (module docstring). Outside green ``kappa`` stays 0."""
    for s in range(out.shape[0]):
        out[s] = -1
        if stage[s] != GREEN:
            kappa_veh_s[s] = 0.0
            last_p[s] = -1
            continue
        cur = cur_p[s]
        if cur != last_p[s]:
            kappa_veh_s[s] = 0.0
            last_p[s] = cur
        red_need = signal_need[s] - phase_need[cur]
        kappa_veh_s[s] += dt_s * red_need
        if t_stage_s[s] < min_green_s[s] - _EPS:
            continue
        empty_green = phase_need[cur] <= 0.0 and red_need > 0.0
        if kappa_veh_s[s] < theta_veh_s - _EPS and not empty_green:
            continue
        if 0.0 < phase_near[cur] <= mu_veh:
            continue
        lo = phase_ptr[s]
        n = phase_ptr[s + 1] - lo
        for k in range(1, n):
            p = lo + (cur - lo + k) % n
            if phase_need[p] > 0.0:
                out[s] = p
                break


@dataclass(frozen=True)
class SotlParams:
    """``theta_veh_s``: vehicle-seconds at red that trigger a switch; ``mu_veh``: largest platoon
    (vehicles within the detection range of the green) that holds the green."""

    theta_veh_s: float = 30.0
    mu_veh: float = 3.0

    def validate(self) -> None:
        if not self.theta_veh_s > 0:
            raise InputError(f"theta_veh_s must be positive, got {self.theta_veh_s:g}")
        if self.mu_veh < 0:
            raise InputError(f"mu_veh must not be negative, got {self.mu_veh:g}")


@register
class Sotl(Controller):
    """Self-organising traffic lights (see module docstring)."""

    name = "sotl"
    summary = "Gershenson self-organising lights: switch when red demand x time reaches theta"
    Params = SotlParams
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=60.0, max_wait_s=120.0)

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        self._sig_ptr, self._sig_idx = signal_lanes(layout)
        self._lane_need = np.zeros(layout.n_lanes)
        self._near = np.zeros(layout.n_lanes)
        self._phase_need = np.zeros(layout.n_phases)
        self._phase_near = np.zeros(layout.n_phases)
        self._signal_need = np.zeros(layout.n_signals)
        self._kappa_veh_s = np.zeros(layout.n_signals)
        self._last_p = np.full(layout.n_signals, -1, dtype=np.int64)

    def decide(self, state: SensedState, timing: Timing) -> NDArray[np.int64]:
        lay = self.layout
        lane_demand(state.queue_veh, state.near_veh, self._lane_need)
        self._near[:] = state.near_veh
        phase_sum(lay.phase_lane_ptr, lay.phase_lane_idx, self._lane_need, self._phase_need)
        phase_sum(lay.phase_lane_ptr, lay.phase_lane_idx, self._near, self._phase_near)
        phase_sum(self._sig_ptr, self._sig_idx, self._lane_need, self._signal_need)
        sotl_kernel(
            lay.phase_ptr,
            self._phase_need,
            self._phase_near,
            self._signal_need,
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.min_green_s,
            timing.dt_s,
            self.params.theta_veh_s,
            self.params.mu_veh,
            self._kappa_veh_s,
            self._last_p,
            self._request,
        )
        return self._request
