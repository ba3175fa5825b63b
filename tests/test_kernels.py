"""Every numba kernel equals its pure-Python twin in ``tests/reference.py``, exactly."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    EPS,
    GREEN,
    SignalSet,
    approach_sum_ref,
    constrain_ref,
    count_ref,
    csr_rows,
    lane_demand_ref,
    mask_blocked_lanes_ref,
    phase_demand_ref,
    phase_sum_ref,
    signal_sets,
)

from controllers.count import count_kernel, holding_lanes_kernel
from controllers.kernels import lane_demand, mask_blocked_lanes, phase_sum
from sim.metrics import approach_sum_kernel
from sim.timing import constrain_kernel, phase_demand_kernel

SETTINGS = settings(max_examples=60, deadline=None)
COUNTS = st.integers(0, 40)


def counts(n: int, draw: st.DrawFn) -> np.ndarray:
    """int32 vehicle counts [n], zeros likely (edge case: no vehicles at all)."""
    return np.array(draw(st.lists(COUNTS | st.just(0), min_size=n, max_size=n)), dtype=np.int32)


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --------------------------------------------------------------------------------------------
# sim.timing.constrain_kernel


def initial_state(sig: SignalSet, rng: np.random.Generator, random: bool) -> dict[str, Any]:
    """In/out arrays of the timing kernel: the runner's start state, or an arbitrary valid one."""
    lo = sig.phase_ptr[:-1].copy()
    n = sig.n_signals
    cur = lo.copy()
    nxt = lo.copy()
    stage = np.zeros(n, dtype=np.int8)
    t = np.zeros(n)
    if random:
        n_g = np.diff(sig.phase_ptr)
        cur = lo + rng.integers(0, n_g)
        nxt = lo + rng.integers(0, n_g)
        stage = rng.integers(0, 3, n).astype(np.int8)
        nxt = np.where(stage == GREEN, cur, nxt)
        t = rng.integers(0, 30, n) * 0.5
    return {
        "cur_p": cur,
        "next_p": nxt,
        "stage": stage,
        "t_stage_s": t,
        "wait_s": rng.integers(0, 4, sig.n_phases) * 10.0 if random else np.zeros(sig.n_phases),
        "green_s": rng.integers(0, 8, (n, sig.links.shape[1])) * 5.0 * (sig.link_kind[cur] > 0)
        if random
        else np.zeros((n, sig.links.shape[1])),
        "changed": np.ones(n, dtype=np.bool_),
        "end_reason": np.zeros(n, dtype=np.int8),
    }


def random_request(sig: SignalSet, rng: np.random.Generator) -> np.ndarray:
    """A request per signal: -1, one of its greens, or a phase of another signal (ignored)."""
    out = np.empty(sig.n_signals, dtype=np.int64)
    for s in range(sig.n_signals):
        kind = rng.integers(0, 6)
        if kind == 0:
            out[s] = -1
        elif kind == 1:
            out[s] = rng.integers(0, sig.n_phases)
        else:
            g = sig.greens(s)
            out[s] = rng.integers(g.start, g.stop)
    return out


@given(
    sig=signal_sets(peds=True),
    seed=st.integers(0, 2**32 - 1),
    dt_s=st.sampled_from([1.0, 0.5]),
    random_start=st.booleans(),
)
@SETTINGS
def test_constrain_kernel_equals_twin(
    sig: SignalSet, seed: int, dt_s: float, random_start: bool
) -> None:
    rng = np.random.default_rng(seed)
    k_state = initial_state(sig, rng, random_start)
    r_state = {k: v.copy() for k, v in k_state.items()}
    p_demand = rng.uniform(0.1, 0.9)
    static = sig.static()
    box_max_s = rng.choice([0.0, 2.0, 5.0, 2.7], sig.n_signals)
    for step in range(150):
        request = random_request(sig, rng)
        demand = rng.random(sig.n_phases) < p_demand
        true_demand = rng.random(sig.n_phases) < p_demand
        present = rng.random(sig.n_phases) < 0.5  # people at a crossing the green serves
        box = (rng.random(sig.n_signals) < 0.5, box_max_s)  # vehicles left inside the junction
        constrain_kernel(
            request, demand, true_demand, dt_s, *static, present, *box, *k_state.values()
        )
        constrain_ref(
            request.copy(),
            demand.copy(),
            true_demand.copy(),
            dt_s,
            *static,
            present.copy(),
            box[0].copy(),
            box_max_s,
            *r_state.values(),
        )
        for key in k_state:
            np.testing.assert_array_equal(k_state[key], r_state[key], err_msg=f"{key} @{step}")


# --------------------------------------------------------------------------------------------
# sim.timing.phase_demand_kernel, controllers.kernels.phase_sum


@given(rows=csr_rows(), data=st.data())
@SETTINGS
def test_phase_demand_kernel_equals_twin(rows: Any, data: st.DataObject) -> None:
    ptr, idx, n_lanes = rows
    queue = counts(n_lanes, data.draw)
    near = counts(n_lanes, data.draw)
    got = np.ones(len(ptr) - 1, dtype=np.bool_)
    want = np.zeros(len(ptr) - 1, dtype=np.bool_)
    phase_demand_kernel(ptr, idx, queue, near, got)
    phase_demand_ref(ptr, idx, queue, near, want)
    np.testing.assert_array_equal(got, want)


VALUES = st.floats(-5.0, 1e6, allow_nan=False) | st.sampled_from([0.0, 0.1, 0.2, 0.3, 1e-12])


@given(rows=csr_rows(), data=st.data())
@SETTINGS
def test_phase_sum_equals_twin(rows: Any, data: st.DataObject) -> None:
    ptr, idx, n_cols = rows
    values = np.array(data.draw(st.lists(VALUES, min_size=n_cols, max_size=n_cols)))
    got = np.full(len(ptr) - 1, np.nan)
    want = np.full(len(ptr) - 1, -np.inf)
    phase_sum(ptr, idx, values, got)
    phase_sum_ref(ptr, idx, values, want)
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# controllers.kernels.lane_demand, sim.metrics.approach_sum_kernel


@given(data=st.data(), n=st.integers(0, 30))
@SETTINGS
def test_lane_demand_equals_twin(data: st.DataObject, n: int) -> None:
    queue = counts(n, data.draw)
    near = counts(n, data.draw)
    got = np.full(n, np.nan)
    want = np.full(n, -1.0)
    lane_demand(queue, near, got)
    lane_demand_ref(queue, near, want)
    np.testing.assert_array_equal(got, want)


@given(data=st.data(), n_lanes=st.integers(1, 12), n_moves=st.integers(0, 20))
@SETTINGS
def test_mask_blocked_lanes_equals_twin(data: st.DataObject, n_lanes: int, n_moves: int) -> None:
    lane = st.integers(0, n_lanes - 1)
    move_in = np.array(data.draw(st.lists(lane, min_size=n_moves, max_size=n_moves)), np.int64)
    move_out = np.array(data.draw(st.lists(lane, min_size=n_moves, max_size=n_moves)), np.int64)
    queue = counts(n_lanes, data.draw)
    capacity = np.array(
        data.draw(
            st.lists(st.sampled_from([1.0, 1.6, 4.0, 13.3]), min_size=n_lanes, max_size=n_lanes)
        )
    )
    ratio = data.draw(st.sampled_from([0.5, 0.8, 1.0]))
    need = np.array(data.draw(st.lists(NEED, min_size=n_lanes, max_size=n_lanes)))
    got, want = need.copy(), need.copy()
    mask_blocked_lanes(move_in, move_out, queue, capacity, ratio, np.zeros(n_lanes, np.int64), got)
    mask_blocked_lanes_ref(
        move_in, move_out, queue, capacity, ratio, np.zeros(n_lanes, np.int64), want
    )
    np.testing.assert_array_equal(got, want)


@given(data=st.data(), n_lanes=st.integers(0, 30), n_app=st.integers(0, 8))
@SETTINGS
def test_approach_sum_kernel_equals_twin(data: st.DataObject, n_lanes: int, n_app: int) -> None:
    lane_approach = np.array(
        data.draw(st.lists(st.integers(-1, n_app - 1), min_size=n_lanes, max_size=n_lanes)),
        dtype=np.int64,
    )
    halting = counts(n_lanes, data.draw)
    got = np.full(n_app, 99, dtype=np.int32)  # stale values must be cleared
    want = np.full(n_app, -7, dtype=np.int32)
    approach_sum_kernel(lane_approach, halting, got)
    approach_sum_ref(lane_approach, halting, want)
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# controllers.count.count_kernel, compared by parameter name so a changed signature shows up as
# one clear failure: add a generator for the new parameter in count_args and to count_ref.

COUNT_PARAMS = list(inspect.signature(count_kernel.py_func).parameters)
NEED = st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 0.5]) | st.floats(0.0, 50.0)


@st.composite
def count_args(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments by name for a random set of signals: a pool the count kernel picks from.

    Holds the kernel's current parameters and likely neighbours (per-phase needs, queue and
    near counts), so a changed signature usually only needs ``count_ref`` updated.
    """
    sig = draw(signal_sets())
    n, n_ph = sig.n_signals, sig.n_phases
    # a phase's lanes are a set in every layout (NetworkLayout.from_parts)
    lane_ptr, lane_idx, n_lanes = draw(csr_rows(max_cols=12, n_rows=n_ph, unique=True))
    min_g = sig.min_green_s
    g = [sig.greens(s) for s in range(n)]
    need = np.array(draw(st.lists(NEED, min_size=n_lanes, max_size=n_lanes)))
    return {
        "phase_ptr": sig.phase_ptr,
        "phase_lane_ptr": lane_ptr,
        "phase_lane_idx": lane_idx,
        "permissive": np.array(
            draw(st.lists(st.booleans(), min_size=len(lane_idx), max_size=len(lane_idx))),
            dtype=np.bool_,
        ),
        "lane_need": need,
        "phase_need": np.array(draw(st.lists(NEED, min_size=n_ph, max_size=n_ph))),
        "queue_veh": counts(n_lanes, draw),
        "near_veh": counts(n_lanes, draw),
        "moving_veh": np.array(
            draw(st.lists(st.sampled_from([0, 0, 0, 1, 1, 2]), min_size=n_lanes, max_size=n_lanes)),
            dtype=np.int32,
        ),
        "lane_full": np.array(
            draw(st.lists(st.booleans(), min_size=n_lanes, max_size=n_lanes)), dtype=np.bool_
        ),
        "cur_p": np.array([draw(st.sampled_from(r)) for r in g], dtype=np.int64),
        "stage": np.array(
            draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=n, max_size=n))
        ).astype(np.int8),
        # around min and max green: below, exactly at, within the kernels' tolerance, above
        "t_stage_s": np.array(
            [
                draw(st.sampled_from([m - 1.0, m - EPS / 2, m, m + 0.5, x - EPS / 2, x, x + 1.0]))
                for m, x in zip(min_g, sig.max_green_s, strict=True)
            ]
        ),
        "min_green_s": min_g,
        "max_green_s": sig.max_green_s,
        "max_wait_s": sig.max_wait_s,
        "extend_veh": draw(st.sampled_from([0.0, 1.0, 2.0, 0.5])),
        "yield_ratio": draw(st.sampled_from([0.0, 0.0, 1.0, 2.0, 0.5])),
        "yield_min_s": draw(st.sampled_from([0.0, 5.0, 20.0])),
        "sparse_veh_per_lane": draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
        "lane_mark": np.zeros(n_lanes, dtype=np.bool_),
        # per green: another green of its signal (its variant without crossings) or none
        "continuation": np.array(
            [
                draw(
                    st.sampled_from(
                        [-1, -1, *g[int(np.searchsorted(sig.phase_ptr, p, "right")) - 1]]
                    )
                )
                for p in range(n_ph)
            ],
            dtype=np.int64,
        ),
        # phases' waits around the look-ahead point (due = 100 s here, or never)
        "wait_s": np.array(
            draw(
                st.lists(
                    st.sampled_from([0.0, 0.0, 50.0, 99.5, 100.0, 110.0]),
                    min_size=n_ph,
                    max_size=n_ph,
                )
            )
        ),
        "starve_due_s": np.array(
            draw(st.lists(st.sampled_from([100.0, np.inf]), min_size=n, max_size=n))
        ),
        "out": np.full(n, -5, dtype=np.int64),
    }


def test_count_twin_has_the_kernel_signature() -> None:
    assert list(inspect.signature(count_ref).parameters) == COUNT_PARAMS, (
        "count_kernel's parameters changed: update count_ref and count_args in the tests"
    )


@given(args=count_args())
@settings(max_examples=300, deadline=None)
def test_count_kernel_equals_twin(args: dict[str, Any]) -> None:
    missing = [p for p in COUNT_PARAMS if p not in args]
    assert not missing, f"count_args has no generator for count_kernel parameter(s) {missing}"
    k_args = {p: (v.copy() if isinstance(v, np.ndarray) else v) for p, v in args.items()}
    r_args = {p: (v.copy() if isinstance(v, np.ndarray) else v) for p, v in args.items()}
    count_kernel(*(k_args[p] for p in COUNT_PARAMS))
    count_ref(**{p: r_args[p] for p in COUNT_PARAMS})
    assert_same(k_args, r_args)


@given(args=count_args())
@settings(max_examples=300, deadline=None)
def test_count_reads_moving_only_on_the_holding_lanes(args: dict[str, Any]) -> None:
    """``count_kernel`` requests the same when ``moving_veh`` is 0 outside the lanes of
    ``holding_lanes_kernel`` (what ``Backend.read`` leaves there when told those lanes)."""
    full = {p: (v.copy() if isinstance(v, np.ndarray) else v) for p, v in args.items()}
    count_kernel(*(full[p] for p in COUNT_PARAMS))
    lanes = np.zeros(args["phase_lane_idx"].shape[0], dtype=np.int64)
    n = holding_lanes_kernel(
        args["phase_lane_ptr"],
        args["phase_lane_idx"],
        args["cur_p"],
        args["stage"],
        args["t_stage_s"],
        args["min_green_s"],
        lanes,
    )
    masked = {p: (v.copy() if isinstance(v, np.ndarray) else v) for p, v in args.items()}
    masked["moving_veh"][:] = 0
    masked["moving_veh"][lanes[:n]] = args["moving_veh"][lanes[:n]]
    count_kernel(*(masked[p] for p in COUNT_PARAMS))
    np.testing.assert_array_equal(masked["out"], full["out"])


@given(args=count_args())
@settings(max_examples=200, deadline=None)
def test_holding_lanes_kernel_equals_twin(args: dict[str, Any]) -> None:
    from reference import holding_lanes_ref

    keys = ("phase_lane_ptr", "phase_lane_idx", "cur_p", "stage", "t_stage_s", "min_green_s")
    got = np.full(args["phase_lane_idx"].shape[0], -1, dtype=np.int64)
    want = got.copy()
    n = holding_lanes_kernel(*(args[k] for k in keys), got)
    m = holding_lanes_ref(*(args[k] for k in keys), want)
    assert n == m
    np.testing.assert_array_equal(got[:n], want[:m])
