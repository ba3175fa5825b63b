"""Behaviour of the ``count`` controller's rules on a hand-built signal (``controllers/count.py``).

One signal with three greens over four incoming lanes: green 0 serves lanes 0 and 1, green 1
lane 2, green 2 lane 3 (a variant lets green 1 also serve lane 0). The kernels are called with
hand-made arrays; each expected request follows from the rule in the module docstring of
``controllers/count.py``. Defaults: min green 5 s, max green 60 s, ``extend_veh`` 0,
``yield_ratio`` 2, ``yield_min_s`` 20 s, ``sparse_veh_per_lane`` 0.5 with every vehicle of a lane's
need halting unless a test says otherwise, no phase near the starvation bound (``max_wait_s``
120 s, min green 5 s and a 5 s clearance: a phase is due after 110 s); ``-1`` means "keep the
current green".
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from controllers.count import count_kernel
from controllers.kernels import mask_blocked_lanes
from sim.timing import ALL_RED, GREEN, YELLOW

PHASE_PTR = np.array([0, 3], dtype=np.int64)
LANES_OF = [[0, 1], [2], [3]]  # incoming lanes each green serves


def decide(
    need: list[float],
    moving: list[int],
    t_stage_s: float = 10.0,
    stage: int = GREEN,
    lanes_of: list[list[int]] | None = None,
    extend_veh: float = 0.0,
    yield_ratio: float = 2.0,
    yield_min_s: float = 20.0,
    sparse_veh_per_lane: float = 0.5,
    queue: list[int] | None = None,
    max_green_s: float = 60.0,
    continuation: list[int] | None = None,
    wait_s: list[float] | None = None,
    starve_due_s: float = 110.0,
    permissive: list[list[bool]] | None = None,
    full: list[bool] | None = None,
) -> int:
    """The request of green 0's signal for lanes 0-3 with ``need`` vehicles (max of halting and
    near), ``moving`` vehicles in the gap range and ``queue`` halting vehicles (default: the
    whole need halts)."""
    rows = lanes_of or LANES_OF
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    idx = np.array([x for r in rows for x in r], dtype=np.int64)
    mark = np.zeros(len(need), dtype=np.bool_)
    out = np.full(1, -7, dtype=np.int64)
    count_kernel(
        PHASE_PTR,
        ptr,
        idx,
        np.array(
            [x for r in (permissive or [[False] * len(r) for r in rows]) for x in r], dtype=np.bool_
        ),
        np.array(need, dtype=np.float64),
        np.zeros(int(PHASE_PTR[-1])),  # no pedestrians
        np.array(moving, dtype=np.int32),
        np.array(need if queue is None else queue, dtype=np.int32),
        np.array(full or [False] * len(need), dtype=np.bool_),
        np.zeros(1, dtype=np.int64),  # green 0 is shown
        np.array([stage], dtype=np.int8),
        np.array([t_stage_s]),
        np.array([5.0]),
        np.array([max_green_s]),
        extend_veh,
        yield_ratio,
        yield_min_s,
        sparse_veh_per_lane,
        mark,
        np.array(continuation or [-1, -1, -1], dtype=np.int64),
        np.array(wait_s or [0.0, 0.0, 0.0]),
        np.array([starve_due_s]),  # 120 s max wait - (5 s min green + 3 s yellow + 2 s all-red)
        out,
    )
    assert not mark.any()  # the scratch array is left clean
    return int(out[0])


def test_the_green_holds_while_a_served_vehicle_moves() -> None:
    assert decide([2, 0, 5, 0], [1, 0, 0, 0]) == -1
    assert decide([2, 0, 5, 0], [0, 3, 0, 0]) == -1


def test_the_green_gaps_out_when_no_served_vehicle_moves() -> None:
    assert decide([2, 0, 5, 0], [0, 0, 4, 0]) == 1  # vehicles moving elsewhere do not hold it


def test_extend_veh_is_the_number_of_moving_vehicles_that_no_longer_holds() -> None:
    assert decide([0, 0, 5, 0], [2, 0, 0, 0], extend_veh=2.0) == 1
    assert decide([0, 0, 5, 0], [3, 0, 0, 0], extend_veh=2.0) == -1


def test_the_phase_releasing_the_most_vehicles_wins_and_an_empty_phase_is_skipped() -> None:
    assert decide([0, 0, 0, 4], [0, 0, 0, 0]) == 2  # green 1 has nobody: skipped
    assert decide([0, 0, 3, 4], [0, 0, 0, 0]) == 2
    assert decide([0, 0, 5, 4], [0, 0, 0, 0]) == 1


def test_a_tie_goes_to_the_lowest_index() -> None:
    assert decide([0, 0, 4, 4], [0, 0, 0, 0]) == 1


def test_only_vehicles_the_current_green_does_not_release_already_count() -> None:
    overlap = [[0, 1], [0, 2], [3]]  # green 1 also serves lane 0, which is green now
    assert decide([9, 0, 1, 2], [0, 0, 0, 0], lanes_of=overlap) == 2


def test_a_green_held_for_its_vehicles_goes_on_without_its_crossings() -> None:
    """Green 0 has a variant without its crossings (say green 2, serving the same lanes): held
    for its moving vehicles while another green waits, it asks for that variant; when it would
    end anyway, or nothing else waits, it does not."""
    same = [[0, 1], [2], [0, 1]]
    cont = [2, -1, -1]
    assert decide([2, 0, 5, 0], [1, 0, 0, 0], lanes_of=same, continuation=cont) == 2
    assert decide([2, 0, 5, 0], [0, 0, 0, 0], lanes_of=same, continuation=cont) == 1
    assert decide([2, 0, 0, 0], [1, 0, 0, 0], lanes_of=same, continuation=cont) == -1
    # a green cut by the yield rule goes to the waiting green, not to the variant
    cut = decide([1, 0, 9, 0], [1, 0, 0, 0], t_stage_s=25.0, lanes_of=same, continuation=cont)
    assert cut == 1


def test_with_no_competing_demand_the_green_rests() -> None:
    assert decide([6, 3, 0, 0], [0, 0, 0, 0]) == -1
    assert decide([6, 3, 0, 0], [0, 0, 0, 0], t_stage_s=500.0) == -1  # even past max green


def test_max_green_ends_a_discharging_green() -> None:
    assert decide([2, 0, 1, 0], [1, 0, 0, 0], t_stage_s=59.0) == -1
    assert decide([2, 0, 1, 0], [1, 0, 0, 0], t_stage_s=60.0) == 1


@pytest.mark.parametrize(("stage", "t_stage_s"), [(GREEN, 4.9), (YELLOW, 30.0), (ALL_RED, 30.0)])
def test_nothing_is_asked_before_min_green_or_during_a_clearance(
    stage: int, t_stage_s: float
) -> None:
    assert decide([0, 0, 5, 0], [0, 0, 0, 0], t_stage_s=t_stage_s, stage=stage) == -1


@pytest.mark.parametrize(
    ("need", "t_stage_s", "yield_ratio", "expected"),
    [
        ([2, 1, 7, 0], 20.0, 2.0, 1),  # 7 > 2 x 3 after 20 s: cut
        ([2, 1, 7, 0], 19.0, 2.0, -1),  # too early
        ([2, 1, 6, 0], 30.0, 2.0, -1),  # 6 is not more than 2 x 3
        ([2, 1, 7, 0], 30.0, 0.0, -1),  # yield_ratio 0: the cut is off
        ([0, 0, 1, 0], 20.0, 2.0, 1),  # the current green serves nobody waiting: 1 > 0
    ],
)
def test_a_discharging_green_yields_to_a_much_longer_queue(
    need: list[float], t_stage_s: float, yield_ratio: float, expected: int
) -> None:
    moving = [1, 0, 0, 0]  # green 0 is still discharging
    assert decide(need, moving, t_stage_s=t_stage_s, yield_ratio=yield_ratio) == expected


def test_a_green_serving_only_sparse_arrivals_yields_from_min_green() -> None:
    """A green serving lanes 0, 1 and 3 has released its queue: nothing halts on its lanes and
    one vehicle moves in the gap range, fewer than 0.5 per served lane (1 < 1.5). It serves
    arrivals only and is cut at 10 s, before ``yield_min_s``, for a green waiting with more
    than twice its need."""
    three = [[0, 1, 3], [2], [3]]
    arrivals = {"lanes_of": three, "queue": [0, 0, 5, 0]}
    assert decide([1, 0, 5, 0], [1, 0, 0, 0], **arrivals) == 1
    # two served lanes: 1 moving is not fewer than 0.5 x 2, the green is still discharging
    assert decide([1, 0, 5, 0], [1, 0, 0, 0], queue=[0, 0, 5, 0]) == -1
    # a vehicle still halting on a served lane: the queue it found is not released yet
    assert decide([1, 1, 5, 0], [1, 0, 0, 0], lanes_of=three, queue=[0, 1, 5, 0]) == -1
    # ... unless that lane is shown only permissive (its vehicles wait for gaps, not for green)
    perm = [[False, True, False], [False], [False]]
    assert (
        decide([1, 1, 5, 0], [1, 0, 0, 0], lanes_of=three, queue=[0, 1, 5, 0], permissive=perm) == 1
    )
    # the waiting green must still have more than yield_ratio x the current need
    assert decide([1, 0, 2, 0], [1, 0, 0, 0], **arrivals) == -1
    # off with 0, and never before min green
    assert decide([1, 0, 5, 0], [1, 0, 0, 0], sparse_veh_per_lane=0.0, **arrivals) == -1
    assert decide([1, 0, 5, 0], [1, 0, 0, 0], t_stage_s=4.0, **arrivals) == -1


# --------------------------------------------------------------------------------------------
# spillback guard: a lane whose every exit is full needs no green


def blocked_need(
    exit_queue_veh: list[int], exit_capacity_veh: list[float], need: list[float] | None = None
) -> list[float]:
    """Needs of lanes 0-3 and exits 4-5 after the mask: lane 2 leads only into exit 4; lane 3
    into exits 4 and 5; lanes 0 and 1 into exit 5. By default every incoming lane needs 5."""
    move_in = np.array([0, 1, 2, 3, 3], dtype=np.int64)
    move_out = np.array([5, 5, 4, 4, 5], dtype=np.int64)
    queue = np.array([5, 5, 5, 5, *exit_queue_veh], dtype=np.int32)
    capacity = np.array([20.0] * 4 + exit_capacity_veh)
    out = np.array(need if need is not None else [5.0] * 4 + [0.0, 0.0])
    mask_blocked_lanes(move_in, move_out, queue, capacity, 0.8, np.zeros(6, dtype=np.int64), out)
    return out.tolist()


def test_a_lane_whose_only_exit_is_full_needs_nothing() -> None:
    # exit 4 holds 10 vehicles: full at floor(0.8 x 10) = 8 halting
    assert blocked_need([7, 0], [10.0, 10.0])[:4] == [5, 5, 5, 5]
    assert blocked_need([8, 0], [10.0, 10.0])[:4] == [5, 5, 0, 5]  # lane 3 still has exit 5
    assert blocked_need([8, 8], [10.0, 10.0])[:4] == [0, 0, 0, 0]


def test_one_stopped_car_fills_a_short_connector() -> None:
    assert blocked_need([1, 0], [1.2, 10.0])[:4] == [5, 5, 0, 5]


def test_with_its_exit_full_the_longest_queue_is_skipped() -> None:
    need = [5.0, 5.0, 9.0, 5.0, 0.0, 0.0]  # lane 2 would win with 9 vehicles
    assert decide(need, [0] * 6) == 1
    assert decide(blocked_need([8, 0], [10.0, 10.0], need), [0] * 6) == 2


def test_a_switch_goes_to_a_phase_the_starvation_bound_would_soon_force() -> None:
    # green 0 gaps out; green 1 has the most vehicles, green 2 has waited 110 s: the bound would
    # cut green 1 at its min green to serve green 2, so green 2 goes first
    assert decide([0, 0, 5, 1], [0, 0, 0, 0], wait_s=[0, 40, 110]) == 2
    assert decide([0, 0, 5, 1], [0, 0, 0, 0], wait_s=[0, 40, 109]) == 1  # not due yet
    # of two due phases, the one that waited longer
    assert decide([0, 0, 5, 1], [0, 0, 0, 0], wait_s=[0, 115, 112]) == 1
    assert decide([0, 0, 1, 5], [0, 0, 0, 0], wait_s=[0, 115, 112]) == 1
    # a due phase with nobody to release (its lanes empty or into full exits) is not asked for
    assert decide([0, 0, 5, 0], [0, 0, 0, 0], wait_s=[0, 40, 115]) == 1
    # a green held for its moving vehicles is not ended early for it (the bound does that)
    assert decide([0, 0, 5, 1], [1, 0, 0, 0], wait_s=[0, 40, 115]) == -1
    # a cut by the yield rule goes to the due phase too
    assert decide([1, 0, 5, 1], [1, 0, 0, 0], t_stage_s=25.0, wait_s=[0, 0, 111]) == 2


def test_a_full_permissive_lane_standing_still_counts_for_the_green_that_protects_it() -> None:
    # green 0 shows lane 1 only permissive (left-turners yielding to oncoming traffic); green 1
    # serves lane 1 protected (a variant row: lane 1 and lane 2)
    rows = [[0, 1], [1, 2], [3]]
    perm = [[False, True], [False, False], [False]]
    full = [False, True, False, False]
    # lane 0 gaps out, lane 1 is full and nobody on it moves: its 6 count for green 1 (6 + 1 > 4)
    assert decide([0, 6, 1, 4], [0, 0, 0, 0], lanes_of=rows, permissive=perm, full=full) == 1
    # not yet full (left-turners waiting for their next gap): green 0 serves it, green 2 wins
    assert decide([0, 6, 1, 4], [0, 0, 0, 0], lanes_of=rows, permissive=perm) == 2
    # shown protected ('G') in green 0, the lane is green already: green 2 wins
    assert decide([0, 6, 1, 4], [0, 0, 0, 0], lanes_of=rows, full=full) == 2
    # left-turners moving through gaps are being served: they hold the green
    assert decide([0, 6, 1, 4], [0, 1, 0, 0], lanes_of=rows, permissive=perm, full=full) == -1
    # the standing full lane is not green 0's own need for the yield cut: past 20 s, lane 0's
    # 1 against green 1's 6 cuts green 0 (6 > 2 x 1); counted as served, 7 holds it
    kw = {"lanes_of": rows, "t_stage_s": 25.0, "full": full}
    assert decide([1, 6, 0, 3], [1, 0, 0, 0], permissive=perm, **kw) == 1
    assert decide([1, 6, 0, 3], [1, 0, 0, 0], **kw) == -1


def test_a_lane_is_full_from_its_share_of_capacity_and_never_from_one_vehicle() -> None:
    """``Count._full_lanes``: ``max(2, floor(full_ratio * capacity))`` halting vehicles. A 12 m
    connector (capacity 1.6) with one turner waiting is not full; a 75 m lane (10) is from 8."""
    import controllers

    ctl = controllers.create("count")  # full_ratio 0.8
    ctl._full_at, ctl._lane_full = None, np.zeros(2, dtype=np.bool_)
    cap = np.array([1.6, 10.0])
    state = SimpleNamespace(capacity_veh=cap, queue_veh=np.array([1, 7], dtype=np.int32))
    assert ctl._full_lanes(state).tolist() == [False, False]
    state.queue_veh = np.array([2, 8], dtype=np.int32)
    assert ctl._full_lanes(state).tolist() == [True, True]
