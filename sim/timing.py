"""Timing safety: one kernel turns every controller's requested greens into a safe sequence.

Size: over 500 lines because the rules below, the kernel, the fault fallback and the wrapper
share one documented state; splitting them would separate the kernel from its rules.

Controllers only *request* a green phase per signal; :func:`constrain_kernel` decides. Rules, per
signal, evaluated once per simulation step of ``dt_s`` seconds:

0. Start from what SUMO displays when lightwatch takes over (a RESCO window may start
   mid-cycle): one of the signal's greens is kept; any other display first clears (yellow for
   the links it shows green or yellow that the next green does not show green, then all-red),
   then shows the first green keeping its green links green (else the signal's first green).
1. A green is shown for at least ``min_green_s``; requests before that are ignored.
2. Leaving green ``p`` for green ``q`` goes through yellow (``yellow_s``) and then all-red
   (``all_red_s``) when some link green in ``p`` is not green in ``q``
   (``layout.needs_clearance``); otherwise the switch is immediate. A clearance, once started,
   always runs to its end and then shows ``q``; requests during it are ignored. Yellow is never
   0 s: ``--yellow-s`` is at least :data:`MIN_YELLOW_S`; a program without yellow gets
   ``sim.layout.DEFAULT_YELLOW_S``.
   Pedestrian clearance: when the switch closes a pedestrian crossing of ``p`` (green in ``p``,
   not in ``q``, or green in both while a vehicle link whose path crosses it is cleared:
   ``sim.layout.clears``) while a person waits at or walks on a crossing ``p`` serves
   (``ped_present``, true counts from ``sim.people``), a stage :data:`PED_CLEAR` comes first:
   the crossings that close show red, every vehicle link keeps its indication of ``p``, for
   the longest closing crossing's length at ``--ped-speed-mps`` (``ped_clear_s[p, q]``), or
   until nobody is left walking on the crossings of ``p`` (on-crossing detection, as a Puffin
   crossing does), whichever comes first; then yellow and all-red as above. So the foes of a
   crossing never start while people are on it, unless they stayed longer than the crossing's length
   takes at the design speed. Together with the walk that a green beginning with people
   waiting shows (``sim.people``: ``--walk-s``), a crossing's green is walk + clearance, the
   usual engineering rule, and people are never caught mid-crossing by the vehicles turning
   into it. Nets without crossings have ``ped_clear_s`` 0 and never show this stage.
   Ending a walk: a green that shows every vehicle link as ``p`` does and only closes crossings
   *continues* ``p`` (``NetworkLayout.continues``; netconvert's programs have one after each
   green with crossings). The switch needs no vehicle clearance: the crossings close (through
   the pedestrian clearance when people are there, at once otherwise) and the continuing green
   follows directly, its vehicle links never leaving green. It counts as shown since its links'
   green began (``t_stage_s`` starts at their continuous green, not 0), so it adds no new min
   green. This is how a walk ends while its vehicles keep going (walk, then don't walk, as in
   signal practice), instead of keeping the crossings open as long as the vehicles need.
   Junction box: the all-red (also one of 0 s) lasts while a vehicle is still inside the
   junction on a link green in ``p`` and not in ``q`` in the path of what ``q`` opens: any
   vehicle before a crossing opens, a standing one (a turn left at its waiting point, a vehicle
   blocked) before a vehicle stream does (``box_busy``, true counts from ``sim.junction_box``),
   at most ``box_clear_max_s`` longer (``--box-clear-max-s``, 0 turns it off). Without it
   such a vehicle stops in the path of the next green, whose vehicles stop in its path, and the
   junction locks for good (no teleports).
3. Max green bounds how long a *movement* keeps its green while a conflicting one waits, not how
   long one phase is shown. Each *timed link* (green in some but not every green of its signal;
   free right turns, green in every green, are exempt) counts the seconds it has shown its
   indication without interruption (``green_s``), through switches without clearance and
   through clearances that keep it green. The indications are priority ``G`` and permissive
   ``g``; a change between them starts a new count (a protected turn after its permissive green
   is a phase with its own max green in signal practice). When the next green (the request, or
   the current green) would keep a link that has shown its indication for ``max_green_s``
   unchanged (or, switching to another green that is then held min green, would reach it
   meanwhile) while another green that changes it (red, or the other kind) has demand (rule 4), the
   signal goes instead to such a green: the one that keeps the fewest links that would reach
   max green during its own min green (and clearance), then the longest-waiting; with no such
   demand it rests. A
   permissive ``g`` link that another green shows protected ``G`` is overdue one clearance
   earlier: a switch to that green keeps it ``g`` through the clearance. Where all
   links started with the green (the usual case) this is the classic rule minus greens that would
   keep every link as it is. Each forced switch changes at least one overdue link, so while a
   green that changes it has demand a timed link keeps its indication at most ``max_green_s``
   plus one min green and one clearance per timed link of its signal.
4. Starvation bound: a green phase whose lanes have had demand for ``max_wait_s`` without being
   served pre-empts the request at the next point where the current green may end (rule 1).
   Hence a phase with demand waits at most about
   ``max_wait_s + n_greens * (min_green_s + yellow_s + all_red_s)``.
   This is the simulator's safety guarantee (the audit checks it against what really waited),
   and it holds when sensing is wrong: its demand is the sensed *or* the true demand
   (``true_demand``: a lane of the phase really holds a halting vehicle, from SUMO's true counts),
   so a silent detector cannot starve its phase. The same sensed-or-true demand is what rule 3
   calls "another green has demand", so a green cannot outlast max green while a queue the
   detectors miss waits either. Only these two bounds see true demand; controllers, the
   controller's request and the end reasons see sensed data only.

A request of ``-1`` (or a phase that is not the signal's) means "keep the current green".
Stages: 0 green, 1 yellow, 2 all-red, 3 pedestrian clearance (vehicles still green).
``end_reason``, set on the step a green is left (else 0), says why (:data:`END_REASONS`):
1 gap-out (the controller asked to switch and the green had no sensed demand), 2 max-out
(rule 3), 3 cut (asked to switch although the green still had sensed demand), 4 starvation
(rule 4), 5 fallback (:func:`fallback_kernel` changed the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import (  # the stages: sim.timing is where lightwatch imports them from
    ALL_RED,
    DEFAULT_YELLOW_S,
    GREEN,
    GREEN_CHARS,
    PED_CLEAR,
    YELLOW,
    NetworkLayout,
)

GAP_OUT, MAX_OUT, CUT, STARVATION, FALLBACK = 1, 2, 3, 4, 5
END_REASONS = ("", "gap-out", "max-out", "cut", "starvation", "fallback")  # by end_reason
MIN_YELLOW_S = 3.0
"""Shortest ``--yellow-s`` accepted: the minimum yellow change interval of traffic-engineering
practice (MUTCD 4D.26: 3 to 6 s). A shorter yellow leaves drivers at speed unable to stop, and a
zero yellow turns a green link straight to red."""
KIND = {"G": 2, "g": 1}  # link indications max green tells apart (link_kinds)
_EPS = 1e-9


@njit(cache=True)
def _restart_changed(
    s: int, old: int, new: int, link_kind: NDArray[np.int8], green_s: NDArray[np.float64]
) -> None:
    """Green ``old`` -> ``new``: a link whose indication changes starts a new continuous green."""
    for k in range(link_kind.shape[1]):
        if link_kind[old, k] != link_kind[new, k]:
            green_s[s, k] = 0.0


@njit(cache=True)
def _vehicle_green_s(
    s: int, p: int, link_kind: NDArray[np.int8], green_s: NDArray[np.float64]
) -> float:
    """Seconds green ``p`` of signal ``s`` counts as shown when it continues the green before
    it (rule 2): the longest continuous indication among its timed links."""
    out = 0.0
    for k in range(link_kind.shape[1]):
        if link_kind[p, k] > 0 and green_s[s, k] > out:
            out = green_s[s, k]
    return out


@njit(cache=True)
def _protected_lead_s(
    lo: int, hi: int, k: int, kind: int, link_kind: NDArray[np.int8], clear_s: float
) -> float:
    """Seconds before max green at which a permissive link (``kind`` 1) that some green of its
    signal (``lo``..``hi``) shows protected is overdue: the clearance of a switch to that green
    keeps it permissive, so its ``g`` would otherwise outlast max green by the clearance."""
    if kind != 1:
        return 0.0
    for q in range(lo, hi):
        if link_kind[q, k] == 2:
            return clear_s
    return 0.0


@njit(cache=True)
def constrain_kernel(
    request: NDArray[np.int64],  # [n_signals] global phase wanted, -1 keeps the current green
    demand: NDArray[np.bool_],  # [n_phases] sensed: a phase's lanes hold or approach vehicles
    true_demand: NDArray[np.bool_],  # [n_phases] a lane of the phase really holds a halting veh
    dt_s: float,
    phase_ptr: NDArray[np.int64],  # [n_signals + 1]
    needs_clearance: NDArray[np.bool_],  # [n_phases, max_greens]
    continues: NDArray[np.bool_],  # [n_phases, max_greens] local green j continues p (layout)
    link_kind: NDArray[np.int8],  # [n_phases, max_links] timed link: 1 permissive g, 2 G; else 0
    covers: NDArray[np.bool_],  # [n_phases, max_greens] local green j shows every link of p
    min_green_s: NDArray[np.float64],  # [n_signals]
    max_green_s: NDArray[np.float64],  # [n_signals]
    yellow_s: NDArray[np.float64],  # [n_signals]
    all_red_s: NDArray[np.float64],  # [n_signals]
    max_wait_s: NDArray[np.float64],  # [n_signals]
    ped_clear_s: NDArray[np.float64],  # [n_phases, max_greens] pedestrian clearance p -> q [s]
    ped_present: NDArray[np.bool_],  # [n_phases] a person waits at or walks a crossing p serves
    box_busy: NDArray[np.bool_],  # [n_signals] a vehicle is inside the junction on an ending link
    box_max_s: NDArray[np.float64],  # [n_signals] longest all-red added while the box is busy
    cur_p: NDArray[np.int64],  # [n_signals] in/out: current green (the one being left in clearance)
    next_p: NDArray[np.int64],  # [n_signals] in/out: target green during a clearance
    stage: NDArray[np.int8],  # [n_signals] in/out: 0 green, 1 yellow, 2 all-red, 3 ped clear
    t_stage_s: NDArray[np.float64],  # [n_signals] in/out: seconds the current stage has been shown
    wait_s: NDArray[np.float64],  # [n_phases] in/out: seconds with (true or sensed) demand unserved
    green_s: NDArray[np.float64],  # [n_signals, max_links] in/out: seconds a timed link is green
    changed: NDArray[np.bool_],  # [n_signals] out: the signal's displayed state changed
    end_reason: NDArray[np.int8],  # [n_signals] out: why a green was left this step (0: it wasn't)
) -> None:
    """Advance every signal by ``dt_s`` and apply requests under the safety rules (module doc)."""
    n_links = link_kind.shape[1]
    for s in range(cur_p.shape[0]):
        changed[s] = False
        end_reason[s] = 0
        t_stage_s[s] += dt_s
        lo = phase_ptr[s]
        hi = phase_ptr[s + 1]
        # timed links green during the step just shown (a clearance keeps those green in both)
        for k in range(n_links):
            if link_kind[cur_p[s], k] > 0 and (
                stage[s] == GREEN or stage[s] == PED_CLEAR or link_kind[next_p[s], k] > 0
            ):
                green_s[s, k] += dt_s
            else:
                green_s[s, k] = 0.0
        st = stage[s]
        if (
            (
                st == PED_CLEAR
                and (
                    t_stage_s[s] >= ped_clear_s[cur_p[s], next_p[s] - lo] - _EPS
                    or not ped_present[cur_p[s]]
                )
            )
            or (st == YELLOW and t_stage_s[s] >= yellow_s[s] - _EPS)
            or (
                st == ALL_RED
                and t_stage_s[s] >= all_red_s[s] - _EPS
                and (not box_busy[s] or t_stage_s[s] >= all_red_s[s] + box_max_s[s] - _EPS)
            )
        ):
            # the interval ends: pedestrian clearance -> yellow -> all-red -> the target green,
            # skipping intervals of 0 s (an all-red of 0 s is shown while the box is busy);
            # a green that continues the vehicle green follows its pedestrian clearance at once
            goes_on = st == PED_CLEAR and continues[cur_p[s], next_p[s] - lo]
            if goes_on:
                stage[s] = GREEN
                _restart_changed(s, cur_p[s], next_p[s], link_kind, green_s)
                cur_p[s] = next_p[s]
            elif st == PED_CLEAR and yellow_s[s] > 0.0:
                stage[s] = YELLOW
            elif st != ALL_RED and (all_red_s[s] > 0.0 or (box_busy[s] and box_max_s[s] > 0.0)):
                stage[s] = ALL_RED
            else:
                stage[s] = GREEN
                _restart_changed(s, cur_p[s], next_p[s], link_kind, green_s)
                cur_p[s] = next_p[s]
            t_stage_s[s] = _vehicle_green_s(s, cur_p[s], link_kind, green_s) if goes_on else 0.0
            changed[s] = True

        cur = cur_p[s]
        for p in range(lo, hi):
            if (stage[s] == GREEN or stage[s] == PED_CLEAR) and (p == cur or covers[p, cur - lo]):
                wait_s[p] = 0.0  # shown, or every link of it is shown (as or more protected)
            elif demand[p] or true_demand[p]:
                wait_s[p] += dt_s
            else:
                wait_s[p] = 0.0

        if stage[s] != GREEN or t_stage_s[s] < min_green_s[s] - _EPS:
            continue
        asked = request[s]
        if asked < lo or asked >= hi:
            asked = cur
        target = asked
        reason = 0
        starved = -1
        worst = -1.0
        for p in range(lo, hi):
            if (
                p != cur
                and (demand[p] or true_demand[p])
                and wait_s[p] >= max_wait_s[s] - _EPS
                and wait_s[p] > worst
            ):
                starved = p
                worst = wait_s[p]
        if starved >= 0:
            target = starved
            reason = STARVATION
        else:
            # max green: the target keeps an overdue link -> a green with (sensed or true)
            # demand that changes the indication of one of those links: the one keeping fewest
            # links that would reach max green during its own min green, then the longest-waiting
            fewest = n_links + 1
            longest = -1.0
            # a new green is held min green: it may not take a link past max green meanwhile
            due_s = max_green_s[s] - (min_green_s[s] if asked != cur else 0.0) - _EPS
            clear_s = yellow_s[s] + all_red_s[s]
            for p in range(lo, hi):
                if p == cur or not (demand[p] or true_demand[p]):
                    continue
                keep_s = max_green_s[s] - min_green_s[s] - _EPS
                if needs_clearance[cur, p - lo]:
                    keep_s -= clear_s
                ends = False
                kept = 0
                for k in range(n_links):
                    kind = link_kind[cur, k]
                    if kind == 0:
                        continue
                    if link_kind[p, k] == kind:
                        if green_s[s, k] >= keep_s:
                            kept += 1
                    elif link_kind[asked, k] == kind and green_s[s, k] >= due_s - _protected_lead_s(
                        lo, hi, k, kind, link_kind, clear_s
                    ):
                        ends = True
                if ends and (kept < fewest or (kept == fewest and wait_s[p] > longest)):
                    target = p
                    fewest = kept
                    longest = wait_s[p]
                    reason = MAX_OUT
        if target == cur:
            continue
        if target == asked:
            reason = CUT if demand[cur] else GAP_OUT
        end_reason[s] = reason
        t_stage_s[s] = 0.0
        changed[s] = True
        if ped_present[cur] and ped_clear_s[cur, target - lo] > 0.0:
            next_p[s] = target
            stage[s] = PED_CLEAR
        elif (
            needs_clearance[cur, target - lo]
            and not continues[cur, target - lo]
            and (yellow_s[s] > 0.0 or all_red_s[s] > 0.0)
        ):
            next_p[s] = target
            stage[s] = YELLOW if yellow_s[s] > 0.0 else ALL_RED
        else:
            _restart_changed(s, cur, target, link_kind, green_s)
            cur_p[s] = target
            next_p[s] = target
            wait_s[target] = 0.0
            if continues[cur, target - lo]:  # counts as shown since its links' green began
                t_stage_s[s] = _vehicle_green_s(s, target, link_kind, green_s)


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
    box_clear_max_s: float = 5.0  # all-red added at most while a vehicle is left in the junction

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
        if self.yellow_s is not None and not self.yellow_s >= MIN_YELLOW_S:
            raise InputError(
                f"--yellow-s must be at least {MIN_YELLOW_S:g} s (the shortest yellow change "
                f"interval drivers can stop in), got {self.yellow_s:g}"
            )
        if self.all_red_s is not None and self.all_red_s < 0:
            raise InputError(f"--all-red-s must not be negative, got {self.all_red_s:g}")
        if not self.box_clear_max_s >= 0:
            raise InputError(
                f"--box-clear-max-s must not be negative, got {self.box_clear_max_s:g}"
            )


def link_kinds(phase_states: Sequence[str], phase_ptr: NDArray[np.int64]) -> NDArray[np.int8]:
    """``[n_phases, max_links]``: the indication of link ``k`` in green ``p`` for max green, 2
    priority green ``G``, 1 permissive green ``g`` (yields); 0 red, and 0 for links green in
    every green of the signal (free right turns, exempt from max green)."""
    n_links = max((len(st) for st in phase_states), default=0)
    kind = np.zeros((len(phase_states), max(n_links, 1)), dtype=np.int8)
    for p, st in enumerate(phase_states):
        kind[p, : len(st)] = [KIND.get(c, 0) for c in st]
    for s in range(len(phase_ptr) - 1):
        lo, hi = int(phase_ptr[s]), int(phase_ptr[s + 1])
        kind[lo:hi, (kind[lo:hi] > 0).all(axis=0)] = 0
    return kind


def green_covers(link_kind: NDArray[np.int8], phase_ptr: NDArray[np.int64]) -> NDArray[np.bool_]:
    """``[n_phases, max_greens]``: local green ``j`` of ``p``'s signal shows every timed link of
    ``p`` green, with at least ``p``'s priority (``G`` for ``G``; ``g`` or ``G`` for ``g``). While
    it is shown, ``p``'s demand is being served: its starvation wait does not grow (rule 4)."""
    n_phases = link_kind.shape[0]
    width = int(np.diff(phase_ptr).max()) if n_phases else 0
    out = np.zeros((n_phases, max(width, 1)), dtype=np.bool_)
    for s in range(len(phase_ptr) - 1):
        lo, hi = int(phase_ptr[s]), int(phase_ptr[s + 1])
        for p in range(lo, hi):
            timed = link_kind[p] > 0
            for q in range(lo, hi):
                out[p, q - lo] = bool((link_kind[q][timed] >= link_kind[p][timed]).all())
    return out


def _opening_state(shown: str, target: str, stage: int) -> str:
    """State shown during the opening clearance from SUMO's display ``shown`` to green
    ``target``: links green in both stay green, other green or yellow links are yellow (stage 1)
    or red (stage 2), the rest as shown (a red-yellow ``u`` is red)."""
    ending = "y" if stage == YELLOW else "r"
    out = []
    for a, b in zip(shown, target, strict=True):
        if a in GREEN_CHARS and b in GREEN_CHARS:
            out.append(a)
        elif a in GREEN_CHARS or a in "yY":
            out.append(ending)
        else:
            out.append("r" if a == "u" else a)
    return "".join(out)


class Timing:
    """Signal timing state of a run (arrays over all controlled signals) and its kernel.

    ``initial_states`` [n_signals]: the SUMO state strings shown when lightwatch takes over (rule 0
    of the module docstring); without them every signal starts in its first green.
    """

    def __init__(
        self,
        layout: NetworkLayout,
        params: TimingParams,
        dt_s: float,
        initial_states: Sequence[str] | None = None,
    ) -> None:
        params.validate()
        n = layout.n_signals
        self.layout = layout
        self.dt_s = float(dt_s)
        self.min_green_s = np.full(n, params.min_green_s)
        self.max_green_s = np.full(n, params.max_green_s)
        self.max_wait_s = np.full(n, params.max_wait_s)
        program_yellow_s = np.where(layout.yellow_s > 0.0, layout.yellow_s, DEFAULT_YELLOW_S)
        self.yellow_s = program_yellow_s if params.yellow_s is None else np.full(n, params.yellow_s)
        self.all_red_s = (
            layout.all_red_s.copy() if params.all_red_s is None else np.full(n, params.all_red_s)
        )
        self.link_kind = link_kinds(layout.phase_states, layout.phase_ptr)
        self.continues = layout.continues()  # [n_phases, max_greens] (rule 2: ending a walk)
        self.covers = green_covers(self.link_kind, layout.phase_ptr)
        self.cur_p = layout.phase_ptr[:-1].copy()
        self.next_p = self.cur_p.copy()
        self.stage = np.zeros(n, dtype=np.int8)
        self.t_stage_s = np.zeros(n)
        self.wait_s = np.zeros(layout.n_phases)
        self.green_s = np.zeros((n, self.link_kind.shape[1]))  # seconds a timed link is green
        self.changed = np.ones(n, dtype=np.bool_)
        self.end_reason = np.zeros(n, dtype=np.int8)  # why a green ended this step (END_REASONS)
        # pedestrian clearance (rule 2): zeros on nets without crossings; sim.people sets both
        self.ped_clear_s = np.zeros(layout.needs_clearance.shape)  # [n_phases, max_greens]
        self.ped_present = np.zeros(layout.n_phases, dtype=np.bool_)  # updated every step
        # junction box (rule 2): the runner marks busy boxes each step (sim.junction_box)
        self.box_busy = np.zeros(n, dtype=np.bool_)
        self.box_max_s = np.full(n, params.box_clear_max_s)
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
        # opening clearance (rule 0): the display it starts from, and its timed links shown green
        self.initial_states: tuple[str, ...] | None = None
        self._opening = np.zeros(n, dtype=np.bool_)
        self._start_green = np.zeros(self.green_s.shape, dtype=np.bool_)
        if initial_states is not None:
            self._start_from(initial_states)

    def _start_from(self, states: Sequence[str]) -> None:
        """Rule 0: keep a displayed green, or clear the display into a green."""
        lay = self.layout
        if len(states) != lay.n_signals:
            raise ValueError(f"initial_states has {len(states)} states for {lay.n_signals} signals")
        self.initial_states = tuple(states)
        for s, shown in enumerate(states):
            greens = range(int(lay.phase_ptr[s]), int(lay.phase_ptr[s + 1]))
            if len(shown) != len(lay.phase_states[greens.start]):
                raise ValueError(f"initial state {shown!r} of signal {s} has the wrong length")
            lit = [c in GREEN_CHARS for c in shown]
            if shown in (lay.phase_states[p] for p in greens):
                self.cur_p[s] = self.next_p[s] = lay.phase_states.index(shown, greens.start)
                continue
            keeps = [
                p
                for p in greens
                if all(c in GREEN_CHARS for c, g in zip(lay.phase_states[p], lit, strict=True) if g)
            ]
            target = keeps[0] if keeps else greens.start
            self.cur_p[s] = self.next_p[s] = target
            tgt = lay.phase_states[target]
            # links shown as they will be in the target keep their continuous green
            self._start_green[s, : len(tgt)] = [
                0 < KIND.get(a, 0) == KIND.get(b, 0) for a, b in zip(shown, tgt, strict=True)
            ]
            ending = any(
                (a in GREEN_CHARS and b not in GREEN_CHARS) or a in "yY"
                for a, b in zip(shown, tgt, strict=True)
            )
            if ending and self.yellow_s[s] > 0.0:
                self.stage[s] = YELLOW
            elif (ending or not any(lit)) and self.all_red_s[s] > 0.0:
                self.stage[s] = ALL_RED
            self._opening[s] = self.stage[s] != GREEN

    def step(
        self,
        request: NDArray[np.int64],
        demand: NDArray[np.bool_],
        true_demand: NDArray[np.bool_] | None = None,
    ) -> None:
        """Advance one step and apply ``request`` [n_signals]; sets ``changed`` and
        ``end_reason`` [n_signals].

        ``demand`` [n_phases] is the sensed demand; ``true_demand`` [n_phases] (default: the
        sensed one) whether a lane of the phase really holds a halting vehicle, used by the
        starvation bound only (module docstring, rule 4). Phases flagged in ``suspect_phase`` get
        the fixed-time fallback (:func:`fallback_kernel`).
        """
        lay = self.layout
        if true_demand is None:
            true_demand = demand
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
        asked = request
        fell_back = bool(self.suspect_phase.any())
        if fell_back:
            request, demand = self._request, self._demand
        constrain_kernel(
            request,
            demand,
            true_demand,
            self.dt_s,
            lay.phase_ptr,
            lay.needs_clearance,
            self.continues,
            self.link_kind,
            self.covers,
            self.min_green_s,
            self.max_green_s,
            self.yellow_s,
            self.all_red_s,
            self.max_wait_s,
            self.ped_clear_s,
            self.ped_present,
            self.box_busy,
            self.box_max_s,
            self.cur_p,
            self.next_p,
            self.stage,
            self.t_stage_s,
            self.wait_s,
            self.green_s,
            self.changed,
            self.end_reason,
        )
        if fell_back:
            by_request = (self.end_reason == GAP_OUT) | (self.end_reason == CUT)
            self.end_reason[by_request & (request != asked)] = FALLBACK
        if self._opening.any():
            done = self._opening & (self.stage == GREEN)
            # links red during the opening clearance start their green now
            self.green_s[done] *= self._start_green[done]
            self._opening &= ~done

    def state_string(self, s: int) -> str:
        """SUMO state string signal ``s`` shows now."""
        st = int(self.stage[s])
        if st == GREEN:
            return self.layout.phase_states[self.cur_p[s]]
        if self._opening[s] and self.initial_states is not None:
            target = self.layout.phase_states[self.next_p[s]]
            return _opening_state(self.initial_states[s], target, st)
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
