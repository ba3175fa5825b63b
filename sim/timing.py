"""Timing safety: one kernel turns every controller's requested greens into a safe sequence.

Controllers only *request* a green phase per signal; :func:`constrain_kernel` decides. Rules, per
signal, evaluated once per simulation step of ``dt_s`` seconds:

1. A green is shown for at least ``min_green_s``; requests before that are ignored.
2. Leaving green ``p`` for green ``q`` goes through yellow (``yellow_s``) and then all-red
   (``all_red_s``) when some link green in ``p`` is not green in ``q``
   (``layout.needs_clearance``); otherwise the switch is immediate. A clearance, once started,
   always runs to its end and then shows ``q``; requests during it are ignored.
3. Max green: a green that has lasted ``max_green_s`` ends as soon as another green of the signal
   has demand (it then goes to the one that has waited longest); with no competing demand it rests.
4. Starvation bound: a green phase whose lanes have had demand for ``max_wait_s`` without being
   served pre-empts the request at the next point where the current green may end (rule 1).
   Hence a phase with demand waits at most about
   ``max_wait_s + n_greens * (min_green_s + yellow_s + all_red_s)``.

A request of ``-1`` (or a phase that is not the signal's) means "keep the current green".
Stages: 0 green, 1 yellow, 2 all-red.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import NetworkLayout

GREEN, YELLOW, ALL_RED = 0, 1, 2
_EPS = 1e-9


@njit(cache=True)
def constrain_kernel(
    request: NDArray[np.int64],  # [n_signals] global phase wanted, -1 keeps the current green
    demand: NDArray[np.bool_],  # [n_phases] a phase's lanes hold or approach vehicles
    dt_s: float,
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    needs_clearance: NDArray[np.bool_],  # [n_phases, max_greens]
    min_green_s: NDArray[np.float64],  # [n_signals]
    max_green_s: NDArray[np.float64],  # [n_signals]
    yellow_s: NDArray[np.float64],  # [n_signals]
    all_red_s: NDArray[np.float64],  # [n_signals]
    max_wait_s: NDArray[np.float64],  # [n_signals]
    cur_p: NDArray[np.int64],  # [n_signals] in/out: current green (the one being left in clearance)
    next_p: NDArray[np.int64],  # [n_signals] in/out: target green during a clearance
    stage: NDArray[np.int8],  # [n_signals] in/out: 0 green, 1 yellow, 2 all-red
    t_stage_s: NDArray[np.float64],  # [n_signals] in/out: seconds the current stage has been shown
    wait_s: NDArray[np.float64],  # [n_phases] in/out: seconds with demand while not served
    changed: NDArray[np.bool_],  # [n_signals] out: the signal's displayed state changed
) -> None:
    """Advance every signal by ``dt_s`` and apply requests under the safety rules (module doc)."""
    for s in range(cur_p.shape[0]):
        changed[s] = False
        t_stage_s[s] += dt_s
        lo = phase_ptr[s]
        hi = phase_ptr[s + 1]
        if stage[s] == YELLOW and t_stage_s[s] >= yellow_s[s] - _EPS:
            if all_red_s[s] > 0.0:
                stage[s] = ALL_RED
            else:
                stage[s] = GREEN
                cur_p[s] = next_p[s]
            t_stage_s[s] = 0.0
            changed[s] = True
        elif stage[s] == ALL_RED and t_stage_s[s] >= all_red_s[s] - _EPS:
            stage[s] = GREEN
            cur_p[s] = next_p[s]
            t_stage_s[s] = 0.0
            changed[s] = True

        cur = cur_p[s]
        for p in range(lo, hi):
            if stage[s] == GREEN and p == cur:
                wait_s[p] = 0.0
            elif demand[p]:
                wait_s[p] += dt_s
            else:
                wait_s[p] = 0.0

        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s] - _EPS:
            continue
        target = request[s]
        if target < lo or target >= hi:
            target = cur
        starved = -1
        worst = -1.0
        for p in range(lo, hi):
            if p != cur and demand[p] and wait_s[p] >= max_wait_s[s] - _EPS and wait_s[p] > worst:
                starved = p
                worst = wait_s[p]
        if starved >= 0:
            target = starved
        elif target == cur and t_stage_s[s] >= max_green_s[s] - _EPS:
            longest = -1.0
            for p in range(lo, hi):
                if p != cur and demand[p] and wait_s[p] > longest:
                    target = p
                    longest = wait_s[p]
        if target == cur:
            continue
        if needs_clearance[cur, target - lo] and (yellow_s[s] > 0.0 or all_red_s[s] > 0.0):
            next_p[s] = target
            stage[s] = YELLOW if yellow_s[s] > 0.0 else ALL_RED
        else:
            cur_p[s] = target
            next_p[s] = target
            wait_s[target] = 0.0
        t_stage_s[s] = 0.0
        changed[s] = True


@njit(cache=True)
def fallback_kernel(
    request: NDArray[np.int64],  # [n_signals] the controller's request
    demand: NDArray[np.bool_],  # [n_phases] sensed demand
    dt_s: float,
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    suspect_phase: NDArray[np.int8],  # [n_phases] 0 no, 1 some, 2 all lanes with suspect detectors
    program_green_s: NDArray[np.float64],  # [n_phases] green of the phase in the net's program
    fixed_wait_s: NDArray[np.float64],  # [n_phases] red of the phase in the net's program cycle
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals] before this step's advance
    wait_s: NDArray[np.float64],  # [n_phases] in/out: the constrain kernel's waiting time
    unserved_s: NDArray[np.float64],  # [n_phases] in/out: seconds since the phase was green
    request_out: NDArray[np.int64],  # [n_signals] out: request with the fallback applied
    demand_out: NDArray[np.bool_],  # [n_phases] out: demand with the fallback applied
) -> None:
    """Fallback for phases with suspect detectors (``sim/faults.py``).

    A phase with some suspect lanes (1) is on recall: it always counts as having demand, so the
    starvation bound serves it, crediting the time it has gone unserved. A phase whose lanes are
    all suspect (2) is, moreover, timed as in the network's own program whatever the controller
    asks: requested once it has waited ``fixed_wait_s`` (its red time in the program cycle), and
    once green held for ``program_green_s``, then released to the waiting phase with demand
    that waited longest. Other phases are untouched; every rule of :func:`constrain_kernel` still
    applies on top.
    """
    for s in range(cur_p.shape[0]):
        lo = phase_ptr[s]
        hi = phase_ptr[s + 1]
        cur = cur_p[s]
        for p in range(lo, hi):
            if stage[s] == GREEN and p == cur:
                unserved_s[p] = 0.0
            else:
                unserved_s[p] += dt_s
            demand_out[p] = demand[p] or suspect_phase[p] > 0
            if suspect_phase[p] > 0 and p != cur and wait_s[p] < unserved_s[p] - dt_s:
                wait_s[p] = unserved_s[p] - dt_s  # the kernel adds this step's dt
        request_out[s] = request[s]
        if stage[s] != GREEN:
            continue
        if suspect_phase[cur] == 2:
            if t_stage_s[s] + dt_s < program_green_s[cur] - _EPS:
                request_out[s] = cur
            else:
                best = -1
                for p in range(lo, hi):
                    if p != cur and demand_out[p] and (best < 0 or wait_s[p] > wait_s[best]):
                        best = p
                request_out[s] = best
            continue
        best = -1
        for p in range(lo, hi):
            if (
                p != cur
                and suspect_phase[p] == 2
                and unserved_s[p] >= fixed_wait_s[p] - _EPS
                and (best < 0 or unserved_s[p] > unserved_s[best])
            ):
                best = p
        if best >= 0:
            request_out[s] = best


@dataclass(frozen=True, slots=True)
class TimingParams:
    """Safety limits shared by every controller, in seconds."""

    min_green_s: float = 5.0
    max_green_s: float = 60.0
    max_wait_s: float = 120.0
    yellow_s: float | None = None  # None: the network program's yellow time per signal
    all_red_s: float | None = None  # None: the network program's all-red time per signal

    def validate(self) -> None:
        """Raise ``InputError`` for impossible timings."""
        if self.min_green_s <= 0:
            raise InputError(f"--min-green-s must be positive, got {self.min_green_s:g}")
        if self.max_green_s < self.min_green_s:
            raise InputError(
                f"--max-green-s ({self.max_green_s:g}) must be at least "
                f"--min-green-s ({self.min_green_s:g})"
            )
        if self.max_wait_s <= 0:
            raise InputError(f"--max-wait-s must be positive, got {self.max_wait_s:g}")
        for name, val in (("--yellow-s", self.yellow_s), ("--all-red-s", self.all_red_s)):
            if val is not None and val < 0:
                raise InputError(f"{name} must not be negative, got {val:g}")


class Timing:
    """Signal timing state of a run (arrays over all controlled signals) and its kernel."""

    def __init__(self, layout: NetworkLayout, params: TimingParams, dt_s: float) -> None:
        params.validate()
        n = layout.n_signals
        self.layout = layout
        self.dt_s = float(dt_s)
        self.min_green_s = np.full(n, params.min_green_s)
        self.max_green_s = np.full(n, params.max_green_s)
        self.max_wait_s = np.full(n, params.max_wait_s)
        self.yellow_s = (
            layout.yellow_s.copy() if params.yellow_s is None else np.full(n, params.yellow_s)
        )
        self.all_red_s = (
            layout.all_red_s.copy() if params.all_red_s is None else np.full(n, params.all_red_s)
        )
        self.cur_p = layout.phase_ptr[:-1].copy()
        self.next_p = self.cur_p.copy()
        self.stage = np.zeros(n, dtype=np.int8)
        self.t_stage_s = np.zeros(n)
        self.wait_s = np.zeros(layout.n_phases)
        self.changed = np.ones(n, dtype=np.bool_)
        # fixed-time fallback for phases with failed detectors (fallback_kernel); the runner
        # sets suspect_phase each step
        self.suspect_phase = np.zeros(layout.n_phases, dtype=np.int8)  # 0 / 1 some / 2 all
        self.unserved_s = np.zeros(layout.n_phases)
        cycle_s = np.add.reduceat(layout.program_green_s, layout.phase_ptr[:-1]) + np.diff(
            layout.phase_ptr
        ) * (self.yellow_s + self.all_red_s)
        self.fixed_wait_s = cycle_s[layout.phase_signal] - layout.program_green_s
        self._request = np.zeros(n, dtype=np.int64)
        self._demand = np.zeros(layout.n_phases, dtype=np.bool_)

    def step(self, request: NDArray[np.int64], demand: NDArray[np.bool_]) -> None:
        """Advance one step and apply ``request`` [n_signals]; sets ``changed`` [n_signals].

        Phases flagged in ``suspect_phase`` get the fixed-time fallback (:func:`fallback_kernel`).
        """
        lay = self.layout
        fallback_kernel(
            request,
            demand,
            self.dt_s,
            lay.phase_ptr,
            self.suspect_phase,
            lay.program_green_s,
            self.fixed_wait_s,
            self.cur_p,
            self.stage,
            self.t_stage_s,
            self.wait_s,
            self.unserved_s,
            self._request,
            self._demand,
        )
        if self.suspect_phase.any():
            request, demand = self._request, self._demand
        constrain_kernel(
            request,
            demand,
            self.dt_s,
            lay.phase_ptr,
            lay.needs_clearance,
            self.min_green_s,
            self.max_green_s,
            self.yellow_s,
            self.all_red_s,
            self.max_wait_s,
            self.cur_p,
            self.next_p,
            self.stage,
            self.t_stage_s,
            self.wait_s,
            self.changed,
        )

    def state_string(self, s: int) -> str:
        """SUMO state string signal ``s`` shows now."""
        st = int(self.stage[s])
        if st == GREEN:
            return self.layout.phase_states[self.cur_p[s]]
        return self.layout.transition_state(int(self.cur_p[s]), int(self.next_p[s]), st)


@njit(cache=True)
def phase_demand_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    queue_veh: NDArray[np.int32],  # [n_lanes]
    near_veh: NDArray[np.int32],  # [n_lanes]
    out: NDArray[np.bool_],  # [n_phases]
) -> None:
    """A phase has demand when any lane it serves has a queue or a vehicle within range."""
    for p in range(out.shape[0]):
        has = False
        for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
            lane = phase_lane_idx[k]
            if queue_veh[lane] > 0 or near_veh[lane] > 0:
                has = True
                break
        out[p] = has
