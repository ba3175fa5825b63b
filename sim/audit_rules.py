"""Safety audit rules: what a signal displayed, judged by the network's own conflict matrix.

``lightwatch audit RUN...`` reads a finished run folder (``summary.json``, ``signals.csv`` or
``.parquet``, ``queues.csv`` or ``.parquet``) and the run's ``.net.xml`` (:mod:`sim.conflicts`),
never lightwatch's layout, timing or controller code. A link ``k`` is position ``k`` of a
signal's state string; it is *green* when it shows ``G`` or ``g``, *yellow* for ``y``/``Y``, red
otherwise (``r``, ``s``, ``u``, ...). Rules, per signal (times from ``signals.csv``; a state is
shown from its row's time until the next row of that signal):

1. conflict   Two foe links (paths that cross or merge at one junction) are never both green
              unless one of them yields. A link yields to a foe only when it shows minor green
              ``g`` and the junction's ``response`` matrix makes it give way to that foe: this is
              how SUMO drives a ``g`` link (a ``G`` link never gives way). So ``G`` against ``G``
              is a conflict, ``g`` against ``G`` is a permissive movement when the ``g`` link gives
              way by the matrix, and two links neither of which gives way are a conflict.
2. yellow     A vehicle link leaving green shows yellow for at least the yellow time before red
              (green straight to red is a violation unless the yellow time is 0).
   clearance  A link turning green (or ``g`` → ``G``) without giving way to a foe must find
              that foe through its change interval: not yellow, red for at least the all-red
              time, and not green from before, unless both are green at once (rule 1). A foe
              that was green before and only gives way from now (a protected turn going from
              ``G`` to permissive ``g`` as the opposing stream starts) had no change interval:
              the standard asks for a yellow before a protected movement turns permissive. A
              pedestrian crossing shows no yellow in SUMO (its change interval is the red it
              shows while the foes are still held), so a foe of a crossing may turn green only
              yellow + all-red after the crossing's green ended.
3. min green  A link's green (``G``/``g`` without interruption) lasts at least ``min_green_s``;
              a green still shown at the end of the window is not judged.
4. max green  A link showing the same green indication for ``max_green_s`` or longer at a
              ``queues.csv`` sample ``t`` and still one step later, while a *waiting* approach of
              the signal had halting vehicles at ``t``, is a violation. An approach (incoming
              edge) is waiting when none of its served links is green and one of its links is a
              foe the green link does not give way to and that no green state (the program's or
              one shown) shows green beside the link's current indication: a movement that can go
              beside it (a permissive turn giving way to it) does not need it to end. A permissive
              ``g`` turning protected ``G`` starts a new count: the protected interval is a phase
              with its own max green in signal practice (NEMA protected-permissive turns). The
              queue counts are per edge, not per lane, hence "none green".
5. starvation An approach with halting vehicles at every sample waits no longer than
              ``max_wait_s + n_greens * (min_green_s + yellow_s + all_red_s + ped_clear_max_s
              + box_clear_max_s)`` (the last two from ``manifest.timing``: the pedestrian
              clearance and the all-red added while a vehicle is left in the junction; the
              first also lengthens max green in rule 4) without a green on
              any of its served links (``n_greens``: distinct green states of the signal in the
              net program or in ``signals.csv``, whichever is more), plus one queue interval and
              one step for the sampling.
Permanent links (green in every green of the program) are exempt from 3-5 and dead ones (green in
none) do not make an approach wait. Yellow and all-red times are the run's ``manifest.timing``
values, or, where those are None and for signals SUMO times itself, the program's (longest yellow
phase, 3 s without one; longest all-red phase, 0 s without one). Controllers SUMO times
(``fixed``, ``sumo-actuated``, ``sumo-delay``, or any run without ``manifest.timing``) get 1-2;
3-5 are lightwatch's timing promises and are skipped for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.conflicts import GREEN, YELLOW, SignalNet, is_green_state

EPS = 1e-6
_RED, _GREEN, _YELLOW = 0, 1, 2
CHECKS = ("conflict", "yellow", "clearance", "min-green", "max-green", "starvation")


@dataclass(frozen=True, slots=True)
class Violation:
    time_s: float
    signal: str
    check: str  # one of CHECKS
    what: str
    link: int = -1  # the link at fault (-1: an approach)
    n_greens: int = 0  # max-green: distinct green states shown during the link's green
    cause: str = ""  # "lost-priority": a foe green before gives way only from the start on


@dataclass(frozen=True, slots=True)
class Limits:
    """Requirements for one signal [s]; None: the rule is not checked."""

    yellow_s: float
    all_red_s: float
    min_green_s: float | None = None
    max_green_s: float | None = None
    bound_s: float | None = None  # starvation bound


def _cls(c: str) -> int:
    return _GREEN if c in GREEN else _YELLOW if c in YELLOW else _RED


def _name(sig: SignalNet, k: int) -> str:
    conns = sig.links[k] if k < len(sig.links) else ()
    if not conns:
        return f"link {k}"
    kind = "crossing" if sig.crossing[k] else "link"
    return f"{kind} {k} ({conns[0].from_lane}->{conns[0].to_lane})"


def _conflict(sig: SignalNet, state: str) -> tuple[int, int] | None:
    """First pair of foe links both green with neither giving way (rule 1), or None."""
    n = sig.n_links
    green = np.array([k < len(state) and state[k] in GREEN for k in range(n)], dtype=np.bool_)
    major = np.array([k < len(state) and state[k] == "G" for k in range(n)], dtype=np.bool_)
    press = green[:, None] & (major[:, None] | ~sig.yields)
    bad = np.argwhere(np.triu(sig.foe & press & press.T))
    return (int(bad[0, 0]), int(bad[0, 1])) if bad.size else None


def walk_signal(
    sig: SignalNet, times_s: NDArray[np.float64], states: list[str], lim: Limits
) -> tuple[list[Violation], NDArray[np.float64]]:
    """Rules 1-3 over one signal's rows (sorted by time); returns the violations and
    ``green_since`` [n_rows, n_links]: start of link k's current green at row r (NaN: not green).
    """
    n = sig.n_links
    out: list[Violation] = []
    cls = np.zeros(n, dtype=np.int8)
    char = [""] * n
    since = np.full(n, np.nan)  # start of the current green/yellow (NaN: before the first row)
    timed_since = np.full(n, np.nan)  # start of the current indication, for max green
    was_green = np.zeros(n, dtype=np.bool_)
    green_end = np.full(n, -np.inf)
    red_since = np.full(n, -np.inf)
    last_green: list[str | None] = [None] * n
    green_since = np.full((len(states), n), np.nan)
    cache: dict[str, tuple[int, int] | None] = {}
    sid = sig.signal_id

    def add(t: float, check: str, what: str, cause: str = "") -> None:
        out.append(Violation(t, sid, check, what, cause=cause))

    for r, (t, st) in enumerate(zip(times_s.tolist(), states, strict=True)):
        st = st.ljust(n, "r")
        starts: list[tuple[int, bool]] = []  # (link, only the foes it gave way to before)
        for k in range(n):
            old_c, new_c = char[k], st[k]
            if old_c == new_c:
                continue
            old, new = int(cls[k]), _cls(new_c)
            cls[k], char[k] = new, new_c
            if r == 0:
                since[k] = t if new == _GREEN else np.nan
                continue
            if old == _GREEN and new == _GREEN:
                if old_c == "g" and new_c == "G":
                    starts.append((k, True))
                    timed_since[k] = t  # a protected interval after the permissive one
                continue
            if old == _GREEN:
                held = t - since[k]
                if (
                    lim.min_green_s is not None
                    and not sig.permanent[k]
                    and held < lim.min_green_s - EPS
                ):
                    add(
                        t,
                        "min-green",
                        f"{_name(sig, k)} green for only {held:g} s "
                        f"(min green {lim.min_green_s:g} s)",
                    )
                green_end[k] = t
                last_green[k] = old_c
                since[k] = t
                if new == _RED:
                    red_since[k] = t
                    if not sig.crossing[k] and lim.yellow_s > EPS:
                        add(t, "yellow", f"{_name(sig, k)} went from green to red with no yellow")
            elif old == _YELLOW:
                if new == _RED:
                    shown = t - since[k]
                    if (
                        not sig.crossing[k]
                        and last_green[k] is not None
                        and shown < lim.yellow_s - EPS
                    ):
                        add(
                            t,
                            "yellow",
                            f"{_name(sig, k)} yellow for only {shown:g} s "
                            f"(yellow {lim.yellow_s:g} s)",
                        )
                    red_since[k] = t
                elif new == _GREEN:
                    starts.append((k, False))
                since[k] = t
            else:
                if new == _GREEN:
                    starts.append((k, False))
                since[k] = t if new == _GREEN else np.nan  # a yellow after red is not judged
        for k, only_yielded in starts:
            ck = char[k]
            for b in np.flatnonzero(sig.foe[k]).tolist():
                if only_yielded and not sig.yields[k, b]:
                    continue
                if ck == "g" and sig.yields[k, b]:
                    continue  # k gives way to b
                if cls[b] == _GREEN:
                    if char[b] == "g" and sig.yields[b, k] and since[b] < t - EPS:
                        add(
                            t,
                            "clearance",
                            f"{_name(sig, k)} turned green while the conflicting "
                            f"{_name(sig, b)}, green since {since[b]:g} s, gives way to it "
                            "only from now, with no change interval",
                            cause="lost-priority",
                        )
                    continue  # otherwise both green at once: rule 1
                if last_green[b] is None:
                    continue
                if sig.crossing[b]:
                    need, gap = lim.yellow_s + lim.all_red_s, t - green_end[b]
                    if gap < need - EPS:
                        add(
                            t,
                            "clearance",
                            f"{_name(sig, k)} turned green {gap:g} s after the "
                            f"green of {_name(sig, b)} ended (needs {need:g} s)",
                        )
                elif cls[b] == _YELLOW:
                    add(
                        t,
                        "clearance",
                        f"{_name(sig, k)} turned green while the conflicting "
                        f"{_name(sig, b)} showed yellow",
                    )
                elif t - red_since[b] < lim.all_red_s - EPS:
                    add(
                        t,
                        "clearance",
                        f"{_name(sig, k)} turned green {t - red_since[b]:g} s "
                        f"after the conflicting {_name(sig, b)} turned red "
                        f"(all-red {lim.all_red_s:g} s)",
                    )
        if st not in cache:
            cache[st] = _conflict(sig, st)
        pair = cache[st]
        if pair is not None:
            a, b = pair
            add(
                t,
                "conflict",
                f"{_name(sig, a)} and {_name(sig, b)} are foes, both green "
                f"and neither gives way ({st})",
            )
        is_green = cls == _GREEN
        fresh = is_green & ~was_green  # a green that began at this row (or before the first)
        timed_since[fresh] = since[fresh]
        was_green = is_green
        green_since[r] = np.where(is_green, timed_since, np.nan)
    return out, green_since


def _waiting_foe(
    sig: SignalNet,
    k: int,
    shown: str,
    green_row: NDArray[np.bool_],
    halting_row: NDArray[np.float64],
    approaches: list[str],
    served: dict[str, list[int]],
    edge_links: dict[str, list[int]],
    alongside: dict[str, NDArray[np.bool_]],
) -> int:
    """Index of a waiting approach (rule 4) holding a foe link ``k`` does not give way to and that
    no green state shows green beside ``k`` still showing ``shown``: halting vehicles, no served
    link green. -1 when there is none. ``alongside[c][k, b]``: some green state shows link ``k``
    as ``c`` and link ``b`` green."""
    beside = alongside[shown][k]
    for a, e in enumerate(approaches):
        ks = served[e]
        if halting_row[a] <= 0 or not ks or green_row[ks].any():
            continue
        if any(
            sig.foe[k, b] and not (shown == "g" and sig.yields[k, b]) and not beside[b]
            for b in edge_links.get(e, [])
        ):
            return a
    return -1


def _alongside(sig: SignalNet, states: list[str]) -> dict[str, NDArray[np.bool_]]:
    """``{c: [n_links, n_links]}``: some green state (the program's or one shown) shows link k as
    ``c`` (``G`` or ``g``) and link b green."""
    n = sig.n_links
    shown = {st.ljust(n, "r")[:n] for st in states if is_green_state(st)} | set(sig.greens)
    out = {c: np.zeros((n, n), dtype=np.bool_) for c in "Gg"}
    for st in shown:
        st = st.ljust(n, "r")[:n]
        green = np.array([c in GREEN for c in st], dtype=np.bool_)
        for c, m in out.items():
            is_c = np.array([x == c for x in st], dtype=np.bool_)
            m |= is_c[:, None] & green[None, :]
    return out


def queue_checks(
    sig: SignalNet,
    times_s: NDArray[np.float64],
    states: list[str],
    green_since: NDArray[np.float64],
    sample_s: NDArray[np.float64],
    approaches: list[str],
    halting: NDArray[np.float64],
    lim: Limits,
    step_s: float,
    interval_s: float,
    end_s: float,
) -> list[Violation]:
    """Rules 4 (max green, once per link and green) and 5 (starvation, once per wait).

    ``times_s`` [n_rows], ``states`` and ``green_since`` [n_rows, n_links] as for
    :func:`walk_signal`; ``sample_s`` [n_samples] sorted queue sample times [s]; ``halting``
    [n_samples, n_approaches] halting vehicles per approach (incoming edge ids ``approaches``);
    ``step_s`` the simulation step, ``interval_s`` the queue sampling interval, ``end_s`` the end
    of the window [s].
    """
    out: list[Violation] = []
    n, n_rows = sig.n_links, len(states)
    green = np.array([[c in GREEN for c in st.ljust(n, "r")[:n]] for st in states], dtype=bool)
    green = green.reshape(n_rows, n)
    edge_links = sig.edge_links()
    alongside = _alongside(sig, states)
    served = {
        e: [k for k in edge_links.get(e, []) if not sig.permanent[k] and not sig.dead[k]]
        for e in approaches
    }
    # last row at or before r in which a served link of the approach is green (-1: none yet)
    last_row = {}
    for e, ks in served.items():
        hit = green[:, ks].any(axis=1) if ks else np.zeros(n_rows, dtype=np.bool_)
        last_row[e] = np.maximum.accumulate(np.where(hit, np.arange(n_rows), -1))
    # the row shown during the step that ends at sample t is the last row before t
    rows = np.searchsorted(times_s, sample_s - EPS, side="right") - 1
    later = np.searchsorted(times_s, sample_s + step_s + EPS, side="right") - 1
    slack = interval_s + step_s
    run_from: dict[str, float | None] = dict.fromkeys(approaches)
    starved_from: dict[str, float] = {}  # approach: start of the wait already reported
    too_long: set[tuple[int, float]] = set()  # (link, green start) already reported
    for i, t in enumerate(sample_s.tolist()):
        r = int(rows[i])
        if r < 0:
            continue
        for a, e in enumerate(approaches):
            if halting[i, a] <= 0:
                run_from[e] = None
                continue
            start = t if run_from[e] is None else run_from[e]
            run_from[e] = start
            if lim.bound_s is None or not served[e]:
                continue
            lr = int(last_row[e][r])
            served_until = t if lr == r else (float(times_s[lr + 1]) if lr >= 0 else -np.inf)
            origin = max(start, served_until)
            waited = t - origin
            if waited > lim.bound_s + slack + EPS and starved_from.get(e) != origin:
                starved_from[e] = origin
                what = (
                    f"approach {e} had halting vehicles for {waited:g} s without a green "
                    f"(bound {lim.bound_s:g} s + {slack:g} s sampling)"
                )
                out.append(Violation(t, sig.signal_id, "starvation", what))
        if lim.max_green_s is None or t > end_s - step_s + EPS:
            continue  # at the last sample the timing had no step left to act
        gs = green_since[r]
        st = states[r].ljust(n, "r")
        for k in np.flatnonzero(green[r] & ~sig.permanent).tolist():
            if (
                t - gs[k] < lim.max_green_s - EPS
                or green_since[int(later[i]), k] != gs[k]
                or (k, gs[k]) in too_long
            ):
                continue
            a = _waiting_foe(
                sig, k, st[k], green[r], halting[i], approaches, served, edge_links, alongside
            )
            if a >= 0:
                r0 = int(np.searchsorted(times_s, gs[k] - EPS, side="left"))
                r1 = r + 1  # first row after this green of link k
                while r1 < n_rows and green_since[r1, k] == gs[k]:
                    r1 += 1
                n_greens = len({x for x in states[r0:r1] if is_green_state(x)})
                what = (
                    f"{_name(sig, k)} green for {t - gs[k]:g} s (a green through {n_greens} "
                    f"green state(s)) and still one step later (max green {lim.max_green_s:g} s) "
                    f"while approach {approaches[a]} had {halting[i, a]:g} halting vehicles on red"
                )
                out.append(Violation(t, sig.signal_id, "max-green", what, k, n_greens))
                too_long.add((k, gs[k]))
    return out
