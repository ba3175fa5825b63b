"""``max-pressure``: Varaiya's max-pressure rule (Transportation Research C, 2013).

The pressure of a green phase is the number of halted vehicles on the incoming lanes it serves
minus the number halted on the lanes those movements lead into:

    pressure[p] = sum(queue_veh[l] for l in in_lanes(p)) - sum(queue_veh[l] for l in out_lanes(p))

Each lane counts once per phase even when several of its links are green (unnormalised vehicle
counts, as in Varaiya's point-queue model; all lanes are weighed alike, whatever their length).
Every ``period_s`` once min green has passed, each signal requests its highest-pressure green;
ties keep the current green, then go to the lowest phase index. A full downstream lane lowers
the pressure of the phases feeding it, which keeps green away from movements that cannot move.

With detector sensing, outgoing lanes that feed no other signal carry no detector and count 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from controllers.base import Controller, register
from sim.errors import InputError
from sim.layout import NetworkLayout, csr_rows
from sim.state import SensedState
from sim.timing import _EPS, GREEN, Timing, TimingParams


def phase_out_lanes(layout: NetworkLayout) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """CSR rows (ptr [n_phases + 1], idx [nnz]): the distinct lanes a phase's movements enter."""
    rows = []
    for p in range(layout.n_phases):
        moves = layout.phase_move_idx[layout.phase_move_ptr[p] : layout.phase_move_ptr[p + 1]]
        rows.append(sorted({int(layout.move_out_lane[m]) for m in moves}))
    return csr_rows(rows)


@njit(cache=True)
def pressure_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1] incoming lanes of each phase
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    phase_out_ptr: NDArray[np.int64],  # [n_phases + 1] outgoing lanes of each phase
    phase_out_idx: NDArray[np.int64],  # [nnz]
    queue_veh: NDArray[np.int32],  # [n_lanes] halted vehicles
    out: NDArray[np.float64],  # [n_phases] pressure [veh]
) -> None:
    """``out[p]`` = queue on the lanes ``p`` serves minus queue on the lanes it feeds [veh]."""
    for p in range(out.shape[0]):
        acc = 0.0
        for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
            acc += queue_veh[phase_lane_idx[k]]
        for k in range(phase_out_ptr[p], phase_out_ptr[p + 1]):
            acc -= queue_veh[phase_out_idx[k]]
        out[p] = acc


@njit(cache=True)
def periodic_argmax_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    score: NDArray[np.float64],  # [n_phases]
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    min_green_s: NDArray[np.float64],  # [n_signals]
    since_s: NDArray[np.float64],  # [n_signals] in/out: seconds since the signal last decided
    period_s: float,
    dt_s: float,
    out: NDArray[np.int64],  # [n_signals] requested phase, -1 keeps
) -> None:
    """Every ``period_s`` after min green, request the green with the highest ``score``.

    ``since_s`` grows by ``dt_s`` per call and is reset when the signal decides. A signal decides
    when it shows green, that green has lasted ``min_green_s`` and ``since_s >= period_s``. Ties
    keep the current green, then go to the lowest phase index; keeping is reported as -1.
    """
    for s in range(out.shape[0]):
        out[s] = -1
        since_s[s] += dt_s
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s] - _EPS:
            continue
        if since_s[s] < period_s - _EPS:
            continue
        since_s[s] = 0.0
        cur = cur_p[s]
        best = cur
        best_score = score[cur]
        for p in range(phase_ptr[s], phase_ptr[s + 1]):
            if score[p] > best_score:
                best = p
                best_score = score[p]
        if best != cur:
            out[s] = best


def check_period(period_s: float) -> None:
    if not period_s > 0:
        raise InputError(f"period_s must be positive, got {period_s:g}")


@dataclass(frozen=True)
class MaxPressureParams:
    """``period_s``: seconds between decisions of a signal once min green has passed."""

    period_s: float = 5.0

    def validate(self) -> None:
        check_period(self.period_s)


@register
class MaxPressure(Controller):
    """Varaiya's max-pressure rule (see module docstring)."""

    name = "max-pressure"
    summary = "Varaiya max-pressure: serve the green with most queued in minus queued out"
    Params = MaxPressureParams
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=60.0, max_wait_s=120.0)

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        self._out_ptr, self._out_idx = phase_out_lanes(layout)
        self._pressure = np.zeros(layout.n_phases)
        self._since_s = np.zeros(layout.n_signals)

    def decide(self, state: SensedState, timing: Timing) -> NDArray[np.int64]:
        lay = self.layout
        pressure_kernel(
            lay.phase_lane_ptr,
            lay.phase_lane_idx,
            self._out_ptr,
            self._out_idx,
            state.queue_veh,
            self._pressure,
        )
        periodic_argmax_kernel(
            lay.phase_ptr,
            self._pressure,
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
