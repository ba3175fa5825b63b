"""Conflict matrix and signal programs of a SUMO network, read from the ``.net.xml`` alone.

Used by the safety audit (:mod:`sim.audit`); deliberately independent of ``sim.layout`` and of the
running simulation, so that a bug there cannot hide a bug in what the signals showed.

How a signal's link ``k`` (position ``k`` of its state string) maps onto the network's right-of-way
rules:
    * every ``<connection tl="X" linkIndex="k">`` (and ``linkIndex2``) is a connection of link
      ``k``; several connections may share one link, and one signal may control several junctions;
    * the connection's *request* is the row of its junction's ``<request>`` table. With internal
      lanes, the junction lists in ``intLanes`` one internal lane per request, in request order:
      the last lane of the connection's ``via`` chain (a left turn that waits inside the junction
      has two), or the crossing lane for a pedestrian crossing (connection walkingarea →
      crossing). Without internal lanes the request index is counted as SUMO (and sumolib's
      ``Node.getLinkIndex``) numbers links: incoming lanes in ``incLanes`` order, each lane's
      connections in file order, walking-area connections left out;
    * ``foes`` bit ``j`` of request ``i`` (the string read from its right end) says the two paths
      cross or merge; ``response`` bit ``j`` says request ``i`` must give way to ``j``.
Two links are foes when some connection of one and some connection of the other are foes at the
same junction. Link ``k`` *yields to* link ``l`` when every such foe pair has ``k`` giving way.

Program figures (the last ``<tlLogic>`` of each id, the one SUMO runs by default):
    green state   some ``G``/``g`` and no ``y``/``Y``/``u``; distinct states counted once
    yellow_s      the longest phase with a ``y``/``Y`` (None when the program has none)
    all_red_s     the longest phase with no ``G``/``g``/``y``/``Y`` that follows a phase with a
                  ``y``/``Y`` (0 when none): the vehicles' red clearance. An all-red after a
                  green of crossings only (a pedestrian scramble's clearance) does not count.
A link green in every green state of the program is *permanent* (e.g. a free right turn), one green
in none is *dead* (never served).
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError

GREEN = frozenset("Gg")
YELLOW = frozenset("yY")


def is_green_state(state: str) -> bool:
    """A green state: some ``G``/``g`` and no ``y``/``Y``/``u``."""
    return any(c in GREEN for c in state) and not any(c in "yYu" for c in state)


@dataclass(frozen=True, slots=True)
class Link:
    """One connection of a signal link: from-lane → to-lane at one junction request."""

    from_lane: str
    to_lane: str
    from_edge: str
    junction: str
    request: int  # row of the junction's request table
    crossing: bool  # a pedestrian crossing (walking area → crossing lane)


@dataclass(frozen=True, slots=True, eq=False)
class SignalNet:
    """What the network says about one traffic light; arrays are over its links ``k``."""

    signal_id: str
    n_links: int
    links: tuple[tuple[Link, ...], ...]  # [n_links] connections of link k (may be empty)
    foe: NDArray[np.bool_]  # [n_links, n_links] symmetric: k and l cross or merge
    yields: NDArray[np.bool_]  # [n_links, n_links] k gives way to l in every foe pair
    crossing: NDArray[np.bool_]  # [n_links] link k is a pedestrian crossing
    greens: tuple[str, ...]  # distinct green states of the program, in program order
    yellow_s: float | None  # longest yellow phase of the program [s]
    all_red_s: float  # longest all-red phase of the program [s]
    permanent: NDArray[np.bool_]  # [n_links] green in every green state
    dead: NDArray[np.bool_]  # [n_links] green in no green state

    def edge_links(self) -> dict[str, list[int]]:
        """Links of the signal per incoming edge id (an approach of ``queues.csv``)."""
        out: dict[str, list[int]] = {}
        for k, conns in enumerate(self.links):
            for edge in sorted({c.from_edge for c in conns}):
                out.setdefault(edge, []).append(k)
        return out


@dataclass
class _Junction:
    inc_lanes: list[str]
    int_lanes: list[str]
    response: list[str]
    foes: list[str]


@dataclass
class _Conn:
    from_edge: str
    from_lane: int
    to_edge: str
    to_lane: int
    via: str | None
    tl: str | None
    link_indices: tuple[int, ...]


def _bit(row: str, j: int) -> bool:
    """Bit ``j`` of a SUMO request string (bit 0 is the rightmost character)."""
    return 0 <= j < len(row) and row[len(row) - 1 - j] == "1"


def _parse(
    net_file: Path,
) -> tuple[
    dict[str, tuple[str, str]],
    dict[str, _Junction],
    list[_Conn],
    dict[str, list[tuple[float, str]]],
]:
    """Edges ``{id: (function, to_node)}``, junctions, connections, ``{tls: [(dur_s, state)]}``."""
    edges: dict[str, tuple[str, str]] = {}
    junctions: dict[str, _Junction] = {}
    conns: list[_Conn] = []
    programs: dict[str, list[tuple[float, str]]] = {}
    gz = net_file.name.endswith(".gz")  # SUMO reads gzipped networks too
    try:
        with gzip.open(net_file, "rb") if gz else open(net_file, "rb") as source:
            for _, el in ET.iterparse(source, events=("end",)):
                tag = el.tag
                if tag == "edge":
                    edges[el.get("id", "")] = (el.get("function", "normal"), el.get("to", ""))
                    el.clear()
                elif tag == "junction":
                    if el.get("type") != "internal":
                        reqs = sorted(
                            (int(r.get("index", "0")), r.get("response", ""), r.get("foes", ""))
                            for r in el.iter("request")
                        )
                        junctions[el.get("id", "")] = _Junction(
                            inc_lanes=el.get("incLanes", "").split(),
                            int_lanes=el.get("intLanes", "").split(),
                            response=[r[1] for r in reqs],
                            foes=[r[2] for r in reqs],
                        )
                    el.clear()
                elif tag == "connection":
                    keys = ("linkIndex", "linkIndex2")
                    idx = tuple(int(el.get(a, "-1")) for a in keys if el.get(a))
                    conns.append(
                        _Conn(
                            from_edge=el.get("from", ""),
                            from_lane=int(el.get("fromLane", "0")),
                            to_edge=el.get("to", ""),
                            to_lane=int(el.get("toLane", "0")),
                            via=el.get("via"),
                            tl=el.get("tl"),
                            link_indices=tuple(i for i in idx if i >= 0),
                        )
                    )
                    el.clear()
                elif tag == "tlLogic":
                    programs[el.get("id", "")] = [
                        (float(ph.get("duration", "nan")), ph.get("state", ""))
                        for ph in el.iter("phase")
                    ]
                    el.clear()
    except ET.ParseError as exc:
        raise InputError(f"network file is not valid XML: {net_file} ({exc})") from None
    except OSError as exc:
        raise InputError(f"cannot read the network file {net_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"malformed network file {net_file}: {exc}") from None
    return edges, junctions, conns, programs


def _request_locator(
    edges: dict[str, tuple[str, str]], junctions: dict[str, _Junction], conns: list[_Conn]
) -> dict[tuple[str, int, str, int], tuple[str, int]]:
    """``{(from_edge, from_lane, to_edge, to_lane): (junction, request)}`` of every connection
    whose junction request can be found (module docstring)."""
    int_pos: dict[str, tuple[str, int]] = {}
    for jid, j in junctions.items():
        for pos, lane in enumerate(j.int_lanes):
            int_pos.setdefault(lane, (jid, pos))
    chain: dict[str, str] = {}
    for c in conns:
        if c.via and edges.get(c.from_edge, ("", ""))[0] == "internal":
            chain[f"{c.from_edge}_{c.from_lane}"] = c.via
    # counted numbering for junctions without internal lanes
    by_lane: dict[str, list[_Conn]] = {}
    for c in conns:
        by_lane.setdefault(f"{c.from_edge}_{c.from_lane}", []).append(c)
    counted: dict[tuple[str, int, str, int], tuple[str, int]] = {}
    for jid, j in junctions.items():
        if j.int_lanes or not j.response:
            continue
        n = 0
        for lane in j.inc_lanes:
            for c in by_lane.get(lane, ()):
                to_fn = edges.get(c.to_edge, ("", ""))[0]
                from_fn = edges.get(c.from_edge, ("", ""))[0]
                if to_fn == "walkingarea" or (from_fn == "walkingarea" and to_fn != "crossing"):
                    continue
                counted[(c.from_edge, c.from_lane, c.to_edge, c.to_lane)] = (jid, n)
                n += 1
    out: dict[tuple[str, int, str, int], tuple[str, int]] = {}
    for c in conns:
        if not c.tl:
            continue
        key = (c.from_edge, c.from_lane, c.to_edge, c.to_lane)
        lane = None
        if c.via:
            lane = c.via
            seen = {lane}
            while lane in chain and chain[lane] not in seen:
                lane = chain[lane]
                seen.add(lane)
        elif edges.get(c.to_edge, ("", ""))[0] == "crossing":
            lane = f"{c.to_edge}_{c.to_lane}"
        if lane is not None and lane in int_pos:
            out[key] = int_pos[lane]
        elif key in counted:
            out[key] = counted[key]
    return out


def read_signals(net_file: Path) -> dict[str, SignalNet]:
    """Every traffic light of ``net_file`` with its conflict matrix and program figures.

    Raises ``InputError`` for an unreadable or malformed file.
    """
    edges, junctions, conns, programs = _parse(net_file)
    locate = _request_locator(edges, junctions, conns)
    per_tls: dict[str, dict[int, list[Link]]] = {}
    for c in conns:
        if not c.tl:
            continue
        at = locate.get((c.from_edge, c.from_lane, c.to_edge, c.to_lane))
        if at is None:
            raise InputError(
                f"{net_file}: no junction request found for the connection {c.from_edge}_"
                f"{c.from_lane} -> {c.to_edge}_{c.to_lane} of signal {c.tl!r}"
            )
        link = Link(
            from_lane=f"{c.from_edge}_{c.from_lane}",
            to_lane=f"{c.to_edge}_{c.to_lane}",
            from_edge=c.from_edge,
            junction=at[0],
            request=at[1],
            crossing=edges.get(c.to_edge, ("", ""))[0] == "crossing",
        )
        for k in c.link_indices:
            per_tls.setdefault(c.tl, {}).setdefault(k, []).append(link)
    out: dict[str, SignalNet] = {}
    for tls_id in sorted(set(per_tls) | set(programs)):
        by_k = per_tls.get(tls_id, {})
        phases = programs.get(tls_id, [])
        n = max([k + 1 for k in by_k] + [len(st) for _, st in phases] + [0])
        links = tuple(tuple(by_k.get(k, ())) for k in range(n))
        foe = np.zeros((n, n), dtype=np.bool_)
        yields = np.zeros((n, n), dtype=np.bool_)
        for k in range(n):
            for m in range(n):
                if k == m:
                    continue
                pairs = [(a, b) for a in links[k] for b in links[m] if a.junction == b.junction]
                hits = []
                for a, b in pairs:
                    j = junctions[a.junction]
                    if a.request >= len(j.foes) or b.request >= len(j.foes):
                        raise InputError(
                            f"{net_file}: junction {a.junction!r} has no request row for a link "
                            f"of signal {tls_id!r}"
                        )
                    if _bit(j.foes[a.request], b.request) or _bit(j.foes[b.request], a.request):
                        hits.append(_bit(j.response[a.request], b.request))
                if hits:
                    foe[k, m] = True
                    yields[k, m] = all(hits)
        greens = tuple(dict.fromkeys(st for _, st in phases if is_green_state(st)))
        green_any = np.zeros(n, dtype=np.bool_)
        green_all = np.ones(n, dtype=np.bool_) if greens else np.zeros(n, dtype=np.bool_)
        for st in greens:
            g = np.array([k < len(st) and st[k] in GREEN for k in range(n)], dtype=np.bool_)
            green_any |= g
            green_all &= g
        yellows = [d for d, st in phases if any(c in YELLOW for c in st)]
        # an all-red is a vehicle change interval when it follows a yellow; one after a
        # pedestrian-only green (a scramble's clearance) is not shown between vehicle greens
        reds = [
            d
            for i, (d, st) in enumerate(phases)
            if not any(c in GREEN or c in YELLOW for c in st)
            and any(c in YELLOW for c in phases[i - 1][1])
        ]
        out[tls_id] = SignalNet(
            signal_id=tls_id,
            n_links=n,
            links=links,
            foe=foe,
            yields=yields,
            crossing=np.array([any(c.crossing for c in ls) for ls in links], dtype=np.bool_),
            greens=greens,
            yellow_s=max(yellows) if yellows else None,
            all_red_s=max(reds) if reds else 0.0,
            permanent=green_all,
            dead=~green_any,
        )
    return out
