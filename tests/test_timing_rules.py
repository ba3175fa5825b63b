"""Behaviour of the timing-safety kernel on small hand-built signals (``sim/timing.py``).

Each case is a signal of two or three greens written as SUMO state strings; the expected display
follows from the rule under test (module docstring of ``sim/timing.py``), with ``dt`` 1 s. The
property tests of ``tests/test_timing.py`` cover random signals; here each rule, and each of the
fixes (start from SUMO's display, max green across switches without clearance, a starvation
bound that holds with silent detectors, no zero yellow, why a green ended), has its own case.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import resco_dir, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import EPS, GREEN, SignalSet, signal_sets
from test_timing import simulate

from sim.backend import Backend
from sim.layout import DEFAULT_YELLOW_S, NetworkLayout
from sim.results import SignalRecorder
from sim.runner import RunConfig, run
from sim.timing import END_REASONS, Timing, TimingParams

REASON = {name: code for code, name in enumerate(END_REASONS)}


def hand_layout(
    greens: list[str],
    yellow_s: float = 3.0,
    all_red_s: float = 0.0,
    program_green_s: list[float] | None = None,
) -> NetworkLayout:
    """One signal ``J`` with the given green states; link ``k`` runs from lane ``in_k`` to
    lane ``out_k``; each green serves the incoming lanes of its green links."""
    n_links = len(greens[0])
    lanes = [f"in_{k}" for k in range(n_links)] + [f"out_{k}" for k in range(n_links)]
    served = [[k for k, c in enumerate(st) if c in "Gg"] for st in greens]
    ptr = np.concatenate([[0], np.cumsum([len(x) for x in served])]).astype(np.int64)
    idx = np.array([k for x in served for k in x], dtype=np.int64)
    needs = np.array(
        [
            [any(a in "Gg" and b not in "Gg" for a, b in zip(p, q, strict=True)) for q in greens]
            for p in greens
        ]
    )
    n_g = len(greens)
    return NetworkLayout(
        signal_ids=("J",),
        lane_ids=tuple(lanes),
        n_in_lanes=n_links,
        lane_length_m=np.full(2 * n_links, 100.0),
        phase_ptr=np.array([0, n_g], dtype=np.int64),
        phase_signal=np.zeros(n_g, dtype=np.int64),
        phase_states=tuple(greens),
        phase_lane_ptr=ptr,
        phase_lane_idx=idx,
        phase_move_ptr=ptr.copy(),
        phase_move_idx=idx.copy(),
        move_in_lane=np.arange(n_links, dtype=np.int64),
        move_out_lane=np.arange(n_links, 2 * n_links, dtype=np.int64),
        move_signal=np.zeros(n_links, dtype=np.int64),
        move_link_index=np.arange(n_links, dtype=np.int64),
        needs_clearance=needs,
        yellow_s=np.array([yellow_s]),
        all_red_s=np.array([all_red_s]),
        program_green_s=np.array(program_green_s or [30.0] * n_g),
        approach_ids=tuple(f"e{k}" for k in range(n_links)),
        approach_signal=np.zeros(n_links, dtype=np.int64),
        lane_approach=np.concatenate([np.arange(n_links), np.full(n_links, -1)]).astype(np.int64),
    )


def drive(
    timing: Timing,
    n_steps: int,
    request: list[int] | int = -1,
    demand: list[bool] | None = None,
    true_demand: list[bool] | None = None,
) -> tuple[list[str], list[str]]:
    """Step ``timing`` ``n_steps`` times with a fixed or per-step request (-1 keeps) and fixed
    demand per green. Returns the state shown in each row (row 0 before the first step) and the
    end reason set by the step that produced each row ("" in row 0)."""
    n_ph = timing.layout.n_phases
    dem = np.array(demand if demand is not None else [False] * n_ph)
    true = None if true_demand is None else np.array(true_demand)
    states, reasons = [timing.state_string(0)], [""]
    for k in range(n_steps):
        req = request[k] if isinstance(request, list) else request
        timing.step(np.array([req], dtype=np.int64), dem, true)
        states.append(timing.state_string(0))
        reasons.append(END_REASONS[int(timing.end_reason[0])])
    return states, reasons


def params(**kw: float) -> TimingParams:
    """Min green 5 s, max green 20 s, starvation bound 120 s, unless given."""
    base = {"min_green_s": 5.0, "max_green_s": 20.0, "max_wait_s": 120.0}
    return TimingParams(**(base | kw))


def first_row(states: list[str], pred: Callable[[str], bool], start: int = 0) -> int:
    """First row from ``start`` on whose state satisfies ``pred``."""
    return next(i for i in range(start, len(states)) if pred(states[i]))


# --------------------------------------------------------------------------------------------
# min green, yellow, all-red, switches without clearance


def test_min_green_then_full_yellow_then_full_all_red() -> None:
    timing = Timing(hand_layout(["Gr", "rG"], all_red_s=2.0), params(), 1.0)
    states, reasons = drive(timing, 14, request=1)
    assert states == ["Gr"] * 5 + ["yr"] * 3 + ["rr"] * 2 + ["rG"] * 5
    assert reasons[5] == "gap-out"  # asked to switch, its own green had no demand
    assert [r for i, r in enumerate(reasons) if i != 5] == [""] * 14


def test_a_switch_asked_for_while_the_green_still_has_demand_is_a_cut() -> None:
    timing = Timing(hand_layout(["Gr", "rG"]), params(), 1.0)
    _, reasons = drive(timing, 8, request=1, demand=[True, True])
    assert reasons[5] == "cut"


def test_links_green_in_both_greens_stay_green_and_no_clearance_when_none_is_needed() -> None:
    timing = Timing(hand_layout(["Grr", "GGr", "rrG"]), params(), 1.0)
    states, _ = drive(timing, 6, request=1)
    assert states == ["Grr"] * 5 + ["GGr"] * 2  # 0 -> 1 turns nothing red: immediate
    states, _ = drive(timing, 9, request=0)
    assert states[1:] == ["GGr"] * 3 + ["Gyr"] * 3 + ["Grr"] * 3  # 1 -> 0 ends link 1 only


# --------------------------------------------------------------------------------------------
# max green


def test_max_green_ends_the_green_only_while_another_green_has_demand() -> None:
    timing = Timing(hand_layout(["Gr", "rG"]), params(max_green_s=12.0), 1.0)
    states, _ = drive(timing, 60, demand=[True, False])  # nobody else waits: the green rests
    assert set(states) == {"Gr"}
    states, reasons = drive(timing, 4, demand=[True, True])
    assert states[1] == "yr" and reasons[1] == "max-out"


def test_max_green_counts_from_the_start_of_the_green() -> None:
    timing = Timing(hand_layout(["Gr", "rG"]), params(max_green_s=12.0), 1.0)
    states, reasons = drive(timing, 16, demand=[True, True])
    assert states[:13] == ["Gr"] * 12 + ["yr"]
    assert reasons[12] == "max-out"


def test_a_switch_without_clearance_does_not_restart_max_green() -> None:
    """Gap 2: green 0 (link 0) for 8 s, then the controller adds link 1 without clearance
    (green 1) and keeps it. Link 0 has been green since the start; while green 2 waits, it
    must end at max green (20 s), not 20 s after the switch."""
    timing = Timing(hand_layout(["Grr", "GGr", "rrG"]), params(), 1.0)
    request = [-1] * 8 + [1] * 40
    states, reasons = drive(timing, 40, request, demand=[True, True, True])
    assert states[9] == "GGr"  # the switch itself needs no clearance
    assert first_row(states, lambda st: st[0] != "G") == 20
    assert states[20] == "yyr" and reasons[20] == "max-out"


def test_a_clearance_that_keeps_a_link_green_does_not_restart_its_max_green() -> None:
    """Green 0 (links 0, 1) for 8 s, then green 1 (links 0, 2): link 1 clears, link 0 stays
    green. Link 0 is overdue at 20 s, counted from the start, not from green 1."""
    timing = Timing(hand_layout(["GGrr", "GrGr", "rrrG"]), params(), 1.0)
    request = [-1] * 8 + [1] * 40
    states, reasons = drive(timing, 40, request, demand=[True, True, True])
    assert states[9:13] == ["Gyrr"] * 3 + ["GrGr"]
    assert first_row(states, lambda st: st[0] != "G") == 20
    assert reasons[20] == "max-out"


def test_a_switch_that_would_take_a_link_past_max_green_goes_elsewhere() -> None:
    """At 14 s a switch to green 1 would keep link 0 green through green 1's min green (5 s),
    past max green (20 s) while green 2 waits: the signal goes to green 2 instead."""
    timing = Timing(hand_layout(["Grr", "GGr", "rrG"]), params(), 1.0)
    request = [-1] * 14 + [1] * 40
    states, reasons = drive(timing, 40, request, demand=[True, True, True])
    ended = first_row(states, lambda st: st[0] != "G")
    assert ended <= 20 and reasons[ended] == "max-out"
    assert "rrG" in states and "GGr" not in states[:20]


def test_a_protected_turn_after_its_permissive_green_has_its_own_max_green() -> None:
    """Link 1 is permissive (g) in green 0 and protected (G) in green 1: a change of indication
    starts a new count, so green 1 may run to its own max green. The switch to green 1 keeps
    link 1 ``g`` through the yellow, so its ``g`` is overdue one clearance early (20 - 3 s) and
    lasts exactly max green."""
    timing = Timing(hand_layout(["Ggr", "rGr", "rrG"]), params(), 1.0)
    request = [-1] * 18 + [1] * 60
    states, reasons = drive(timing, 60, request, demand=[True, True, True])
    start = first_row(states, lambda st: st == "rGr")
    assert start == 16 + 1 + 3  # max-out at row 16 (17 s of green), then 3 s of yellow
    assert all(st[1] == "g" for st in states[:start])  # link 1: g for 20 s, no longer
    assert first_row(states, lambda st: st != "rGr", start) == start + 20
    assert reasons[start + 20] == "max-out"


def test_a_max_out_ends_every_link_it_can_that_would_outlast_max_green() -> None:
    """Link 0 green since 0 s, link 1 since 5 s (green 1 added it without a clearance). When
    link 0 reaches max green (20 s), green 2 would end it but keep link 1, which would then run
    through green 2's clearance and min green to 15 + 3 + 5 = 23 s; green 3 ends both, so the
    max-out goes there although green 2 comes first among equally waiting greens."""
    timing = Timing(hand_layout(["Grrr", "GGrr", "rGrG", "rrGG"]), params(), 1.0)
    request = [-1] * 5 + [1] + [-1] * 60
    states, reasons = drive(timing, 60, request, demand=[True] * 4)
    assert states[6] == "GGrr"
    out = first_row(states, lambda st: st != "GGrr", 6)
    assert reasons[out] == "max-out" and states[out] == "yyrr"
    assert states[out + 3] == "rrGG"
    green_1 = [i for i, st in enumerate(states[: out + 10]) if st[1] == "G"]
    assert len(green_1) <= 20


def test_links_green_in_every_green_are_exempt_from_max_green() -> None:
    timing = Timing(hand_layout(["GGr", "GrG"]), params(max_green_s=10.0), 1.0)
    request = [1] * 6 + [-1] * 100
    states, _ = drive(timing, 100, request, demand=[True, True])
    assert all(st[0] == "G" for st in states)  # link 0, a free right turn, never ends
    assert {"GGr", "GrG"} <= set(states[20:])  # while max green still alternates the others


# --------------------------------------------------------------------------------------------
# starvation bound: real number of greens, with and without working detectors


def bound_s(
    n_greens: int, min_s: float, yellow_s: float, all_red_s: float, max_wait_s: float, dt_s: float
) -> float:
    """Documented bound plus one step of rounding per interval."""
    return max_wait_s + n_greens * (min_s + yellow_s + all_red_s) + (3 * n_greens + 2) * dt_s


@given(
    sig=signal_sets(max_signals=1, max_greens=8),
    data=st.data(),
    silent=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_starvation_bound_with_the_real_number_of_greens(
    sig: SignalSet, data: st.DataObject, silent: bool
) -> None:
    """A green nobody asks for and that always has vehicles is served within the bound for the
    signal's own number of greens (1 to 8); with ``silent`` its detectors report nothing and
    only its true demand is known to the kernel."""
    n_steps = 300
    greens = list(sig.greens(0))
    victim = data.draw(st.sampled_from(greens))
    others = [p for p in greens if p != victim] or [-1]
    picks = data.draw(
        st.lists(st.integers(-1, len(others) - 1), min_size=n_steps, max_size=n_steps)
    )
    request = np.array([[-1 if i < 0 else others[i]] for i in picks], dtype=np.int64)
    demand = np.array(
        data.draw(
            st.lists(
                st.lists(st.booleans(), min_size=len(greens), max_size=len(greens)),
                min_size=n_steps,
                max_size=n_steps,
            )
        ),
        dtype=np.bool_,
    )
    true_demand = demand.copy()
    true_demand[:, victim] = True
    demand[:, victim] = not silent
    tr = simulate(sig, 1.0, request, demand, true_demand)
    limit = bound_s(
        len(greens), sig.min_green_s[0], sig.yellow_s[0], sig.all_red_s[0], sig.max_wait_s[0], 1.0
    )
    waited = 0
    covers = sig.covers  # a green showing every link of the victim serves it too (rule 4)
    for k in range(n_steps):
        cur = int(tr.cur[k + 1, 0])
        served = tr.stage[k + 1, 0] == GREEN and (cur == victim or covers[victim, cur])
        waited = 0 if served else waited + 1
        assert waited <= limit + EPS, (k, waited, limit)


def test_a_phase_with_silent_detectors_is_served_by_its_true_demand() -> None:
    """Green 1's detectors report nothing though vehicles halt there; the controller keeps
    green 0. The true demand brings max green in (20 s), and the starvation bound would
    follow at ``max_wait_s``; with neither, green 0 rests."""
    lay = hand_layout(["Gr", "rG"])
    never = Timing(lay, params(max_wait_s=60.0), 1.0)
    states, _ = drive(never, 200, request=0, demand=[True, False])
    assert set(states) == {"Gr"}
    timing = Timing(lay, params(max_wait_s=60.0), 1.0)
    states, reasons = drive(timing, 200, request=0, demand=[True, False], true_demand=[True, True])
    assert first_row(states, lambda st: st != "Gr") == 20
    assert reasons[20] == "max-out"
    assert "rG" in states


# --------------------------------------------------------------------------------------------
# the start: from what SUMO displays


def test_a_displayed_green_is_kept_at_the_start() -> None:
    timing = Timing(hand_layout(["Gr", "rG"]), params(), 1.0, initial_states=["rG"])
    states, _ = drive(timing, 4, request=0)
    assert states == ["rG"] * 5  # no clearance, and min green counts from the start


@pytest.mark.parametrize(
    ("greens", "shown", "all_red_s", "expected"),
    [
        # a yellow of the program: full yellow, all-red, then a green
        (["Gr", "rG"], "yr", 2.0, ["yr"] * 3 + ["rr"] * 2 + ["Gr"]),
        # a transition that keeps link 0 green: the green that keeps it comes next
        (["GGr", "Grr", "rrG"], "Gyr", 1.0, ["Gyr"] * 3 + ["Grr"] + ["GGr"]),
        # a green state that is none of the signal's greens: its extra link clears first
        (["Grr", "rrG"], "GGr", 0.0, ["Gyr"] * 3 + ["Grr"]),
        # all red: held for the all-red time, or not at all
        (["Gr", "rG"], "rr", 2.0, ["rr"] * 2 + ["Gr"]),
        (["Gr", "rG"], "rr", 0.0, ["Gr"]),
    ],
)
def test_any_other_display_is_cleared_before_the_first_green(
    greens: list[str], shown: str, all_red_s: float, expected: list[str]
) -> None:
    timing = Timing(hand_layout(greens, all_red_s=all_red_s), params(), 1.0, [shown])
    states, _ = drive(timing, len(expected) - 1)
    assert states == expected


def test_links_red_during_the_opening_clearance_start_their_max_green_after_it() -> None:
    timing = Timing(hand_layout(["Gr", "rG"], all_red_s=2.0), params(max_green_s=10.0), 1.0, ["yr"])
    states, reasons = drive(timing, 20, demand=[True, True])
    assert states[:16] == ["yr"] * 3 + ["rr"] * 2 + ["Gr"] * 10 + ["yr"]
    assert reasons[15] == "max-out"


# --------------------------------------------------------------------------------------------
# yellow: never zero


def test_a_program_without_yellow_gets_the_default_yellow() -> None:
    timing = Timing(hand_layout(["Gr", "rG"], yellow_s=0.0), params(), 1.0)
    assert timing.yellow_s.tolist() == [DEFAULT_YELLOW_S]
    states, _ = drive(timing, 9, request=1)
    assert states.count("yr") == DEFAULT_YELLOW_S


def test_cli_refuses_a_zero_yellow_with_one_line(tmp_path: Path) -> None:
    proc = run_cli("run", "--scenario", "single", "--yellow-s", "0", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --yellow-s") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------------------------
# why a green ended: the fallback, and the `ended` column of signals.csv


def test_the_detector_fault_fallback_is_recorded_as_the_reason() -> None:
    lay = hand_layout(["Gr", "rG"], program_green_s=[30.0, 10.0])
    timing = Timing(lay, params(max_green_s=100.0), 1.0)
    timing.suspect_phase[1] = 2  # all of green 1's detectors failed: timed as in the program
    states, reasons = drive(timing, 60, request=-1, demand=[True, False])
    left = first_row(states, lambda st: st != "Gr")
    assert left == timing.fixed_wait_s[1]  # its red time in the program cycle
    assert reasons[left] == "fallback"


def test_signals_csv_names_why_each_green_ended(tmp_path: Path) -> None:
    lay = hand_layout(["Gr", "rG"])
    timing = Timing(lay, params(max_green_s=8.0), 1.0)
    rec = SignalRecorder(lay)
    rec.record(0.0, timing)
    request = [-1] * 15 + [0] * 25
    for k in range(40):
        timing.step(np.array([request[k]]), np.array([True, True]))
        rec.record(float(k + 1), timing)
    rec.record_states(41.0, ["Gr"])  # a SUMO-timed row never has a reason
    with rec.write(tmp_path, "csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["time_s", "signal", "state", "phase", "stage", "ended"]
    got = [(r["state"], r["ended"]) for r in rows]
    assert got[:4] == [("Gr", ""), ("yr", "max-out"), ("rG", ""), ("ry", "cut")]
    assert got[-1] == ("Gr", "")


# --------------------------------------------------------------------------------------------
# real SUMO: a RESCO window that starts mid-cycle


def test_a_run_starting_mid_cycle_clears_what_sumo_showed(tmp_path: Path) -> None:
    """A cologne3 window starting 45 s into the programs' 90 s cycle, where SUMO shows greens
    other than the first. The first states lightwatch shows must not turn a shown green red
    without yellow, nor a yellow green; in signals.csv every green left is named."""
    folder = resco_dir("cologne3")
    first: dict[str, tuple[str, str, str]] = {}  # shown by SUMO, its first green, after step 1

    def on_step(backend: Backend, timing: Timing | None) -> None:
        assert timing is not None and timing.initial_states is not None
        tl = backend.api.trafficlight
        lay = timing.layout
        for s, sid in enumerate(lay.signal_ids):
            green = lay.phase_states[lay.phase_ptr[s]]
            after = tl.getRedYellowGreenState(sid)
            first.setdefault(sid, (timing.initial_states[s], green, after))

    cfg = RunConfig(
        scenario=str(folder),
        controller="count",
        begin_s=25245.0,
        end_s=25545.0,
        out=str(tmp_path / "run"),
    )
    result = run(cfg, on_step=on_step)
    assert any(shown != green for shown, green, _ in first.values())  # the case arises
    for sid, (shown, _, after) in first.items():
        for a, b in zip(shown, after, strict=True):
            assert not (a in "Gg" and b in "rs"), (sid, shown, after)
            assert not (a in "yY" and b in "Gg"), (sid, shown, after)
    with (result.out_dir / "signals.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    last: dict[str, dict[str, str]] = {}
    n_named = 0
    for r in rows:
        prev = last.get(r["signal"])
        left = (
            prev is not None
            and prev["stage"] == "0"
            and (r["stage"] != "0" or r["phase"] != prev["phase"])
        )
        assert (r["ended"] in REASON and r["ended"] != "") == left, (r, prev)
        n_named += left
        last[r["signal"]] = r
    assert n_named > 10


# --------------------------------------------------------------------------------------------
# the junction box and the pedestrian clearance (rule 2)


def drive_box(timing: Timing, n_steps: int, busy_rows: set[int]) -> list[str]:
    """Request green 1 throughout; the junction box reads busy before the steps producing the
    rows in ``busy_rows``. Returns the state shown in each row."""
    states = [timing.state_string(0)]
    for k in range(n_steps):
        timing.box_busy[0] = k + 1 in busy_rows
        timing.step(np.array([1], dtype=np.int64), np.array([False, False]))
        states.append(timing.state_string(0))
    return states


def test_a_vehicle_left_in_the_junction_holds_the_all_red_until_it_is_out() -> None:
    """Yellow rows 5-7; the box is busy when the yellow would end (row 8) and one step more:
    all-red rows 8-9, the next green from row 10, not from row 8."""
    timing = Timing(hand_layout(["Gr", "rG"]), params(), 1.0)
    states = drive_box(timing, 14, busy_rows={8, 9})
    assert states == ["Gr"] * 5 + ["yr"] * 3 + ["rr"] * 2 + ["rG"] * 5


def test_the_all_red_a_busy_box_adds_is_capped() -> None:
    """A vehicle that never leaves (its exit blocked): all-red for box_clear_max_s (3 s here),
    on top of the program's own all-red of 1 s, then the next green starts anyway."""
    timing = Timing(hand_layout(["Gr", "rG"], all_red_s=1.0), params(box_clear_max_s=3.0), 1.0)
    states = drive_box(timing, 16, busy_rows=set(range(30)))
    assert states == ["Gr"] * 5 + ["yr"] * 3 + ["rr"] * 4 + ["rG"] * 5


def test_a_clear_box_or_a_zero_cap_changes_nothing() -> None:
    for kw, busy in (({}, set()), ({"box_clear_max_s": 0.0}, set(range(30)))):
        timing = Timing(hand_layout(["Gr", "rG"]), params(**kw), 1.0)
        assert drive_box(timing, 12, busy) == ["Gr"] * 5 + ["yr"] * 3 + ["rG"] * 5


def test_people_on_a_closing_crossing_get_their_clearance_before_the_yellow() -> None:
    """Link 2 is a crossing served by green 0 only. With people there the switch shows the
    crossing red and the vehicles still green for the clearance (4 s), then the yellow; it ends
    early once nobody is left (row 7 here); with nobody there the yellow comes at once.
    ``ped_present`` is read before the step producing each row."""
    layout = hand_layout(["GrG", "rGr"])
    object.__setattr__(layout, "ped_links", (frozenset({2}),))
    for present_rows, expect in (
        (set(range(30)), ["GrG"] * 5 + ["Grr"] * 4 + ["yrr"] * 3 + ["rGr"] * 3),
        ({5, 6}, ["GrG"] * 5 + ["Grr"] * 2 + ["yrr"] * 3 + ["rGr"] * 5),
        (set(), ["GrG"] * 5 + ["yrr"] * 3 + ["rGr"] * 7),
    ):
        timing = Timing(layout, params(), 1.0)
        timing.ped_clear_s[0, 1] = 4.0
        states = [timing.state_string(0)]
        for k in range(14):
            timing.ped_present[0] = k + 1 in present_rows
            timing.step(np.array([1], dtype=np.int64), np.array([False, False]))
            states.append(timing.state_string(0))
        assert states == expect, present_rows


def test_a_walk_ends_while_its_vehicle_green_goes_on() -> None:
    """Link 2 is a crossing; green 1 ("Grr") continues green 0 ("GrG") without it. Asked for
    green 1 from the start: after min green (5 s) the crossing closes while link 0 stays green
    throughout, never yellow: with people there through the pedestrian clearance (4 s) and
    then green 1 at once, with nobody there at once. Green 1 counts as shown since link 0's
    green began, so a switch to green 2 asked in row 12 needs no new min green."""
    layout = hand_layout(["GrG", "Grr", "rGr"])
    object.__setattr__(layout, "ped_links", (frozenset({2}),))
    assert layout.continues()[0].tolist() == [False, True, False]
    assert layout.vehicle_continuation().tolist() == [1, -1, -1]
    for present, expect in (
        (True, ["GrG"] * 5 + ["Grr"] * 8 + ["yrr"] * 3 + ["rGr"] * 2),
        (False, ["GrG"] * 5 + ["Grr"] * 8 + ["yrr"] * 3 + ["rGr"] * 2),
    ):
        timing = Timing(layout, params(), 1.0)
        timing.ped_clear_s[0, 1] = 4.0
        states, stages, ages = [timing.state_string(0)], [0], [0.0]
        for k in range(17):
            timing.ped_present[0] = present and k < 9
            req = 1 if k < 12 else 2
            timing.step(np.array([req], dtype=np.int64), np.array([True, True, True]))
            states.append(timing.state_string(0))
            stages.append(int(timing.stage[0]))
            ages.append(float(timing.t_stage_s[0]))
        assert states == expect, present
        # the pedestrian clearance is its own stage only with people there
        assert (3 in stages) == present
        if present:
            assert stages[5:9] == [3] * 4 and stages[9] == GREEN and ages[9] == 9.0
        else:
            assert stages[5] == GREEN and ages[5] == 5.0


def test_a_green_showing_every_link_of_another_serves_its_wait() -> None:
    """Green 2 ("GGr") shows the link of green 0 ("Grr", as protected) and more: while it is
    shown green 0 does not wait, so the starvation bound (30 s) never pre-empts it for green 0,
    though green 0 always has demand; green 1 ("grr") shows link 0 only permissive and does not
    serve green 0, which is then pre-empted in after 30 s."""
    lay = hand_layout(["Grr", "grr", "GGr", "rrG"])
    demand = [True, False, True, False]
    for shown, starved in ((2, False), (1, True)):
        timing = Timing(lay, params(max_wait_s=30.0, max_green_s=1000.0), 1.0)
        _, reasons = drive(timing, 80, request=shown, demand=demand)
        assert ("starvation" in reasons) == starved, shown
