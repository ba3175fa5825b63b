"""Property tests of the timing-safety kernel (``sim.timing.constrain_kernel``).

Random signals (1–6 greens, each a random set of links, so greens overlap, nest and share links
green in every green; yellow / all-red including 0), random and adversarial request sequences,
random demand, ``dt`` 1 s or 0.5 s. The kernel is driven the way the runner drives it; the
displayed sequence (stage, green, target) after every step is checked against the rules in the
module docstring of ``sim/timing.py``. Hand-built cases of each rule are in
``tests/test_timing_rules.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import resco_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import EPS, GREEN, SignalSet, signal_sets

from sim.backend import Backend
from sim.errors import InputError
from sim.runner import RunConfig, run
from sim.timing import Timing, TimingParams, constrain_kernel

SETTINGS = settings(max_examples=100, deadline=None)
N_STEPS = 400
DT_S = st.sampled_from([1.0, 0.5])
MODES = st.sampled_from(["random", "adversarial", "keep"])


@dataclass
class Trace:
    """What each signal showed. Row 0 is the start state, row k+1 the state after step k.

    ``stage``, ``cur``, ``nxt`` [n_steps + 1, n_signals]; ``t_stage_s`` likewise;
    ``demand`` [n_steps, n_phases] and ``request`` [n_steps, n_signals] as given to step k;
    ``end_reason`` [n_steps + 1, n_signals] as set by step k (row 0 all 0).
    """

    stage: np.ndarray
    cur: np.ndarray
    nxt: np.ndarray
    t_stage_s: np.ndarray
    demand: np.ndarray
    request: np.ndarray
    end_reason: np.ndarray

    def link_kind(self, sig: SignalSet, s: int, k: int) -> np.ndarray:
        """[n_steps + 1] indication of timed link ``k`` of signal ``s`` (0 red, 1 ``g``,
        2 ``G``); during a clearance the links green in both greens keep their indication."""
        kind = sig.link_kind
        cur, nxt, stage = self.cur[:, s], self.nxt[:, s], self.stage[:, s]
        return np.where((stage == GREEN) | (kind[nxt, k] > 0), kind[cur, k], 0)


def make_demand(sig: SignalSet, rng: np.random.Generator, n_steps: int) -> np.ndarray:
    """On/off demand per phase as a two-state Markov chain (runs of demand and of none)."""
    p_on = rng.uniform(0.02, 0.5, sig.n_phases)
    p_off = rng.uniform(0.0, 0.3, sig.n_phases)
    out = np.zeros((n_steps, sig.n_phases), dtype=np.bool_)
    cur = rng.random(sig.n_phases) < 0.5
    for k in range(n_steps):
        flip = rng.random(sig.n_phases) < np.where(cur, p_off, p_on)
        cur = cur ^ flip
        out[k] = cur
    return out


def make_requests(
    sig: SignalSet, rng: np.random.Generator, n_steps: int, mode: str, victim: np.ndarray
) -> np.ndarray:
    """Requests per step and signal.

    ``random``: -1, any green of the signal, or a phase of another signal (must be ignored).
    ``adversarial``: cycles through the signal's greens but never asks for ``victim[s]``.
    ``keep``: always -1.
    """
    out = np.full((n_steps, sig.n_signals), -1, dtype=np.int64)
    if mode == "keep":
        return out
    for s in range(sig.n_signals):
        g = sig.greens(s)
        if mode == "random":
            pick = rng.integers(-1, sig.n_phases, n_steps)
            own = rng.integers(g.start, g.stop, n_steps)
            out[:, s] = np.where(rng.random(n_steps) < 0.7, own, pick)
        else:
            others = [p for p in g if p != victim[s]] or [-1]
            period = int(rng.integers(1, 8))
            out[:, s] = [others[(k // period) % len(others)] for k in range(n_steps)]
    return out


def simulate(
    sig: SignalSet,
    dt_s: float,
    request: np.ndarray,
    demand: np.ndarray,
    true_demand: np.ndarray | None = None,
) -> Trace:
    """Drive the kernel from the runner's start state (first green of each signal, t = 0).

    ``true_demand`` [n_steps, n_phases] defaults to ``demand``."""
    n_steps, n = request.shape[0], sig.n_signals
    true_demand = demand if true_demand is None else true_demand
    cur = sig.phase_ptr[:-1].copy()
    nxt = cur.copy()
    stage = np.zeros(n, dtype=np.int8)
    t = np.zeros(n)
    wait = np.zeros(sig.n_phases)
    green_s = np.zeros((n, sig.links.shape[1]))
    changed = np.zeros(n, dtype=np.bool_)
    reason = np.zeros(n, dtype=np.int8)
    tr = Trace(
        stage=np.zeros((n_steps + 1, n), dtype=np.int8),
        cur=np.zeros((n_steps + 1, n), dtype=np.int64),
        nxt=np.zeros((n_steps + 1, n), dtype=np.int64),
        t_stage_s=np.zeros((n_steps + 1, n)),
        demand=demand,
        request=request,
        end_reason=np.zeros((n_steps + 1, n), dtype=np.int8),
    )
    tr.cur[0], tr.nxt[0] = cur, nxt
    static = sig.static()
    for k in range(n_steps):
        constrain_kernel(
            request[k],
            demand[k],
            true_demand[k],
            dt_s,
            *static,
            np.zeros(sig.n_phases, dtype=np.bool_),  # no pedestrian anywhere
            np.zeros(n, dtype=np.bool_),  # junction boxes clear
            np.zeros(n),
            cur,
            nxt,
            stage,
            t,
            wait,
            green_s,
            changed,
            reason,
        )
        tr.stage[k + 1], tr.cur[k + 1], tr.nxt[k + 1], tr.t_stage_s[k + 1] = stage, cur, nxt, t
        tr.end_reason[k + 1] = reason
    return tr


def green_runs(tr: Trace, s: int) -> list[tuple[int, int, int]]:
    """Maximal runs of one green shown by signal ``s``: (phase, first row, rows)."""
    runs: list[tuple[int, int, int]] = []
    for row in range(tr.stage.shape[0]):
        if tr.stage[row, s] != GREEN:
            continue
        p = int(tr.cur[row, s])
        if runs and runs[-1][0] == p and runs[-1][1] + runs[-1][2] == row:
            runs[-1] = (p, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((p, row, 1))
    return runs


def scenario(draw: st.DrawFn) -> tuple[SignalSet, float, Trace, np.ndarray]:
    sig = draw(signal_sets())
    dt_s = draw(DT_S)
    mode = draw(MODES)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    victim = np.array(
        [rng.integers(g.start, g.stop) for g in map(sig.greens, range(sig.n_signals))]
    )
    demand = make_demand(sig, rng, N_STEPS)
    if mode == "adversarial":
        demand[:, victim] = True  # the phase nobody asks for always has demand
    request = make_requests(sig, rng, N_STEPS, mode, victim)
    return sig, dt_s, simulate(sig, dt_s, request, demand), victim


runs_st = st.composite(scenario)


@given(case=runs_st())
@SETTINGS
def test_conflicting_greens_are_separated_by_full_yellow_then_all_red(case: tuple) -> None:
    sig, dt_s, tr, _ = case
    for s in range(sig.n_signals):
        y_steps, r_steps = sig.clearance_steps(s, dt_s)
        runs = green_runs(tr, s)
        for (p, a0, an), (q, b0, _) in itertools.pairwise(runs):
            between = range(a0 + an, b0)
            stages = [int(tr.stage[r, s]) for r in between]
            assert all(tr.cur[r, s] == p and tr.nxt[r, s] == q for r in between)
            needed = bool(sig.needs_clearance[p, q - sig.phase_ptr[s]])
            if needed:
                assert stages == [1] * y_steps + [2] * r_steps, (s, p, q, stages)
            else:
                assert stages == [], (s, p, q, stages)
        # a clearance still running at the end is a prefix of the full one
        if runs:
            p, a0, an = runs[-1]
            tail = [int(x) for x in tr.stage[a0 + an :, s]]
            assert tail == ([1] * y_steps + [2] * r_steps)[: len(tail)]


@given(case=runs_st())
@SETTINGS
def test_green_never_ends_before_min_green(case: tuple) -> None:
    sig, dt_s, tr, _ = case
    for s in range(sig.n_signals):
        for p, first, n_rows in green_runs(tr, s)[:-1]:  # the last run may be cut by the end
            assert n_rows * dt_s >= sig.min_green_s[s] - EPS, (s, p, first, n_rows)


def no_starvation(sig: SignalSet) -> SignalSet:
    """``sig`` with the starvation bound out of reach, so only max green forces switches."""
    return dataclasses.replace(sig, max_wait_s=np.full(sig.n_signals, 1e9))


@given(case=runs_st())
@SETTINGS
def test_a_link_at_max_green_changes_while_a_green_that_changes_it_waits(case: tuple) -> None:
    """Rule 3 as a duration: from the row a timed link has shown its indication for max green
    on, while a green that changes it keeps sensed demand, it changes within one min green and
    one clearance per timed link of the signal (each forced switch changes an overdue link)."""
    sig, dt_s, tr, _ = case
    sig = no_starvation(sig)
    tr = simulate(sig, dt_s, tr.request, tr.demand)
    n_steps = tr.demand.shape[0]
    kind = sig.link_kind
    for s in range(sig.n_signals):
        greens = list(sig.greens(s))
        n_timed = int((kind[greens] > 0).any(axis=0).sum())
        cycle_s = sig.min_green_s[s] + sig.yellow_s[s] + sig.all_red_s[s]
        slack_s = n_timed * cycle_s + (3 * n_timed + 2) * dt_s
        for k in range(kind.shape[1]):
            shown = tr.link_kind(sig, s, k)
            for first, n_rows in kind_runs(shown):
                overdue = first + int(np.ceil((sig.max_green_s[s] - EPS) / dt_s))
                contested = all(
                    any(tr.demand[r, q] and kind[q, k] != shown[r] for q in greens)
                    for r in range(overdue, min(first + n_rows, n_steps))
                )
                if contested and first + n_rows <= n_steps:
                    assert (n_rows - 1) * dt_s <= sig.max_green_s[s] + slack_s + EPS, (
                        s,
                        k,
                        first,
                        n_rows,
                    )


def kind_runs(shown: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of one non-zero indication: (first row, rows)."""
    out: list[tuple[int, int]] = []
    for row, v in enumerate(shown.tolist()):
        if v and out and shown[out[-1][0]] == v and out[-1][0] + out[-1][1] == row:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        elif v:
            out.append((row, 1))
    return out


@given(case=runs_st())
@SETTINGS
def test_without_competing_demand_the_green_rests_and_max_green_never_fires(case: tuple) -> None:
    sig, dt_s, tr, _ = case
    quiet = np.zeros_like(tr.demand)
    keep = np.full_like(tr.request, -1)
    again = simulate(no_starvation(sig), dt_s, keep, quiet)
    assert (again.stage == GREEN).all()
    assert (again.cur == sig.phase_ptr[:-1]).all()
    assert (again.end_reason == 0).all()


def starvation_bound_s(sig: SignalSet, s: int, dt_s: float) -> float:
    """Documented bound (sim/timing.py) plus rounding every interval up to whole steps."""
    n_g = len(sig.greens(s))
    cycle = sig.min_green_s[s] + sig.yellow_s[s] + sig.all_red_s[s]
    return float(sig.max_wait_s[s] + n_g * cycle + (3 * n_g + 2) * dt_s)


@given(case=runs_st())
@SETTINGS
def test_phase_with_continuous_demand_is_served_within_the_bound(case: tuple) -> None:
    sig, dt_s, tr, _ = case
    n_steps = tr.demand.shape[0]
    for s in range(sig.n_signals):
        bound = starvation_bound_s(sig, s, dt_s)
        lo = sig.greens(s).start
        covers = sig.covers
        for p in sig.greens(s):
            waiting = 0
            for k in range(n_steps):
                cur = int(tr.cur[k + 1, s])
                # served: shown, or every link of it shown as protected or more (rule 4)
                served = tr.stage[k + 1, s] == GREEN and (cur == p or covers[p, cur - lo])
                waiting = waiting + 1 if tr.demand[k, p] and not served else 0
                assert waiting * dt_s <= bound, (s, p, k, waiting * dt_s, bound)


@given(case=runs_st(), seed=st.integers(0, 2**32 - 1))
@SETTINGS
def test_requests_during_clearance_or_before_min_green_are_ignored(case: tuple, seed: int) -> None:
    sig, dt_s, tr, _ = case
    rng = np.random.default_rng(seed)
    pre_green = tr.stage[:-1] == GREEN
    early = pre_green & (tr.t_stage_s[:-1] + dt_s < sig.min_green_s - EPS)
    locked = ~pre_green | early  # [n_steps, n_signals]
    assert locked.shape == tr.request.shape
    other = rng.integers(-1, sig.n_phases, tr.request.shape)
    request = np.where(locked, other, tr.request)
    again = simulate(sig, dt_s, request, tr.demand)
    for name in ("stage", "cur", "nxt", "t_stage_s"):
        np.testing.assert_array_equal(getattr(again, name), getattr(tr, name), err_msg=name)


def test_a_request_is_followed_when_the_rules_allow() -> None:
    """Guards the tests above against a kernel that never switches (they would all pass)."""
    ptr = np.array([0, 2], dtype=np.int64)
    sig = SignalSet(
        ptr,
        np.array([[True, False], [False, True]]),
        np.array([5.0]),
        np.array([30.0]),
        np.array([3.0]),
        np.array([2.0]),
        np.array([100.0]),
    )
    request = np.ones((20, 1), dtype=np.int64)
    tr = simulate(sig, 1.0, request, np.zeros((20, 2), dtype=np.bool_))
    stages = tr.stage[:, 0].tolist()
    # green 0 for 5 s (rows 0-4), yellow 3 s, all-red 2 s, then green 1 to the end
    assert stages == [0] * 5 + [1] * 3 + [2] * 2 + [0] * 11
    assert tr.cur[-1, 0] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_green_s": 60.0, "max_green_s": 10.0},
        {"min_green_s": -1.0},
        {"min_green_s": 0.0},
        {"max_wait_s": -5.0},
        {"yellow_s": -1.0},
        {"yellow_s": 0.0},
        {"yellow_s": 2.9},
        {"yellow_s": float("nan")},
        {"all_red_s": -0.5},
    ],
)
def test_invalid_timings_raise_input_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError) as err:
        TimingParams(**kwargs).validate()
    assert "\n" not in str(err.value)


def test_shortest_yellow_zero_all_red_and_min_equal_max_are_valid() -> None:
    TimingParams(min_green_s=10.0, max_green_s=10.0, yellow_s=3.0, all_red_s=0.0).validate()


# --------------------------------------------------------------------------------------------
# integration: the signal states SUMO shows during a real run with the count controller


def program_yellow_s(net_file: Path) -> dict[str, float]:
    """Longest yellow phase of each traffic light's program, read from the net XML."""
    out: dict[str, float] = {}
    for tl in ET.parse(net_file).getroot().iter("tlLogic"):
        ys = [
            float(ph.get("duration", "0"))
            for ph in tl.iter("phase")
            if any(c in "yYu" for c in ph.get("state", ""))
        ]
        out[tl.get("id", "")] = max(ys, default=3.0)
    return out


def runs_of(seq: list[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True: (first index, length)."""
    out: list[tuple[int, int]] = []
    for i, v in enumerate(seq):
        if v and out and out[-1][0] + out[-1][1] == i:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        elif v:
            out.append((i, 1))
    return out


@pytest.mark.parametrize(
    ("name", "window", "over"),
    [
        ("grid4x4", (0.0, 600.0), {}),
        ("cologne3", (25200.0, 25800.0), {"all_red_s": 2.0, "min_green_s": 8.0}),
    ],
)
def test_real_run_shows_yellow_all_red_and_min_green(
    name: str, window: tuple[float, float], over: dict[str, float], tmp_path: Path
) -> None:
    folder = resco_dir(name)
    states: dict[str, list[str]] = {}
    n_calls = 0

    def on_step(backend: Backend, timing: Timing | None) -> None:
        nonlocal n_calls
        n_calls += 1
        assert timing is not None
        tl = backend.api.trafficlight
        for tls_id in tl.getIDList():
            states.setdefault(tls_id, []).append(tl.getRedYellowGreenState(tls_id))

    cfg = RunConfig(
        scenario=str(folder),
        controller="count",
        begin_s=window[0],
        end_s=window[1],
        out=str(tmp_path / "run"),
        **over,
    )
    result = run(cfg, on_step=on_step)
    dt_s = 1.0  # the RESCO configurations use SUMO's default step
    assert n_calls >= (window[1] - window[0]) / dt_s - 2
    yellow_s = program_yellow_s(Path(result.summary["manifest"]["net_file"]))
    all_red_s = over.get("all_red_s", 0.0)
    min_green_s = over.get("min_green_s", 5.0)
    n_switches = 0
    for tls_id, seq in states.items():
        n_rows = len(seq)
        for link in range(len(seq[0])):
            chars = [st_[link] for st_ in seq]
            green = [c in "Gg" for c in chars]
            yellow = [c == "y" for c in chars]
            for first, n in runs_of(green):
                end = first + n
                if end < n_rows:  # the green ended: next comes the full yellow, then red
                    n_switches += 1
                    assert yellow[end], (tls_id, link, end, chars[end])
                    _, y_n = next(r for r in runs_of(yellow) if r[0] == end)
                    if end + y_n < n_rows:
                        assert y_n * dt_s == pytest.approx(yellow_s[tls_id]), (tls_id, link, end)
                    else:  # cut by the end of the run
                        assert y_n * dt_s <= yellow_s[tls_id], (tls_id, link, end)
                    after = chars[end + y_n : end + y_n + int(all_red_s / dt_s)]
                    assert all(c in "rs" for c in after), (tls_id, link, after)
                if first > 0 and end < n_rows:  # a whole green: at least min green
                    assert n * dt_s >= min_green_s, (tls_id, link, first, n)
            for first, _ in runs_of(yellow):  # yellow only ever follows green
                assert first == 0 or green[first - 1], (tls_id, link, first)
        # no link turns green while a link of the signal is yellow or within all_red_s after
        any_yellow = [any(c == "y" for c in st_) for st_ in seq]
        ar_rows = int(all_red_s / dt_s)
        for row in range(1, n_rows):
            onset = any(
                a not in "Gg" and b in "Gg" for a, b in zip(seq[row - 1], seq[row], strict=True)
            )
            if onset:
                assert not any(any_yellow[max(0, row - ar_rows) : row + 1]), (tls_id, row)
    assert n_switches > 20  # the run really switched signals
