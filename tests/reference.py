"""Slow pure-Python twins of the numba kernels, and generators of synthetic layouts for them.

Each twin takes the same arguments as its kernel (same names, same order) and writes the same
outputs, so a test can call both on copies of one input and compare the results exactly. The twins
are written for reading, one signal or one row at a time, not for speed.

Kernels covered:
    sim.timing.constrain_kernel        -> constrain_ref
    sim.timing.phase_demand_kernel     -> phase_demand_ref
    sim.metrics.approach_sum_kernel    -> approach_sum_ref
    controllers.kernels.lane_demand    -> lane_demand_ref
    controllers.kernels.phase_sum      -> phase_sum_ref
    controllers.kernels.phase_max      -> phase_max_ref
    controllers.count.count_kernel     -> count_ref
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

GREEN, YELLOW, ALL_RED, PED_CLEAR = 0, 1, 2, 3
EPS = 1e-9  # the kernels' tolerance when comparing elapsed times with limits


# --------------------------------------------------------------------------------------------
# sim.timing


def constrain_ref(
    request: NDArray[np.int64],
    demand: NDArray[np.bool_],
    true_demand: NDArray[np.bool_],
    dt_s: float,
    phase_ptr: NDArray[np.int64],
    needs_clearance: NDArray[np.bool_],
    continues: NDArray[np.bool_],
    link_kind: NDArray[np.int8],
    covers: NDArray[np.bool_],
    min_green_s: NDArray[np.float64],
    max_green_s: NDArray[np.float64],
    yellow_s: NDArray[np.float64],
    all_red_s: NDArray[np.float64],
    max_wait_s: NDArray[np.float64],
    ped_clear_s: NDArray[np.float64],
    ped_present: NDArray[np.bool_],
    box_busy: NDArray[np.bool_],
    box_max_s: NDArray[np.float64],
    cur_p: NDArray[np.int64],
    next_p: NDArray[np.int64],
    stage: NDArray[np.int8],
    t_stage_s: NDArray[np.float64],
    wait_s: NDArray[np.float64],
    green_s: NDArray[np.float64],
    changed: NDArray[np.bool_],
    end_reason: NDArray[np.int8],
) -> None:
    """Twin of ``sim.timing.constrain_kernel``: advance every signal by ``dt_s`` (in place)."""
    links = range(link_kind.shape[1])

    def restart_changed(s: int, old: int, new: int) -> None:
        for k in links:
            if link_kind[old, k] != link_kind[new, k]:
                green_s[s, k] = 0.0

    def vehicle_green_s(s: int, p: int) -> float:
        # a green continuing the one before counts from its links' continuous green
        return max([float(green_s[s, k]) for k in links if link_kind[p, k] > 0], default=0.0)

    for s in range(len(cur_p)):
        own = range(int(phase_ptr[s]), int(phase_ptr[s + 1]))
        changed[s] = False
        end_reason[s] = 0
        t_stage_s[s] += dt_s

        # 0. a timed link's continuous indication grows while the display just shown kept it
        #    (a clearance keeps the links green in both greens as they were; the pedestrian
        #    clearance shows the vehicle links of the green it leaves)
        for k in links:
            shown = link_kind[cur_p[s], k] > 0 and (
                stage[s] in (GREEN, PED_CLEAR) or link_kind[next_p[s], k] > 0
            )
            green_s[s, k] = green_s[s, k] + dt_s if shown else 0.0

        # 1. a running clearance advances; it ends in the target green
        #    (pedestrian clearance -> yellow -> all-red, skipping intervals of 0 s)
        #    (the pedestrian clearance also ends once nobody is left on the crossings)
        if stage[s] == PED_CLEAR and (
            t_stage_s[s] >= ped_clear_s[cur_p[s], next_p[s] - own.start] - EPS
            or not ped_present[cur_p[s]]
        ):
            # a vehicle left inside the junction on an ending link gets an all-red; a green that
            # continues the vehicle green follows at once
            hold_red = all_red_s[s] > 0.0 or (box_busy[s] and box_max_s[s] > 0.0)
            goes_on = bool(continues[cur_p[s], next_p[s] - own.start])
            nxt = (
                GREEN
                if goes_on
                else YELLOW
                if yellow_s[s] > 0.0
                else ALL_RED
                if hold_red
                else GREEN
            )
            stage[s] = nxt
            t_stage_s[s] = 0.0
            if nxt == GREEN:
                restart_changed(s, int(cur_p[s]), int(next_p[s]))
                cur_p[s] = next_p[s]
                if goes_on:
                    t_stage_s[s] = vehicle_green_s(s, int(cur_p[s]))
            changed[s] = True
        elif stage[s] == YELLOW and t_stage_s[s] >= yellow_s[s] - EPS:
            if all_red_s[s] > 0.0 or (box_busy[s] and box_max_s[s] > 0.0):
                stage[s] = ALL_RED
            else:
                stage[s] = GREEN
                restart_changed(s, int(cur_p[s]), int(next_p[s]))
                cur_p[s] = next_p[s]
            t_stage_s[s] = 0.0
            changed[s] = True
        elif (
            stage[s] == ALL_RED
            and t_stage_s[s] >= all_red_s[s] - EPS
            # the all-red lasts while the junction box is busy, up to box_max_s longer
            and (not box_busy[s] or t_stage_s[s] >= all_red_s[s] + box_max_s[s] - EPS)
        ):
            stage[s] = GREEN
            restart_changed(s, int(cur_p[s]), int(next_p[s]))
            cur_p[s] = next_p[s]
            t_stage_s[s] = 0.0
            changed[s] = True

        # 2. waiting time of every green: grows with true or sensed demand unless it is shown,
        #    or the green shown shows each of its timed links, as protected or more
        for p in own:
            shown = int(cur_p[s])
            kinds = [(int(link_kind[p, k]), int(link_kind[shown, k])) for k in links]
            served = p == shown or all(mine <= theirs for mine, theirs in kinds if mine > 0)
            if stage[s] in (GREEN, PED_CLEAR) and served:
                wait_s[p] = 0.0
            elif demand[p] or true_demand[p]:
                wait_s[p] += dt_s
            else:
                wait_s[p] = 0.0

        # 3. nothing can change during a clearance or before min green
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s] - EPS:
            continue
        cur = int(cur_p[s])
        asked = int(request[s]) if int(request[s]) in own else cur
        target = asked
        reason = 0

        # 4. starvation (true or sensed demand) beats the request; then max green: if the target
        #    keeps an overdue link as it is, the longest-waiting green with sensed demand that
        #    changes one of those links
        starved = [
            p
            for p in own
            if p != cur and (demand[p] or true_demand[p]) and wait_s[p] >= max_wait_s[s] - EPS
        ]
        kept_overdue = [
            k
            for k in links
            if link_kind[cur, k] > 0
            and link_kind[asked, k] == link_kind[cur, k]
            and green_s[s, k]
            >= max_green_s[s]
            - (min_green_s[s] if asked != cur else 0.0)
            - (  # a permissive link some green shows protected: its g lasts through the clearance
                yellow_s[s] + all_red_s[s]
                if link_kind[cur, k] == 1 and any(link_kind[q, k] == 2 for q in own)
                else 0.0
            )
            - EPS
        ]
        rivals = [
            p
            for p in own
            if p != cur
            and (demand[p] or true_demand[p])
            and any(link_kind[p, k] != link_kind[cur, k] for k in kept_overdue)
        ]

        # per rival: links green in cur that it keeps and that reach max green during its min
        # green (and the clearance before it)
        kept_soon = {
            p: sum(
                1
                for k in links
                if link_kind[cur, k] > 0
                and link_kind[p, k] == link_kind[cur, k]
                and green_s[s, k]
                >= max_green_s[s]
                - min_green_s[s]
                - (yellow_s[s] + all_red_s[s] if needs_clearance[cur, p - own.start] else 0.0)
                - EPS
            )
            for p in rivals
        }
        by_wait = {p: (float(wait_s[p]), -p) for p in own}
        if starved:
            target, reason = max(starved, key=by_wait.__getitem__), 4
        elif rivals:
            target = max(rivals, key=lambda p: (-kept_soon[p], *by_wait[p]))
            reason = 2
        if target == cur:
            continue
        if target == asked:
            reason = 3 if demand[cur] else 1
        end_reason[s] = reason

        # 5. switch, through yellow / all-red when some green link would turn red, first through
        #    the pedestrian clearance when a crossing that ends has people waiting or walking
        #    (a green that continues the vehicle green needs no vehicle clearance and counts as
        #    shown since its links' green began)
        goes_on = bool(continues[cur, target - own.start])
        clear = bool(needs_clearance[cur, target - own.start]) and not goes_on
        t_stage_s[s] = 0.0
        if ped_present[cur] and ped_clear_s[cur, target - own.start] > 0.0:
            next_p[s] = target
            stage[s] = PED_CLEAR
        elif clear and (yellow_s[s] > 0.0 or all_red_s[s] > 0.0):
            next_p[s] = target
            stage[s] = YELLOW if yellow_s[s] > 0.0 else ALL_RED
        else:
            restart_changed(s, cur, target)
            cur_p[s] = target
            next_p[s] = target
            wait_s[target] = 0.0
            if goes_on:
                t_stage_s[s] = vehicle_green_s(s, target)
        changed[s] = True


def phase_demand_ref(
    phase_lane_ptr: NDArray[np.int64],
    phase_lane_idx: NDArray[np.int64],
    queue_veh: NDArray[np.int32],
    near_veh: NDArray[np.int32],
    out: NDArray[np.bool_],
) -> None:
    """Twin of ``sim.timing.phase_demand_kernel``."""
    for p in range(len(out)):
        lanes = phase_lane_idx[phase_lane_ptr[p] : phase_lane_ptr[p + 1]]
        out[p] = any(queue_veh[lane] > 0 or near_veh[lane] > 0 for lane in lanes)


# --------------------------------------------------------------------------------------------
# sim.metrics


def approach_sum_ref(
    lane_approach: NDArray[np.int64], halting_veh: NDArray[np.int32], out: NDArray[np.int32]
) -> None:
    """Twin of ``sim.metrics.approach_sum_kernel``."""
    for a in range(len(out)):
        out[a] = sum(int(h) for h, la in zip(halting_veh, lane_approach, strict=True) if la == a)


# --------------------------------------------------------------------------------------------
# controllers.kernels


def lane_demand_ref(
    queue_veh: NDArray[np.int32], near_veh: NDArray[np.int32], out: NDArray[np.float64]
) -> None:
    """Twin of ``controllers.kernels.lane_demand``."""
    for i in range(len(out)):
        out[i] = float(max(int(queue_veh[i]), int(near_veh[i])))


def phase_sum_ref(
    ptr: NDArray[np.int64],
    idx: NDArray[np.int64],
    values: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Twin of ``controllers.kernels.phase_sum`` (summed left to right, like the kernel)."""
    for p in range(len(out)):
        acc = 0.0
        for k in idx[ptr[p] : ptr[p + 1]]:
            acc += float(values[k])
        out[p] = acc


def mask_blocked_lanes_ref(
    move_in_lane: NDArray[np.int64],
    move_out_lane: NDArray[np.int64],
    queue_veh: NDArray[np.int32],
    capacity_veh: NDArray[np.float64],
    full_ratio: float,
    free_moves: NDArray[np.int64],
    lane_need: NDArray[np.float64],
) -> None:
    """Twin of ``controllers.kernels.mask_blocked_lanes``: a lane with movements, none of whose
    exits holds fewer than ``max(1, floor(full_ratio * capacity))`` halting vehicles, gets 0."""
    lanes = {int(x) for x in move_in_lane}
    for lane in lanes:
        exits = [int(o) for i, o in zip(move_in_lane, move_out_lane, strict=True) if i == lane]
        if all(queue_veh[o] >= max(1.0, np.floor(full_ratio * capacity_veh[o])) for o in exits):
            lane_need[lane] = 0.0


def phase_max_ref(
    ptr: NDArray[np.int64],
    idx: NDArray[np.int64],
    values: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Twin of ``controllers.kernels.phase_max``: 0 for an empty row, never below 0."""
    for p in range(len(out)):
        out[p] = max([0.0, *(float(values[k]) for k in idx[ptr[p] : ptr[p + 1]])])


# --------------------------------------------------------------------------------------------
# controllers.count


def count_ref(
    phase_ptr: NDArray[np.int64],
    phase_lane_ptr: NDArray[np.int64],
    phase_lane_idx: NDArray[np.int64],
    permissive: NDArray[np.bool_],
    lane_need: NDArray[np.float64],
    phase_need: NDArray[np.float64],
    moving_veh: NDArray[np.int32],
    queue_veh: NDArray[np.int32],
    lane_full: NDArray[np.bool_],
    cur_p: NDArray[np.int64],
    stage: NDArray[np.int8],
    t_stage_s: NDArray[np.float64],
    min_green_s: NDArray[np.float64],
    max_green_s: NDArray[np.float64],
    extend_veh: float,
    yield_ratio: float,
    yield_min_s: float,
    sparse_veh_per_lane: float,
    lane_mark: NDArray[np.bool_],
    continuation: NDArray[np.int64],
    wait_s: NDArray[np.float64],
    starve_due_s: NDArray[np.float64],
    out: NDArray[np.int64],
) -> None:
    """Twin of ``controllers.count.count_kernel`` (same parameter names; keep them in step).

    Per signal: keep the green (-1) during a clearance or before min green. Otherwise find the
    other phase releasing the most vehicles on lanes the current green does not serve (a lane
    it shows only permissive, ``permissive``, that is ``lane_full`` with no moving vehicle is
    not served), plus its
    ``phase_need`` (pedestrians; the current green's adds to its own need) (lowest
    index on ties; none when no such vehicles); request it unless more than ``extend_veh`` served
    vehicles still move and max green is not reached, unless the cut is on (``yield_ratio`` > 0),
    the green has lasted ``yield_min_s`` (or serves arrivals only: no ``queue_veh`` on the lanes
    it shows protected, fewer ``moving_veh`` than ``sparse_veh_per_lane`` times its lane rows)
    and that phase's vehicles exceed ``yield_ratio`` times the current green's. A green held so
    asks for its ``continuation`` (-1: keep it as it is).
    A switch goes instead to the other phase with vehicles to release (need above 0) and the
    longest ``wait_s`` of at least the signal's ``starve_due_s``, if any (lowest index on ties).
    ``lane_mark`` is the kernel's scratch array and stays all False.
    """

    def lanes(p: int) -> list[int]:
        return [int(x) for x in phase_lane_idx[phase_lane_ptr[p] : phase_lane_ptr[p + 1]]]

    for s in range(len(out)):
        out[s] = -1
        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s]:
            continue
        cur = int(cur_p[s])
        moving = sum(float(moving_veh[lane]) for lane in lanes(cur))
        # a lane the green shows only permissive, full and standing still is not served by it
        rows = range(int(phase_lane_ptr[cur]), int(phase_lane_ptr[cur + 1]))
        served = {
            int(phase_lane_idx[k])
            for k in rows
            if not (
                permissive[k]
                and lane_full[phase_lane_idx[k]]
                and moving_veh[phase_lane_idx[k]] == 0
            )
        }
        cur_need = sum(float(lane_need[lane]) for lane in served) + float(phase_need[cur])
        need: dict[int, float] = {}
        for p in range(phase_ptr[s], phase_ptr[s + 1]):
            if p != cur:
                acc = float(phase_need[p])
                for lane in lanes(p):
                    if lane not in served:
                        acc += float(lane_need[lane])
                need[p] = acc
        wanted = [p for p, v in need.items() if v > 0.0]
        if not wanted:
            continue
        best = max(wanted, key=lambda p: (need[p], -p))
        rows_cur = list(rows)
        arrivals = sum(
            int(queue_veh[phase_lane_idx[k]]) for k in rows_cur if not permissive[k]
        ) == 0 and moving < sparse_veh_per_lane * len(rows_cur)
        cut = (
            yield_ratio > 0
            and (t_stage_s[s] >= yield_min_s or arrivals)
            and need[best] > yield_ratio * cur_need
        )
        if moving > extend_veh and t_stage_s[s] < max_green_s[s] and not cut:
            out[s] = continuation[cur]
            continue
        due = [p for p in need if need[p] > 0.0 and wait_s[p] >= starve_due_s[s]]
        if due:
            best = max(due, key=lambda p: (float(wait_s[p]), -p))
        out[s] = best


# --------------------------------------------------------------------------------------------
# synthetic layouts for the kernels


@dataclass(frozen=True)
class SignalSet:
    """Signals with their green phases and timings, as the timing kernel sees them.

    ``links`` [n_phases, max_links]: link ``k`` of the phase's signal is 0 red, 1 permissive
    green ``g``, 2 priority green ``G``; ``needs_clearance`` [n_phases, max_greens] and
    ``link_kind`` [n_phases, max_links] follow from it as in ``sim.layout`` / ``sim.timing``;
    timing arrays [n_signals] in seconds.
    """

    phase_ptr: NDArray[np.int64]
    links: NDArray[np.int8]
    min_green_s: NDArray[np.float64]
    max_green_s: NDArray[np.float64]
    yellow_s: NDArray[np.float64]
    all_red_s: NDArray[np.float64]
    max_wait_s: NDArray[np.float64]
    ped_clear_s: NDArray[np.float64] | None = None  # [n_phases, max_greens]; None: no crossing
    ped_mask: NDArray[np.bool_] | None = None  # [max_links] links that are crossings; None: none

    @property
    def n_signals(self) -> int:
        return len(self.phase_ptr) - 1

    @property
    def n_phases(self) -> int:
        return int(self.phase_ptr[-1])

    def greens(self, s: int) -> range:
        return range(int(self.phase_ptr[s]), int(self.phase_ptr[s + 1]))

    def signal_of(self, p: int) -> int:
        return int(np.searchsorted(self.phase_ptr, p, side="right") - 1)

    @property
    def needs_clearance(self) -> NDArray[np.bool_]:
        """Some link green in ``p`` is not green in local green ``j``."""
        width = int(np.diff(self.phase_ptr).max())
        out = np.zeros((self.n_phases, width), dtype=np.bool_)
        for p in range(self.n_phases):
            for j, q in enumerate(self.greens(self.signal_of(p))):
                out[p, j] = bool(((self.links[p] > 0) & (self.links[q] == 0)).any())
        return out

    @property
    def continues(self) -> NDArray[np.bool_]:
        """Local green ``j`` keeps every vehicle link of ``p`` as it is, opens no crossing and
        closes at least one (``sim.layout.NetworkLayout.continues``)."""
        width = int(np.diff(self.phase_ptr).max())
        out = np.zeros((self.n_phases, width), dtype=np.bool_)
        if self.ped_mask is None:
            return out
        ped = self.ped_mask
        for p in range(self.n_phases):
            for j, q in enumerate(self.greens(self.signal_of(p))):
                a, b = self.links[p], self.links[q]
                out[p, j] = bool(
                    (a[~ped] == b[~ped]).all()
                    and not ((a == 0) & (b > 0) & ped).any()
                    and ((a > 0) & (b == 0) & ped).any()
                )
        return out

    @property
    def covers(self) -> NDArray[np.bool_]:
        """Local green ``j`` shows every timed link of ``p``, as protected or more."""
        kind = self.link_kind
        width = int(np.diff(self.phase_ptr).max())
        out = np.zeros((self.n_phases, width), dtype=np.bool_)
        for p in range(self.n_phases):
            for j, q in enumerate(self.greens(self.signal_of(p))):
                out[p, j] = all(
                    kind[q, k] >= kind[p, k] for k in range(kind.shape[1]) if kind[p, k]
                )
        return out

    @property
    def link_kind(self) -> NDArray[np.int8]:
        """``links`` with the links green in every green of the signal set to 0 (exempt)."""
        out = self.links.astype(np.int8)
        for s in range(self.n_signals):
            g = slice(self.greens(s).start, self.greens(s).stop)
            out[g, (self.links[g] > 0).all(axis=0)] = 0
        return out

    def static(self) -> tuple[NDArray[np.int64] | NDArray[np.bool_] | NDArray[np.float64], ...]:
        """The kernel's static arguments after ``dt_s``, in order."""
        return (
            self.phase_ptr,
            self.needs_clearance,
            self.continues,
            self.link_kind,
            self.covers,
            self.min_green_s,
            self.max_green_s,
            self.yellow_s,
            self.all_red_s,
            self.max_wait_s,
            self.ped_clear,
        )

    @property
    def ped_clear(self) -> NDArray[np.float64]:
        """Pedestrian clearance [n_phases, max_greens] of a switch p -> local green j [s]."""
        if self.ped_clear_s is not None:
            return self.ped_clear_s
        return np.zeros(self.needs_clearance.shape)

    def clearance_steps(self, s: int, dt_s: float) -> tuple[int, int]:
        """Steps of yellow and of all-red a clearance of signal ``s`` lasts (0 when unset)."""

        def steps(x: float) -> int:
            return 0 if x <= 0.0 else max(1, math.ceil((x - EPS) / dt_s))

        return steps(float(self.yellow_s[s])), steps(float(self.all_red_s[s]))


def ptr_of(counts: list[int]) -> NDArray[np.int64]:
    """CSR row pointer [len(counts) + 1] from row lengths."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


# times in seconds: multiples of 0.5 plus a few that are not whole steps
TIMES_S = st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 2.7])
CLEARANCE_S = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 2.7])


@st.composite
def signal_sets(
    draw: st.DrawFn, max_signals: int = 4, max_greens: int = 6, peds: bool = False
) -> SignalSet:
    """Random signals with 1..``max_greens`` greens over 1..6 links, each link red, ``g`` or
    ``G`` per green (greens may overlap, nest, repeat, or share links green in every green),
    and random timings; with ``peds`` a pedestrian clearance on some switches that need a
    clearance (a crossing of the green left ends)."""
    n_sig = draw(st.integers(1, max_signals))
    counts = [draw(st.integers(1, max_greens)) for _ in range(n_sig)]
    n_links = [draw(st.integers(1, 6)) for _ in range(n_sig)]
    rows = []
    for n_g, n_l in zip(counts, n_links, strict=True):
        for _ in range(n_g):
            row = draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=n_l, max_size=n_l))
            rows.append(row + [0] * (max(n_links) - n_l))
    links = np.array(rows, dtype=np.int8)
    min_g = np.array([draw(TIMES_S) for _ in range(n_sig)])
    max_g = min_g + np.array([draw(st.sampled_from([0.0, 1.0, 5.0, 10.0, 20.0])) for _ in counts])
    yellow = np.array([draw(CLEARANCE_S) for _ in range(n_sig)])
    all_red = np.array([draw(CLEARANCE_S) for _ in range(n_sig)])
    max_wait = np.array([draw(st.sampled_from([1.0, 5.0, 15.0, 30.0, 60.0])) for _ in counts])
    sig = SignalSet(ptr_of(counts), links, min_g, max_g, yellow, all_red, max_wait)
    if not peds:
        return sig
    need = sig.needs_clearance
    ped = np.zeros(need.shape)
    for p, j in zip(*np.nonzero(need), strict=True):
        ped[p, j] = draw(st.sampled_from([0.0, 2.0, 5.5, 10.0, 2.7]))
    # some link positions are crossings: greens differing only there continue each other
    mask = np.array([draw(st.booleans()) for _ in range(links.shape[1])], dtype=np.bool_)
    return SignalSet(ptr_of(counts), links, min_g, max_g, yellow, all_red, max_wait, ped, mask)


@st.composite
def csr_rows(
    draw: st.DrawFn,
    max_rows: int = 12,
    max_cols: int = 10,
    n_rows: int | None = None,
    unique: bool = False,
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """CSR rows (``ptr`` [n_rows + 1], ``idx`` [nnz]) over ``n_cols`` columns; rows may be empty
    and, unless ``unique`` (as a layout's lanes of a phase: a set), may repeat a column.
    ``n_rows`` fixes the number of rows. Returns (ptr, idx, n_cols)."""
    n_cols = draw(st.integers(1, max_cols))
    lo, hi = (0, max_rows) if n_rows is None else (n_rows, n_rows)
    rows = draw(
        st.lists(
            st.lists(st.integers(0, n_cols - 1), max_size=6, unique=unique),
            min_size=lo,
            max_size=hi,
        )
    )
    idx = np.array([c for r in rows for c in r], dtype=np.int64)
    return ptr_of([len(r) for r in rows]), idx, n_cols


def holding_lanes_ref(
    phase_lane_ptr: NDArray[np.int64],
    phase_lane_idx: NDArray[np.int64],
    cur_p: NDArray[np.int64],
    stage: NDArray[np.int8],
    t_stage_s: NDArray[np.float64],
    min_green_s: NDArray[np.float64],
    out: NDArray[np.int64],
) -> int:
    """Twin of ``controllers.count.holding_lanes_kernel``: the lanes of every green shown for at
    least its min green (minus 1e-9 s), signal by signal, written into ``out[:n]``."""
    lanes = [
        int(lane)
        for s in range(len(cur_p))
        if stage[s] == GREEN and t_stage_s[s] >= min_green_s[s] - EPS
        for lane in phase_lane_idx[phase_lane_ptr[cur_p[s]] : phase_lane_ptr[cur_p[s] + 1]]
    ]
    out[: len(lanes)] = lanes
    return len(lanes)
