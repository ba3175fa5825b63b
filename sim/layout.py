"""Static network layout: signals, their green phases, lanes, movements and clearances.

Built once per run from the running simulation (``trafficlight.getAllProgramLogics`` and
``getControlledLinks``), so programs loaded from additional files count exactly as SUMO sees them.
The functions take the ``libsumo`` or ``traci`` module as ``api``; they do not import either.

Index spaces
    signal ``s``   one SUMO traffic-light logic (a TLS id, possibly several joined junctions)
    phase ``p``    one *green* phase, numbered globally; signal ``s`` owns
                   ``phase_ptr[s] <= p < phase_ptr[s + 1]``; its local green index is
                   ``p - phase_ptr[s]``
    lane ``l``     incoming lanes of controlled links first, then outgoing lanes
    move ``m``     one controlled link (incoming lane, outgoing lane, link index)
    approach ``a`` one incoming edge of one signal

Assumptions (documented because controllers rely on them)
    * A *green phase* is a phase of the signal's running program whose state has at least one
      ``G``/``g`` and no ``y``/``u`` (yellow, red-yellow). Phases with identical states are merged.
      Greens may be served in any order: the program's order is only the fixed-time fallback.
    * A phase *serves* a lane when at least one link from that lane is ``G`` or ``g`` in it.
    * Switching from green ``p`` to green ``q`` needs a clearance when some link green in ``p`` is
      not green in ``q``, or is a protected green (``G``) in ``p`` and permissive (``g``) in ``q``
      (the protected turn ends with a yellow before the stream it must yield to starts). The
      clearance is a yellow interval (those links ``y``, others as in ``p``) of the signal's
      yellow time, then an all-red interval (those links ``r``) of its
      all-red time. Links green in both stay green throughout.
    * Yellow time is the longest yellow phase of the program (3 s when it has none); all-red time is
      the longest phase without any green or yellow link (0 s when it has none).
    * Links that no green serves (always red) are ignored; links green in every green phase (free
      right turns) are served but never need clearance.
    * Pedestrian links (from a walking area into a crossing, both internal lanes ``:J_w0_0`` /
      ``:J_c0_0``) are not movements: their lanes are no lanes here and no phase serves them as
      lanes; they stay in the state strings (and clearances), and ``sim.people.crossings`` maps
      them to crossings. A net without crossings has no such links.
    * A switch that opens a crossing also clears the vehicle links that stay green but
      permissive (``g``) into it (:func:`clears`): they may have to yield to the crossing, and
      their vehicles entered while no pedestrian was there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError

DEFAULT_YELLOW_S = 3.0
GREEN_CHARS = frozenset("Gg")
YELLOW_CHARS = frozenset("yYu")
GREEN, YELLOW, ALL_RED, PED_CLEAR = 0, 1, 2, 3
"""Stages of a signal (``sim.timing``): a green, the yellow and all-red intervals that end it,
and the pedestrian clearance before them. Here so that the layout names what each shows."""


def _ends_priority(a: str, b: str) -> bool:
    """A link shown ``a`` in one green and ``b`` in the next must be cleared in between: it
    loses its green, or a protected (``G``) movement becomes permissive (``g``) and must yield
    to a stream that starts with the new green (a change interval, as for a protected turn)."""
    return a in GREEN_CHARS and (b not in GREEN_CHARS or (a == "G" and b == "g"))


def is_green_phase(state: str) -> bool:
    """A SUMO state string is a *green phase*: some ``G``/``g`` and no ``y``/``Y``/``u``."""
    return any(c in GREEN_CHARS for c in state) and not any(c in YELLOW_CHARS for c in state)


def clears(
    a: str,
    b: str,
    ped_links: frozenset[int] = frozenset(),
    ped_foes: Mapping[int, frozenset[int]] | None = None,
) -> list[bool]:
    """Per link of a signal: must it be cleared (yellow, then all-red) when green ``a`` switches
    to green ``b``? Yes when it loses its green or priority (:func:`_ends_priority`), and, when
    ``b`` opens a pedestrian crossing (a link in ``ped_links`` red in ``a``, green in ``b``), for
    every vehicle link that stays green but permissive (``g`` in ``b``): its vehicles drove in
    without pedestrians to yield to and must stop before people step out.

    A crossing green in both ``a`` and ``b`` is cleared too (red through the change interval)
    when a vehicle link whose path crosses it (``ped_foes``: crossing link -> those vehicle
    links) is cleared: a turning vehicle still inside the junction, yielding to the people on
    that crossing, can leave only once no one steps on it any more; while the crossing stays
    green it stands in the junction, in the way of what ``b`` opens."""
    opens = any(k < len(a) and a[k] not in GREEN_CHARS and b[k] in GREEN_CHARS for k in ped_links)
    out = [
        _ends_priority(ea, eb) or (opens and k not in ped_links and ea in GREEN_CHARS and eb == "g")
        for k, (ea, eb) in enumerate(zip(a, b, strict=True))
    ]
    for k, foes in (ped_foes or {}).items():
        if k < len(a) and a[k] in GREEN_CHARS and any(out[j] for j in foes if j < len(out)):
            out[k] = True
    return out


def link_path(api: Any, via: str) -> list[str]:
    """Internal lanes of a vehicle link's path, from its ``via`` lane until the path leaves the
    junction: ``lane.getLinks`` names the next normal lane and, fifth, the internal lane that
    leads there (after a waiting point inside the junction), if any."""
    out: list[str] = []
    lane = via
    while lane and is_internal(lane) and lane not in out:
        out.append(lane)
        nxt = [link[4] for link in api.lane.getLinks(lane) if link[4] and is_internal(link[4])]
        lane = nxt[0] if nxt else ""
    return out


def is_internal(*lane_ids: str) -> bool:
    """Any of the lanes is internal to a junction (``:J_...``): the walking areas and crossings
    of pedestrian links; a vehicle link runs from a normal lane to a normal lane."""
    return any(lane.startswith(":") for lane in lane_ids)


def csr_rows(rows: Sequence[Sequence[int]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Compressed rows of ``rows``: (ptr [n_rows + 1], idx [nnz]); row ``r`` is
    ``idx[ptr[r]:ptr[r + 1]]``."""
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    idx = np.array([i for r in rows for i in r], dtype=np.int64)
    return ptr, idx


@dataclass(frozen=True, slots=True, eq=False)
class NetworkLayout:
    """Static topology of the controlled signals; arrays never change during a run."""

    signal_ids: tuple[str, ...]
    lane_ids: tuple[str, ...]
    n_in_lanes: int  # lanes [0, n_in_lanes) feed controlled links
    lane_length_m: NDArray[np.float64]  # [n_lanes]
    phase_ptr: NDArray[np.int64]  # [n_signals + 1]
    phase_signal: NDArray[np.int64]  # [n_phases]
    phase_states: tuple[str, ...]  # [n_phases] SUMO state string of each green
    phase_lane_ptr: NDArray[np.int64]  # [n_phases + 1] CSR rows: incoming lanes a phase serves
    phase_lane_idx: NDArray[np.int64]  # [nnz]
    phase_move_ptr: NDArray[np.int64]  # [n_phases + 1] CSR rows: movements a phase serves
    phase_move_idx: NDArray[np.int64]  # [nnz]
    move_in_lane: NDArray[np.int64]  # [n_moves]
    move_out_lane: NDArray[np.int64]  # [n_moves]
    move_signal: NDArray[np.int64]  # [n_moves]
    move_link_index: NDArray[np.int64]  # [n_moves] position in the signal's state string
    needs_clearance: NDArray[np.bool_]  # [n_phases, max_greens] p -> local green q
    yellow_s: NDArray[np.float64]  # [n_signals]
    all_red_s: NDArray[np.float64]  # [n_signals]
    program_green_s: NDArray[np.float64]  # [n_phases] duration of the green in the net's program
    approach_ids: tuple[str, ...]  # [n_approaches] incoming edge id
    approach_signal: NDArray[np.int64]  # [n_approaches]
    lane_approach: NDArray[np.int64]  # [n_lanes] approach of an incoming lane, -1 for outgoing
    # [n_signals] positions of pedestrian-crossing links in the signal's state string
    ped_links: tuple[frozenset[int], ...] = ()
    # [n_signals] crossing link -> vehicle links whose paths cross it (:func:`clears`)
    ped_foes: tuple[Mapping[int, frozenset[int]], ...] = ()
    _transition_cache: dict[tuple[int, int, int], str] = field(default_factory=dict, repr=False)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_parts(
        cls,
        *,
        signal_ids: Sequence[str],
        lane_ids: Sequence[str],
        n_in_lanes: int,
        lane_length_m: NDArray[np.float64],
        phase_states: Sequence[str],
        phase_signal: Sequence[int],
        program_green_s: Sequence[float],
        move_in_lane: Sequence[int],
        move_out_lane: Sequence[int],
        move_signal: Sequence[int],
        move_link_index: Sequence[int],
        yellow_s: Sequence[float],
        all_red_s: Sequence[float],
        approach_ids: Sequence[str],
        approach_signal: Sequence[int],
        lane_approach: NDArray[np.int64],
        ped_links: Sequence[frozenset[int]] | None = None,
        ped_foes: Sequence[Mapping[int, frozenset[int]]] | None = None,
    ) -> NetworkLayout:
        """The one way to build a layout: derives what follows from the parts given.

        Phases must be grouped by signal (``phase_signal`` non-decreasing) and movements listed
        signal by signal. Derived here: ``phase_ptr``; the CSR rows of the movements a phase
        serves (a link green, ``G``/``g``, in its state) and of their distinct incoming lanes;
        ``needs_clearance[p, j]``: some link of ``p`` must be cleared switching to local green
        ``j`` of the same signal (:func:`clears`; ``ped_links`` [n_signals], the pedestrian
        links of each signal, default none; ``ped_foes`` [n_signals], per crossing link the
        vehicle links whose paths cross it, default none).
        """
        n_sig = len(signal_ids)
        phase_signal_a = np.asarray(phase_signal, dtype=np.int64)
        if np.any(np.diff(phase_signal_a) < 0):
            raise ValueError("phases must be grouped by signal")
        phase_ptr = np.zeros(n_sig + 1, dtype=np.int64)
        phase_ptr[1:] = np.cumsum(np.bincount(phase_signal_a, minlength=n_sig))
        signal_moves: list[list[int]] = [[] for _ in range(n_sig)]
        for m, s in enumerate(move_signal):
            signal_moves[s].append(m)
        phase_moves: list[list[int]] = []
        phase_lanes: list[list[int]] = []
        for p, st in enumerate(phase_states):
            moves = [
                m
                for m in signal_moves[phase_signal[p]]
                if move_link_index[m] < len(st) and st[move_link_index[m]] in GREEN_CHARS
            ]
            phase_moves.append(moves)
            phase_lanes.append(sorted({int(move_in_lane[m]) for m in moves}))
        peds = tuple(ped_links) if ped_links is not None else (frozenset(),) * n_sig
        foes = tuple(ped_foes) if ped_foes is not None else ({},) * n_sig
        max_greens = int(np.diff(phase_ptr).max()) if n_sig else 0
        needs = np.zeros((len(phase_states), max_greens), dtype=np.bool_)
        for p, a in enumerate(phase_states):
            s = phase_signal[p]
            for j, q in enumerate(range(phase_ptr[s], phase_ptr[s + 1])):
                b = phase_states[q]
                needs[p, j] = any(clears(a, b, peds[s], foes[s]))
        pl_ptr, pl_idx = csr_rows(phase_lanes)
        pm_ptr, pm_idx = csr_rows(phase_moves)
        return cls(
            signal_ids=tuple(signal_ids),
            lane_ids=tuple(lane_ids),
            n_in_lanes=n_in_lanes,
            lane_length_m=np.asarray(lane_length_m, dtype=np.float64),
            phase_ptr=phase_ptr,
            phase_signal=phase_signal_a,
            phase_states=tuple(phase_states),
            phase_lane_ptr=pl_ptr,
            phase_lane_idx=pl_idx,
            phase_move_ptr=pm_ptr,
            phase_move_idx=pm_idx,
            move_in_lane=np.array(move_in_lane, dtype=np.int64),
            move_out_lane=np.array(move_out_lane, dtype=np.int64),
            move_signal=np.array(move_signal, dtype=np.int64),
            move_link_index=np.array(move_link_index, dtype=np.int64),
            needs_clearance=needs,
            yellow_s=np.array(yellow_s, dtype=np.float64),
            all_red_s=np.array(all_red_s, dtype=np.float64),
            program_green_s=np.array(program_green_s, dtype=np.float64),
            approach_ids=tuple(approach_ids),
            approach_signal=np.array(approach_signal, dtype=np.int64),
            lane_approach=np.asarray(lane_approach, dtype=np.int64),
            ped_links=peds,
            ped_foes=foes,
        )

    @property
    def n_signals(self) -> int:
        return len(self.signal_ids)

    @property
    def n_phases(self) -> int:
        return len(self.phase_states)

    @property
    def n_lanes(self) -> int:
        return len(self.lane_ids)

    @property
    def n_approaches(self) -> int:
        return len(self.approach_ids)

    @property
    def n_greens(self) -> NDArray[np.int64]:
        """Green phases per signal, shape [n_signals]."""
        return np.diff(self.phase_ptr)

    @property
    def max_greens(self) -> int:
        return int(self.n_greens.max()) if self.n_signals else 0

    def transition_state(self, p: int, q: int, stage: int) -> str:
        """SUMO state string shown while leaving green ``p`` for green ``q``.

        ``stage`` is :data:`YELLOW`, :data:`ALL_RED` or :data:`PED_CLEAR` (the pedestrian
        clearance before them, ``sim.timing``: vehicle links still as in ``p``). A pedestrian
        crossing that ends shows red in all three, never yellow (as in SUMO's own programs: a
        crossing's change interval is the red it shows while its foes are still held).
        """
        key = (p, q, stage)
        cached = self._transition_cache.get(key)
        if cached is not None:
            return cached
        a = self.phase_states[p]
        ending = "y" if stage == YELLOW else "r"
        peds = self.ped_links[self.phase_signal[p]] if self.ped_links else frozenset()
        out = "".join(
            ("r" if k in peds else ea if stage == PED_CLEAR else ending) if c else ea
            for k, (ea, c) in enumerate(zip(a, self.clearing(p, q), strict=True))
        )
        self._transition_cache[key] = out
        return out

    def continues(self) -> NDArray[np.bool_]:
        """``[n_phases, max_greens]``: local green ``j`` *continues* green ``p``: it shows every
        vehicle link of ``p`` as ``p`` does and only closes crossings (at least one green in
        ``p`` is red in ``j``; none opens). Switching ``p`` -> ``j`` ends a walk while the
        vehicle green goes on (``sim.timing`` rule 2). All False on nets without crossings."""
        cached = self._derived.get("continues")
        if cached is not None:
            return cached
        out = np.zeros(self.needs_clearance.shape, dtype=np.bool_)
        for s, peds in enumerate(self.ped_links):
            if not peds:
                continue
            lo, hi = int(self.phase_ptr[s]), int(self.phase_ptr[s + 1])
            for p in range(lo, hi):
                a = self.phase_states[p]
                for q in range(lo, hi):
                    b = self.phase_states[q]
                    out[p, q - lo] = (
                        all(
                            x == y
                            for k, (x, y) in enumerate(zip(a, b, strict=True))
                            if k not in peds
                        )
                        and not any(a[k] not in GREEN_CHARS and b[k] in GREEN_CHARS for k in peds)
                        and any(a[k] in GREEN_CHARS and b[k] not in GREEN_CHARS for k in peds)
                    )
        self._derived["continues"] = out
        return out

    def permissive_lanes(self) -> NDArray[np.bool_]:
        """``[nnz of phase_lane_idx]``: entry ``k`` of green ``p``'s lane row is a lane whose
        every movement ``p`` shows is permissive (``g``: it yields to conflicting traffic)."""
        cached = self._derived.get("permissive_lanes")
        if cached is not None:
            return cached
        out = np.zeros(self.phase_lane_idx.shape[0], dtype=np.bool_)
        for p, state in enumerate(self.phase_states):
            kinds: dict[int, set[str]] = {}
            for m in self.phase_move_idx[self.phase_move_ptr[p] : self.phase_move_ptr[p + 1]]:
                kinds.setdefault(int(self.move_in_lane[m]), set()).add(
                    state[int(self.move_link_index[m])]
                )
            for k in range(int(self.phase_lane_ptr[p]), int(self.phase_lane_ptr[p + 1])):
                out[k] = kinds.get(int(self.phase_lane_idx[k])) == {"g"}
        self._derived["permissive_lanes"] = out
        return out

    def vehicle_continuation(self) -> NDArray[np.int64]:
        """``[n_phases]``: the green that continues green ``p`` (:meth:`continues`) with the
        fewest crossings green, the lowest index among equals; -1 where none does."""
        cached = self._derived.get("vehicle_continuation")
        if cached is not None:
            return cached
        cont = self.continues()
        out = np.full(self.n_phases, -1, dtype=np.int64)
        for p in range(self.n_phases):
            s = int(self.phase_signal[p])
            lo = int(self.phase_ptr[s])
            peds = self.ped_links[s] if self.ped_links else frozenset()
            fewest = len(peds) + 1
            for j in np.flatnonzero(cont[p]):
                n_green = sum(self.phase_states[lo + j][k] in GREEN_CHARS for k in peds)
                if n_green < fewest:
                    out[p], fewest = lo + j, n_green
        self._derived["vehicle_continuation"] = out
        return out

    def clearing(self, p: int, q: int) -> list[bool]:
        """Per link of green ``p``'s signal: is it cleared switching to green ``q``
        (:func:`clears` with the signal's crossings)?"""
        s = self.phase_signal[p]
        peds = self.ped_links[s] if self.ped_links else frozenset()
        foes = self.ped_foes[s] if self.ped_foes else None
        return clears(self.phase_states[p], self.phase_states[q], peds, foes)

    def green_index(self, signal_id: str, state: str) -> int:
        """Global phase index of a green state of a signal (``InputError`` if it is not one)."""
        s = self.signal_ids.index(signal_id)
        for p in range(self.phase_ptr[s], self.phase_ptr[s + 1]):
            if self.phase_states[p] == state:
                return p
        raise InputError(f"signal {signal_id!r} has no green phase {state!r}")


def _current_logic(api: Any, tls_id: str) -> Any:
    program_id = api.trafficlight.getProgram(tls_id)
    logics = api.trafficlight.getAllProgramLogics(tls_id)
    for logic in logics:
        if logic.programID == program_id:
            return logic
    return logics[0]


def _crossing_foes(
    api: Any, crossing_lanes: Mapping[int, str], vias: Mapping[int, list[str]]
) -> dict[int, frozenset[int]]:
    """Per crossing link of a signal (its crossing lane), the vehicle links whose paths through
    the junction (:func:`link_path` of their ``via`` lanes) cross it: SUMO's
    ``lane.getInternalFoes`` of the crossing lane. Empty without crossings."""
    if not crossing_lanes:
        return {}
    paths = {k: {lane for via in v for lane in link_path(api, via)} for k, v in vias.items()}
    out: dict[int, frozenset[int]] = {}
    for k, lane in crossing_lanes.items():
        foes = set(api.lane.getInternalFoes(lane))
        out[k] = frozenset(j for j, path in paths.items() if path & foes)
    return out


def build_layout(api: Any, signal_ids: list[str] | None = None) -> NetworkLayout:
    """Build the layout of ``signal_ids`` (default: every traffic light) from a running simulation.

    Raises ``InputError`` when the network has no traffic lights or a signal has no green phase.
    """
    all_ids = list(api.trafficlight.getIDList())
    if not all_ids:
        raise InputError("the network has no traffic lights to control")
    if signal_ids is None:
        signal_ids = all_ids
    unknown = sorted(set(signal_ids) - set(all_ids))
    if unknown:
        raise InputError(f"unknown signal id(s): {', '.join(unknown)}")

    phase_states: list[str] = []
    phase_signal: list[int] = []
    program_green_s: list[float] = []
    yellow_s: list[float] = []
    all_red_s: list[float] = []
    links_per_signal: list[list[tuple[int, str, str]]] = []
    ped_links: list[frozenset[int]] = []
    ped_foes: list[dict[int, frozenset[int]]] = []
    for s, tls_id in enumerate(signal_ids):
        logic = _current_logic(api, tls_id)
        greens: dict[str, float] = {}
        yellows, reds = [], []
        phases = list(logic.phases)
        for i, ph in enumerate(phases):
            st = ph.state
            if is_green_phase(st):
                greens[st] = max(greens.get(st, 0.0), float(ph.duration))
            elif any(c in YELLOW_CHARS for c in st):
                yellows.append(float(ph.duration))
            elif not any(c in GREEN_CHARS for c in st) and any(
                c in YELLOW_CHARS for c in phases[i - 1].state
            ):  # a red clearance after a yellow; not a pedestrian scramble's clearance
                reds.append(float(ph.duration))
        if not greens:
            raise InputError(f"signal {tls_id!r} has no green phase in its program")
        for st, dur in greens.items():
            phase_states.append(st)
            phase_signal.append(s)
            program_green_s.append(dur)
        yellow_s.append(max(yellows) if yellows else DEFAULT_YELLOW_S)
        all_red_s.append(max(reds) if (reds and yellows) else 0.0)
        links = []
        peds: set[int] = set()
        crossing_lanes: dict[int, str] = {}
        vias: dict[int, list[str]] = {}
        for k, conns in enumerate(api.trafficlight.getControlledLinks(tls_id)):
            for conn in conns:
                if conn and conn[0] and conn[1] and is_internal(conn[0], conn[1]):
                    peds.add(k)
                    crossing_lanes.setdefault(k, conn[1])
                # pedestrian links (walking area -> crossing) run between internal lanes (':')
                if conn and conn[0] and conn[1] and not is_internal(conn[0], conn[1]):
                    links.append((k, conn[0], conn[1]))
                    if conn[2]:
                        vias.setdefault(k, []).append(conn[2])
        links_per_signal.append(links)
        ped_links.append(frozenset(peds))
        ped_foes.append(_crossing_foes(api, crossing_lanes, vias))

    # lanes: incoming first, then outgoing, in order of appearance
    in_lanes: dict[str, int] = {}
    for links in links_per_signal:
        for _, a, _ in links:
            in_lanes.setdefault(a, len(in_lanes))
    lane_index = dict(in_lanes)
    for links in links_per_signal:
        for _, _, b in links:
            lane_index.setdefault(b, len(lane_index))
    lane_ids = tuple(lane_index)

    move_in, move_out, move_sig, move_k = [], [], [], []
    for s, links in enumerate(links_per_signal):
        for k, a, b in links:
            move_in.append(lane_index[a])
            move_out.append(lane_index[b])
            move_sig.append(s)
            move_k.append(k)

    approach_index: dict[tuple[int, str], int] = {}
    lane_approach = np.full(len(lane_ids), -1, dtype=np.int64)
    for s, links in enumerate(links_per_signal):
        for _, a, _ in links:
            edge = api.lane.getEdgeID(a)
            ai = approach_index.setdefault((s, edge), len(approach_index))
            lane_approach[lane_index[a]] = ai

    return NetworkLayout.from_parts(
        signal_ids=signal_ids,
        lane_ids=lane_ids,
        n_in_lanes=len(in_lanes),
        lane_length_m=np.array([api.lane.getLength(lid) for lid in lane_ids], dtype=np.float64),
        phase_states=phase_states,
        phase_signal=phase_signal,
        program_green_s=program_green_s,
        move_in_lane=move_in,
        move_out_lane=move_out,
        move_signal=move_sig,
        move_link_index=move_k,
        yellow_s=yellow_s,
        all_red_s=all_red_s,
        approach_ids=[edge for (_, edge) in approach_index],
        approach_signal=[s for (s, _) in approach_index],
        lane_approach=lane_approach,
        ped_links=ped_links,
        ped_foes=ped_foes,
    )
