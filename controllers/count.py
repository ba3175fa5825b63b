"""``count``: vehicle-count release ("lights watch the cars").

How it decides, per signal, every second (an engineer's paragraph):
The current green is held while the lanes it serves are *discharging*: some vehicle within the gap
range (``--gap-range-m``, 40 m by default) of a served stop line is moving, i.e. a queue is still
being released or vehicles keep arriving close by. When no served vehicle moves there any more —
the queue has gone, or what remains is blocked (a permissive left waiting for a gap, a full exit) —
or max green is reached, the green goes to the phase that would release the most *additional*
vehicles: the sum, over the lanes it serves that are not green already, of ``max(halting vehicles,
vehicles within the detection range)``, where the detection range (100 m by default) continues
upstream past short lanes. A lane the current green shows only permissive (``g``) that is full
(halting vehicles at least ``full_ratio`` of its capacity, and at least two) while none of its
vehicles moves is not green in that sense: its vehicles wait for gaps that do not come, and a
green that shows it protected (``G``) releases them. Without this a protected-left green serving
a subset of a permissive green's lanes counted nothing from them and came only when the
starvation bound forced it, while the left queue overflowed its pocket into the through lanes
(bundled ``single``; figures in benchmarks/README.md, "count's rules on seeds 1-5"). Counting
every standing permissive vehicle instead switched to the protected green for left-turners that
were only waiting for their next gap (``corridor`` 22.1 -> 27.6 s); counting one halting turner
as filling a short lane made the protected greens of ingolstadt21's split junctions call for
single turners on their 12 m connectors and lock them on more seeds.
A lane whose every exit is full (halting vehicles at least
``full_ratio`` of its capacity) counts as empty: releasing it would only block the junction.
Phases with no such vehicles are skipped; with no competing demand the green rests. The shared
timing kernel adds min green, yellow/all-red and the starvation bound.

A green that is still discharging is cut short after ``yield_min_s`` (20 s) when another phase
waits with more than ``yield_ratio`` (2) times the vehicles the current green serves, so a steady
trickle on a main road cannot hold a long queue on the side street to max green. The cut made the
two-junction clusters of the RESCO ingolstadt21 map gridlock until the spillback guard counted one
halting car as filling a short connector lane; ``-p yield_ratio=0`` turns it off.
The 20 s protect a green that is releasing the queue it found. A green that has released it —
no halting vehicle left on the lanes it shows protected (``G``), and fewer moving vehicles in the
gap range than ``sparse_veh_per_lane`` (0.5) per lane it serves — serves arrivals only: each
second it holds delays every vehicle waiting elsewhere for the sake of fewer than one arriving
vehicle per two lanes, so the same cut applies to it from min green. Halting vehicles on a lane
shown only permissive do not count as a queue (they wait for gaps, not for the green). Without
this a green was held for scattered arrivals until the 20 s cut while the cross street queued
(the short decisions of ``greedy`` with a 5 s period won the bundled single junction and grid);
figures in benchmarks/README.md, "Arrivals only"; ``-p sparse_veh_per_lane=0`` turns it off.
On the held-out seeds of RESCO ingolstadt21 the shorter greens made its split-junction lock
more likely (three of five seeds jam, none before; benchmarks/README.md, "Known jam"), with
SUMO's junction deadlocks left standing; with ``--junction-blocker-s 60`` (now the default) no
seed jams there.

A switch does not start a green that the starvation bound (``--max-wait-s``) would cut at its
min green: when another phase has waited so long that it would reach the bound before a new
green's min green has passed (one step, the longest clearance including the all-red held for a
vehicle left in the junction, then min green), the longest-waiting such phase that has vehicles
to release (a need above 0 in the sense above) is requested instead of the one with the most
vehicles; going early to a phase whose lanes lead into full exits near-jammed RESCO cologne3.
It reads the timing kernel's own wait clock (``Timing.wait_s``, which counts sensed or true
demand), so it anticipates what the bound would enforce.

People ("lights watch the people"). On nets with crossings or buses the need counts the persons a
green would release, in passenger-car units so that a car still counts 1 and car-only traffic is
decided exactly as before: each lane's ``max(halting, near)`` is multiplied by its persons per
vehicle relative to a car (``SensedState.lane_person_weight``: a bus with the default occupancy
of 40 against 1.3 per car weighs about 31; riders + driver where the demand has ``<ride>``s),
blended by ``person_weight`` (``1 + person_weight * (weight - 1)``), and each green adds
``ped_weight`` per pedestrian waiting at the crossings it serves that the current green does not
serve (``SensedState.phase_ped_release``; a push-button call counts 1). Pedestrians are weighed
modestly: an earlier trial adding them like cars cost more vehicle delay than pedestrians
gained, and their own bound is the timing kernel's (waiting pedestrians are demand for the
starvation bound; the walk, then the pedestrian clearance before the yellow). The defaults were
chosen on ``downtown`` seeds 1-5 (1 h, before the pedestrian clearance and the junction box):
mean vehicle delay 49.2 s, pedestrian 58.5 s, bus 55.9 s, against 50.9 / 60.8 / 63.8 s with both
weights 0; ``ped_weight=0`` and ``person_weight=0.5, ped_weight=0.25`` each locked a junction on
one or two seeds (benchmarks/people/README.md).
Lanes whose turning vehicles yield to people still on a crossing that shows red count as
discharging (``moving_veh``): they go as soon as those people are across, so the green is not
ended as if they were blocked. Turning vehicles waiting for a gap in people walking on a green
crossing do not hold the green, as a permissive left waiting for oncoming traffic does not; the
pedestrian clearance that ends the green closes the crossing first, with their green still on.
Holding the green for them cost vehicle delay wherever people walk (``lightwatch compare
--controllers count --seeds 1,2,3,4,5``, nets of ``benchmarks/people``: grid3x3 64.8 -> 61.5 s,
downtown 46.5 -> 45.3, rand 67.4 -> 66.5, spider 46.6 -> 46.7).
A green held for its vehicles ends its walk: once past min green (the walk, when it began with
people waiting) the request is the program's variant of the same vehicle green without its
crossings (``NetworkLayout.vehicle_continuation``; the timing kernel closes them through the
pedestrian clearance while the vehicles keep their green, ``sim.timing`` rule 2). Turning
vehicles then go without a stream of people to wait for, as after SUMO's own walk phases;
people arriving later wait for the next green. Before, the crossings stayed open for as long as
the vehicles held the green, and turners waiting for gaps in the people blocked the lanes they
share with through traffic: grid3x3 (3600 pedestrians/h) seeds 1-5 61.5 -> 46.6 s, downtown
45.3 -> 42.4, rand 66.5 -> 64.8, spider 46.7 -> 43.6; pedestrian delay rose 2-6 % (grid3x3
64.2 -> 67.1 s, downtown 62.2 -> 65.8, spider 70.2 -> 72.6) as each crossing is open for a
shorter share of the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from controllers.base import Controller, register
from controllers.kernels import lane_demand, mask_blocked_lanes
from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.state import SensedState
from sim.timing import _EPS, GREEN, Timing, TimingParams


@njit(cache=True)
def count_kernel(
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    permissive: NDArray[np.bool_],  # [nnz] the lane's movements are all permissive in the phase
    lane_need: NDArray[np.float64],  # [n_lanes] vehicles needing green: max(queue, near)
    phase_need: NDArray[np.float64],  # [n_phases] need beyond the lanes (pedestrians)
    moving_veh: NDArray[np.int32],  # [n_lanes] moving vehicles within the gap range
    queue_veh: NDArray[np.int32],  # [n_lanes] halting vehicles
    lane_full: NDArray[np.bool_],  # [n_lanes] halting vehicles fill the lane (Count._full_lanes)
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    min_green_s: NDArray[np.float64],  # [n_signals]
    max_green_s: NDArray[np.float64],  # [n_signals]
    extend_veh: float,
    yield_ratio: float,  # 0: never cut a discharging green
    yield_min_s: float,
    sparse_veh_per_lane: float,  # fewer moving per served lane, no queue: arrivals only
    lane_mark: NDArray[np.bool_],  # [n_lanes] scratch, all False on entry and exit
    continuation: NDArray[np.int64],  # [n_phases] green continuing p without its crossings, -1
    wait_s: NDArray[np.float64],  # [n_phases] s a phase has waited with demand (Timing.wait_s)
    starve_due_s: NDArray[np.float64],  # [n_signals] max wait - (step + clearance + min green)
    out: NDArray[np.int64],  # [n_signals] requested phase, -1 keeps
) -> None:
    """Request per signal (module docstring). Ties between phases go to the lowest index."""
    for s in range(out.shape[0]):
        out[s] = -1
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s]:
            continue
        cur = cur_p[s]
        moving = 0.0
        cur_need = 0.0
        queued = 0  # halting vehicles on the lanes the green shows protected
        for k in range(phase_lane_ptr[cur], phase_lane_ptr[cur + 1]):
            lane = phase_lane_idx[k]
            moving += moving_veh[lane]
            if not permissive[k]:
                queued += queue_veh[lane]
            if permissive[k] and lane_full[lane] and moving_veh[lane] == 0:
                continue  # yielding, full and still: not released by this green
            lane_mark[lane] = True
            cur_need += lane_need[lane]
        cur_need += phase_need[cur]
        best = -1
        best_need = 0.0
        due_p = -1
        due_wait = -1.0
        for p in range(phase_ptr[s], phase_ptr[s + 1]):
            if p == cur:
                continue
            need = phase_need[p]
            for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
                lane = phase_lane_idx[k]
                if not lane_mark[lane]:
                    need += lane_need[lane]
            if need > best_need:
                best = p
                best_need = need
            if need > 0.0 and wait_s[p] >= starve_due_s[s] and wait_s[p] > due_wait:
                due_p = p
                due_wait = wait_s[p]
        for k in range(phase_lane_ptr[cur], phase_lane_ptr[cur + 1]):
            lane_mark[phase_lane_idx[k]] = False
        if best < 0:
            continue
        # arrivals only: the queue it found is released, few vehicles still come
        n_served = phase_lane_ptr[cur + 1] - phase_lane_ptr[cur]
        arrivals = queued == 0 and moving < sparse_veh_per_lane * n_served
        cut = (
            yield_ratio > 0.0
            and (t_stage_s[s] >= yield_min_s or arrivals)
            and best_need > yield_ratio * cur_need
        )
        if moving > extend_veh and t_stage_s[s] < max_green_s[s] and not cut:
            # held for its vehicles: past the walk the crossings close, the vehicles keep going
            out[s] = continuation[cur]
            continue
        # a new green the starvation bound would cut at its min green is not started: the
        # phase that has waited longest past starve_due_s goes first
        if due_p >= 0:
            best = due_p
        out[s] = best


@njit(cache=True)
def holding_lanes_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    cur_p: NDArray[np.int64],  # [n_signals]
    stage: NDArray[np.int8],  # [n_signals]
    t_stage_s: NDArray[np.float64],  # [n_signals]
    min_green_s: NDArray[np.float64],  # [n_signals]
    out: NDArray[np.int64],  # [nnz] scratch: the lanes, first entries
) -> int:
    """Lanes served by a green that has lasted its min green: the only ones whose moving vehicles
    :func:`count_kernel` reads (a superset: the margin ``_EPS`` keeps a lane on the boundary).
    Writes them into ``out[:n]`` and returns ``n``."""
    n = 0
    for s in range(cur_p.shape[0]):
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s] - _EPS:
            continue
        cur = cur_p[s]
        for k in range(phase_lane_ptr[cur], phase_lane_ptr[cur + 1]):
            out[n] = phase_lane_idx[k]
            n += 1
    return n


@dataclass(frozen=True)
class CountParams:
    """Parameters of ``count`` (the module docstring explains them).

    ``extend_veh``: the green holds while more than this many served vehicles move in the gap
    range. ``person_weight``: share of the occupancy weighting (1: a vehicle counts its persons
    in car units, 0: vehicles only). ``ped_weight``: car units per waiting pedestrian.
    ``full_ratio``: an exit lane with at least this fraction of its capacity halting is full.
    ``yield_ratio``/``yield_min_s``: cut of a discharging green (``yield_ratio`` 0: off).
    ``sparse_veh_per_lane``: a green with no halting vehicle on its protected lanes and fewer
    moving vehicles than this per served lane serves arrivals only and is cut from min green
    (0: never).
    """

    extend_veh: float = 0.0
    full_ratio: float = 0.8
    yield_ratio: float = 2.0
    yield_min_s: float = 20.0
    sparse_veh_per_lane: float = 0.5
    person_weight: float = 1.0
    ped_weight: float = 0.5

    def validate(self) -> None:
        for name in (
            "extend_veh",
            "yield_ratio",
            "yield_min_s",
            "sparse_veh_per_lane",
            "person_weight",
            "ped_weight",
        ):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must not be negative, got {getattr(self, name):g}")
        if self.full_ratio <= 0:
            raise InputError(f"full_ratio must be positive, got {self.full_ratio:g}")


@register
class Count(Controller):
    """Vehicle-count release (see module docstring)."""

    name = "count"
    summary = "vehicle-count release: hold green while served vehicles move, then most waiting"
    Params = CountParams
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=60.0, max_wait_s=120.0)
    reads_moving = True

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        self._lane_need = np.zeros(layout.n_lanes)
        self._lane_mark = np.zeros(layout.n_lanes, dtype=np.bool_)
        self._free_moves = np.zeros(layout.n_lanes, dtype=np.int64)
        self._phase_need = np.zeros(layout.n_phases)
        self._weight = np.ones(layout.n_lanes)
        self._holding = np.zeros(layout.phase_lane_idx.shape[0], dtype=np.int64)
        self._continuation = layout.vehicle_continuation()
        self._permissive = layout.permissive_lanes()
        self._full_at: NDArray[np.float64] | None = None  # [n_lanes], from static capacities
        self._lane_full = np.zeros(layout.n_lanes, dtype=np.bool_)
        self._due_s: NDArray[np.float64] | None = None  # [n_signals], from static timings

    def moving_lanes(self, timing: Timing) -> NDArray[np.int64]:
        """Lanes of the greens past min green (:func:`holding_lanes_kernel`)."""
        lay = self.layout
        n = holding_lanes_kernel(
            lay.phase_lane_ptr,
            lay.phase_lane_idx,
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.min_green_s,
            self._holding,
        )
        return self._holding[:n]

    def decide(self, state: SensedState, timing: Timing) -> np.ndarray:
        lay = self.layout
        lane_demand(state.queue_veh, state.near_veh, self._lane_need)
        mask_blocked_lanes(
            lay.move_in_lane,
            lay.move_out_lane,
            state.queue_veh,
            state.capacity_veh,
            self.params.full_ratio,
            self._free_moves,
            self._lane_need,
        )
        # people (module docstring): lanes weighed by persons per vehicle, pedestrians per green
        w, p = self.params.person_weight, self.params.ped_weight
        if state.lane_person_weight.shape == self._weight.shape:
            np.subtract(state.lane_person_weight, 1.0, out=self._weight)
            self._weight *= w
            self._weight += 1.0
            self._lane_need *= self._weight
        if state.phase_ped_release.shape == self._phase_need.shape:
            np.multiply(state.phase_ped_release, p, out=self._phase_need)
        count_kernel(
            lay.phase_ptr,
            lay.phase_lane_ptr,
            lay.phase_lane_idx,
            self._permissive,
            self._lane_need,
            self._phase_need,
            state.moving_veh,
            state.queue_veh,
            self._full_lanes(state),
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.min_green_s,
            timing.max_green_s,
            self.params.extend_veh,
            self.params.yield_ratio,
            self.params.yield_min_s,
            self.params.sparse_veh_per_lane,
            self._lane_mark,
            self._continuation,
            timing.wait_s,
            self._starve_due_s(timing),
            self._request,
        )
        return self._request

    def _full_lanes(self, state: SensedState) -> NDArray[np.bool_]:
        """[n_lanes]: at least ``max(2, floor(full_ratio * capacity))`` halting vehicles on the
        lane (two: one turner waiting on a short connector does not make it full)."""
        if self._full_at is None:  # capacities are static: the threshold is set once per run
            self._full_at = np.maximum(np.floor(self.params.full_ratio * state.capacity_veh), 2.0)
        np.greater_equal(state.queue_veh, self._full_at, out=self._lane_full)
        return self._lane_full

    def _starve_due_s(self, timing: Timing) -> NDArray[np.float64]:
        """[n_signals] s: a phase that has waited this long may reach the starvation bound
        before the min green of a green asked for now has passed: one step to act on the
        request, the longest clearance (yellow, all-red, all-red held while a vehicle is left in
        the junction: ``box_max_s``), then min green: the signal's own, read on the first call,
        which comes before the timing kernel's first step; on nets with crossings
        ``sim.people`` later raises ``timing.min_green_s`` to the walk for a green that began
        with pedestrians waiting, a per-green value this point does not follow."""
        if self._due_s is None:  # from the run's fixed timings: computed once per run
            clear_s = timing.yellow_s + timing.all_red_s + timing.box_max_s
            self._due_s = timing.max_wait_s - (timing.min_green_s + clear_s + timing.dt_s)
        return self._due_s
