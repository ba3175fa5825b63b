"""The fault, gridlock and fallback kernels equal their twins in ``tests/reference_faults.py``."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import GREEN, SignalSet, csr_rows, signal_sets
from reference_faults import (
    apply_faults_ref,
    fallback_ref,
    mask_ref,
    red_wait_ref,
    stuck_ref,
    suspect_phase_ref,
    suspect_ref,
)

from sim.faults import (
    apply_faults_kernel,
    mask_kernel,
    red_wait_kernel,
    stuck_kernel,
    suspect_kernel,
    suspect_phase_kernel,
)
from sim.timing import constrain_kernel, fallback_kernel

SETTINGS = settings(max_examples=150, deadline=None)
PAIRS = [
    (apply_faults_kernel, apply_faults_ref),
    (suspect_kernel, suspect_ref),
    (mask_kernel, mask_ref),
    (suspect_phase_kernel, suspect_phase_ref),
    (stuck_kernel, stuck_ref),
    (red_wait_kernel, red_wait_ref),
    (fallback_kernel, fallback_ref),
]


def counts(rng: np.random.Generator, n: int, high: int = 6) -> np.ndarray:
    """int32 vehicle counts [n], about half of them 0."""
    return np.where(rng.random(n) < 0.5, 0, rng.integers(0, high + 1, n)).astype(np.int32)


def copies(arrays: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two independent copies of the arrays (kernel side, twin side)."""

    def one() -> dict[str, Any]:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}

    return one(), one()


def assert_same(a: dict[str, Any], b: dict[str, Any], where: str) -> None:
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key} {where}")


@pytest.mark.parametrize(("kernel", "twin"), PAIRS, ids=[k.__name__ for k, _ in PAIRS])
def test_twin_has_the_kernel_signature(kernel: Any, twin: Any) -> None:
    assert list(inspect.signature(twin).parameters) == list(
        inspect.signature(kernel.py_func).parameters
    ), f"{kernel.__name__}'s parameters changed: update {twin.__name__}"


# --------------------------------------------------------------------------------------------
# apply_faults_kernel (stateful: frozen)


@given(
    n_lanes=st.integers(0, 10),
    data=st.data(),
    mode=st.sampled_from([0, 1]),
    fresh=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_apply_faults_kernel_equals_twin(
    n_lanes: int, data: st.DataObject, mode: int, fresh: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    lanes = st.lists(st.integers(0, max(n_lanes - 1, 0)), unique=True, max_size=n_lanes)
    failed = np.array(sorted(data.draw(lanes)) if n_lanes else [], dtype=np.int64)
    frozen = np.full(len(failed), -1, dtype=np.int32)
    if not fresh:  # some detectors already stuck at a value
        frozen = np.where(rng.random(len(failed)) < 0.5, -1, rng.integers(1, 5, len(failed)))
        frozen = frozen.astype(np.int32)
    k_frozen, r_frozen = frozen.copy(), frozen.copy()
    for step in range(8):
        values = counts(rng, n_lanes)
        k_values, r_values = values.copy(), values.copy()
        apply_faults_kernel(failed, mode, k_frozen, k_values)
        apply_faults_ref(failed, mode, r_frozen, r_values)
        np.testing.assert_array_equal(k_values, r_values, err_msg=f"values @{step}")
        np.testing.assert_array_equal(k_frozen, r_frozen, err_msg=f"frozen @{step}")


# --------------------------------------------------------------------------------------------
# suspect_kernel (stateful: last readings, unchanged_s, suspect, ever)


@given(
    n_in=st.integers(0, 8),
    n_out=st.integers(0, 3),
    n_groups=st.integers(1, 3),
    dt_s=st.sampled_from([1.0, 0.5, 0.1]),
    after_steps=st.sampled_from([1, 2, 3, 5]),
    p_change=st.sampled_from([0.0, 0.05, 0.2, 0.6]),
    random_start=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_suspect_kernel_equals_twin(
    n_in: int,
    n_out: int,
    n_groups: int,
    dt_s: float,
    after_steps: int,
    p_change: float,
    random_start: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n_lanes = n_in + n_out
    lane_group = rng.integers(0, n_groups, n_in).astype(np.int64)
    # a threshold hit exactly by whole steps when dt_s is 1.0 or 0.5
    suspect_after_s = after_steps * dt_s if dt_s != 0.1 else float(after_steps)
    state = {
        "last_queue": np.zeros(n_in, dtype=np.int32),
        "last_near": np.zeros(n_in, dtype=np.int32),
        "unchanged_s": np.zeros(n_in),
        "quiet1_s": np.full(n_groups, -7.0),  # scratch: stale values must not matter
        "quiet2_s": np.full(n_groups, np.nan),
        "suspect": np.zeros(n_lanes, dtype=np.bool_),
        "ever": np.zeros(n_in, dtype=np.bool_),
    }
    if random_start:
        state["last_queue"] = counts(rng, n_in, 3)
        state["last_near"] = state["last_queue"] + counts(rng, n_in, 2)
        state["unchanged_s"] = rng.integers(0, 2 * after_steps + 1, n_in) * dt_s
        state["suspect"][:n_in] = rng.random(n_in) < 0.5
        state["ever"] = state["suspect"][:n_in] | (rng.random(n_in) < 0.3)
    k_state, r_state = copies(state)
    queue = state["last_queue"].copy()
    near = state["last_near"].copy()
    for step in range(3 * after_steps + 12):
        change = rng.random(n_in) < p_change
        queue = np.where(change, counts(rng, n_in, 3), queue).astype(np.int32)
        near = np.where(change, queue + counts(rng, n_in, 2), near).astype(np.int32)
        q_full = np.concatenate([queue, counts(rng, n_out)]).astype(np.int32)
        n_full = np.concatenate([near, counts(rng, n_out)]).astype(np.int32)
        got = suspect_kernel(lane_group, q_full, n_full, dt_s, suspect_after_s, *k_state.values())
        want = suspect_ref(lane_group, q_full, n_full, dt_s, suspect_after_s, *r_state.values())
        assert got == want, f"suspect count @{step}"
        assert_same(k_state, r_state, f"@{step}")


# --------------------------------------------------------------------------------------------
# mask_kernel, suspect_phase_kernel, stuck_kernel (stateless)


@given(n=st.integers(0, 12), seed=st.integers(0, 2**32 - 1), p=st.sampled_from([0.0, 0.5, 1.0]))
@SETTINGS
def test_mask_kernel_equals_twin(n: int, seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    suspect = rng.random(n) < p
    values = counts(rng, n)
    got, want = values.copy(), values.copy()
    mask_kernel(suspect, got)
    mask_ref(suspect, want)
    np.testing.assert_array_equal(got, want)


@given(rows=csr_rows(), seed=st.integers(0, 2**32 - 1), p=st.sampled_from([0.0, 0.3, 0.8, 1.0]))
@SETTINGS
def test_suspect_phase_kernel_equals_twin(rows: Any, seed: int, p: float) -> None:
    ptr, idx, n_lanes = rows
    suspect = np.random.default_rng(seed).random(n_lanes) < p
    got = np.full(len(ptr) - 1, -3, dtype=np.int8)
    want = np.full(len(ptr) - 1, 9, dtype=np.int8)
    suspect_phase_kernel(ptr, idx, suspect, got)
    suspect_phase_ref(ptr, idx, suspect, want)
    np.testing.assert_array_equal(got, want)


@given(
    n=st.integers(0, 10),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["random", "all_halting", "empty", "one_moving"]),
)
@SETTINGS
def test_stuck_kernel_equals_twin(n: int, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    veh = counts(rng, n)
    halting = (veh * rng.random(n)).astype(np.int32)  # never more halting than vehicles
    if kind == "all_halting":
        halting = veh.copy()
    elif kind == "empty":
        veh[:] = 0
        halting[:] = 0
    elif kind == "one_moving" and veh.sum() > 0:
        halting = veh.copy()
        halting[int(np.flatnonzero(veh)[0])] -= 1
    assert bool(stuck_kernel(veh, halting)) == stuck_ref(veh, halting)


# --------------------------------------------------------------------------------------------
# red_wait_kernel (stateful: red_wait_s)


@st.composite
def signals_with_lanes(draw: st.DrawFn) -> tuple[SignalSet, np.ndarray, np.ndarray, int, int]:
    """Signals, the lanes of each phase (CSR), n_lanes and n_in_lanes (<= n_lanes)."""
    sig = draw(signal_sets())
    ptr, idx, n_lanes = draw(csr_rows(max_cols=12, n_rows=sig.n_phases))
    n_in = draw(st.integers(0, n_lanes))
    return sig, ptr, idx, n_lanes, n_in


def random_greens(sig: SignalSet, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A current green per signal and a stage, mostly green."""
    cur = np.array([rng.integers(g.start, g.stop) for g in map(sig.greens, range(sig.n_signals))])
    stage = np.where(rng.random(sig.n_signals) < 0.6, GREEN, rng.integers(1, 3, sig.n_signals))
    return cur.astype(np.int64), stage.astype(np.int8)


@given(
    lanes=signals_with_lanes(),
    dt_s=st.sampled_from([1.0, 0.5, 0.1]),
    random_start=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_red_wait_kernel_equals_twin(
    lanes: Any, dt_s: float, random_start: bool, seed: int
) -> None:
    sig, ptr, idx, n_lanes, n_in = lanes
    rng = np.random.default_rng(seed)
    red_wait = rng.integers(0, 20, n_in) * dt_s if random_start else np.zeros(n_in)
    k_state = {"served": np.ones(n_lanes, dtype=np.bool_), "red_wait_s": red_wait.copy()}
    r_state = {"served": np.zeros(n_lanes, dtype=np.bool_), "red_wait_s": red_wait.copy()}
    cur, stage = random_greens(sig, rng)
    for step in range(12):
        if rng.random() < 0.3:
            cur, stage = random_greens(sig, rng)
        halting = counts(rng, n_lanes, 3)
        args = (ptr, idx, cur, stage, halting, dt_s)
        got = red_wait_kernel(*args, *k_state.values())
        want = red_wait_ref(*args, *r_state.values())
        assert got == want, f"largest red wait @{step}"
        assert_same(k_state, r_state, f"@{step}")


# --------------------------------------------------------------------------------------------
# fallback_kernel (stateful: wait_s, unserved_s), chained with the timing kernel as in a run


@given(
    sig=signal_sets(),
    dt_s=st.sampled_from([1.0, 0.5]),
    random_start=st.booleans(),
    p_suspect=st.sampled_from([0.3, 0.7, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_fallback_kernel_equals_twin(
    sig: SignalSet, dt_s: float, random_start: bool, p_suspect: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n, n_ph = sig.n_signals, sig.n_phases
    program_green_s = rng.choice([1.0, 3.0, 5.0, 10.0, 2.7], n_ph)
    fixed_wait_s = rng.choice([0.0, 2.0, 5.0, 12.0, 30.0, 3.3], n_ph)
    suspect_phase = np.where(rng.random(n_ph) < p_suspect, rng.integers(1, 3, n_ph), 0)
    suspect_phase = suspect_phase.astype(np.int8)
    state = {
        "cur_p": sig.phase_ptr[:-1].copy(),
        "next_p": sig.phase_ptr[:-1].copy(),
        "stage": np.zeros(n, dtype=np.int8),
        "t_stage_s": np.zeros(n),
        "wait_s": np.zeros(n_ph),
        "unserved_s": np.zeros(n_ph),
        "green_s": np.zeros((n, sig.links.shape[1])),
    }
    if random_start:
        state["cur_p"], state["stage"] = random_greens(sig, rng)
        state["next_p"] = np.where(
            state["stage"] == GREEN, state["cur_p"], random_greens(sig, rng)[0]
        )
        # around each current green's program time: below, exactly at, above
        state["t_stage_s"] = program_green_s[state["cur_p"]] + rng.choice([-dt_s, 0.0, 1.0], n)
        state["wait_s"] = rng.integers(0, 8, n_ph) * 5.0
        state["unserved_s"] = np.where(rng.random(n_ph) < 0.3, fixed_wait_s, state["wait_s"])
    k_state, r_state = copies(state)
    timing = (
        sig.needs_clearance,
        sig.continues,
        sig.link_kind,
        sig.covers,
        sig.min_green_s,
        sig.max_green_s,
        sig.yellow_s,
        sig.all_red_s,
        sig.max_wait_s,
        sig.ped_clear,
        np.zeros(n_ph, dtype=np.bool_),  # no pedestrian anywhere
        np.zeros(n, dtype=np.bool_),  # junction boxes clear
        np.zeros(n),
    )
    for step in range(60):
        if rng.random() < 0.05:  # detectors recover or fail during the run
            suspect_phase = rng.integers(0, 3, n_ph).astype(np.int8)
        request = np.where(
            rng.random(n) < 0.3,
            -1,
            [rng.integers(g.start, g.stop) for g in map(sig.greens, range(n))],
        ).astype(np.int64)
        demand = rng.random(n_ph) < 0.4
        for side, (fallback, st_) in {
            "kernel": (fallback_kernel, k_state),
            "twin": (fallback_ref, r_state),
        }.items():
            out = {"request_out": np.full(n, -9, np.int64), "demand_out": np.zeros(n_ph, bool)}
            fallback(
                request,
                demand,
                dt_s,
                sig.phase_ptr,
                suspect_phase,
                program_green_s,
                fixed_wait_s,
                st_["cur_p"],
                st_["stage"],
                st_["t_stage_s"],
                st_["wait_s"],
                st_["unserved_s"],
                out["request_out"],
                out["demand_out"],
            )
            st_[side + "_out"] = out
        k_out, r_out = k_state.pop("kernel_out"), r_state.pop("twin_out")
        assert_same(k_out, r_out, f"@{step}")
        assert_same(k_state, r_state, f"after the fallback @{step}")
        # the timing kernel applies the result on both sides, so the next step starts equal
        for st_, out in ((k_state, k_out), (r_state, r_out)):
            constrain_kernel(
                out["request_out"],
                out["demand_out"],
                out["demand_out"],
                dt_s,
                sig.phase_ptr,
                *timing,
                st_["cur_p"],
                st_["next_p"],
                st_["stage"],
                st_["t_stage_s"],
                st_["wait_s"],
                st_["green_s"],
                np.zeros(n, dtype=np.bool_),
                np.zeros(n, dtype=np.int8),
            )
