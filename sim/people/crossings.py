"""Signalised pedestrian crossings: which controlled links they are, their lengths, the walking
areas in front of them and the green phases that serve them.

A crossing is an internal edge of ``function="crossing"`` (``:J_c0``; one lane ``:J_c0_0``) that a
signal controls. In ``trafficlight.getControlledLinks`` it appears as a link from the walking
area on one side into the crossing lane (``(':J_w1_0', ':J_c0_0', '')``); with ``linkIndex2``
(netconvert's second crossing link) a second link controls the crossing, from the other side.
Pedestrians wait on the *walking areas* at either end (``:J_w0``, ``:J_w1``) with the crossing as
their next edge. Which internal edges are crossings is read from the net file
(:func:`read_crossings`, a streaming parse), everything else from the running simulation, like
``sim.layout``; ``api`` is the ``libsumo`` or ``traci`` module (this module imports neither).

Index spaces (joining ``sim.layout.NetworkLayout``): crossing ``c`` over all controlled signals;
walking area ``w``; phase ``p`` is the layout's global green index.

Assumptions
    * A green *serves* a crossing when any link controlling it is ``G``/``g`` in that green.
    * A network without crossings gives an empty layout (``n_crossings == 0``); nothing changes.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

GREEN_CHARS = frozenset("Gg")


def _csr(rows: Sequence[Sequence[int]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Compressed rows: (ptr [n_rows + 1], idx [nnz])."""
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    idx = np.array([i for r in rows for i in r], dtype=np.int64)
    return ptr, idx


def read_crossings(net_file: Path) -> dict[str, tuple[str, ...]]:
    """``{crossing edge id: ids of the road edges it crosses}`` of a ``.net.xml`` (streaming)."""
    out: dict[str, tuple[str, ...]] = {}
    for _, el in iterparse(net_file):
        if el.tag == "edge":
            if el.get("function") == "crossing":
                out[el.get("id", "")] = tuple(el.get("crossingEdges", "").split())
            el.clear()
        elif el.tag in ("junction", "connection", "tlLogic"):
            el.clear()
    return out


def read_pedestrian_lanes(net_file: Path) -> frozenset[str]:
    """Lane ids of the crossings and walking areas of a ``.net.xml`` (streaming): the lanes
    ``sim.layout`` must leave out of vehicle movements, lanes and approaches."""
    out: set[str] = set()
    for _, el in iterparse(net_file):
        if el.tag == "edge":
            if el.get("function") in ("crossing", "walkingarea"):
                out.update(lane.get("id", "") for lane in el.iter("lane"))
            el.clear()
        elif el.tag in ("junction", "connection", "tlLogic"):
            el.clear()
    return frozenset(out)


@dataclass(frozen=True, slots=True, eq=False)
class CrossingLayout:
    """Static crossing topology of the controlled signals; arrays never change during a run."""

    crossing_lane_ids: tuple[str, ...]  # [n_crossings] crossing lane (':J_c0_0')
    crossing_edge_ids: tuple[str, ...]  # [n_crossings] crossing edge (':J_c0'), a person's edge
    crossed_edge_ids: tuple[tuple[str, ...], ...]  # [n_crossings] road edges each one crosses
    crossing_signal: NDArray[np.int64]  # [n_crossings] signal index (layout.signal_ids)
    crossing_length_m: NDArray[np.float64]  # [n_crossings]
    crossing_link_ptr: NDArray[np.int64]  # [n_crossings + 1] CSR: link indices controlling it
    crossing_link_idx: NDArray[np.int64]  # [nnz] position in the signal's state string
    walk_area_ids: tuple[str, ...]  # [n_walk_areas] walking-area edge ids (':J_w0')
    crossing_walk_ptr: NDArray[np.int64]  # [n_crossings + 1] CSR: walking areas in front of it
    crossing_walk_idx: NDArray[np.int64]  # [nnz] walking-area index
    crossing_phase_ptr: NDArray[np.int64]  # [n_crossings + 1] CSR: greens serving it
    crossing_phase_idx: NDArray[np.int64]  # [nnz] global green phase index
    phase_crossing_ptr: NDArray[np.int64]  # [n_phases + 1] CSR: crossings a green serves
    phase_crossing_idx: NDArray[np.int64]  # [nnz] crossing index

    @property
    def n_crossings(self) -> int:
        return len(self.crossing_lane_ids)

    @property
    def n_walk_areas(self) -> int:
        return len(self.walk_area_ids)


def crossing_layout(
    api: Any,
    signal_ids: Sequence[str],
    phase_ptr: NDArray[np.int64],
    phase_states: Sequence[str],
    crossings: Mapping[str, tuple[str, ...]],
) -> CrossingLayout:
    """Crossings of ``signal_ids`` from a running simulation.

    ``phase_ptr`` [n_signals + 1] and ``phase_states`` [n_phases] are the layout's greens
    (``NetworkLayout.phase_ptr``/``phase_states``); ``crossings`` is :func:`read_crossings`.
    Crossings are numbered by signal, then by first controlling link index.
    """
    lane_ids: list[str] = []
    index: dict[str, int] = {}
    signal_of: list[int] = []
    links: list[list[int]] = []
    walks: list[list[str]] = []
    for s, tls_id in enumerate(signal_ids):
        for k, conns in enumerate(api.trafficlight.getControlledLinks(tls_id)):
            for conn in conns:
                if not conn or not conn[0] or not conn[1]:
                    continue
                a, b = conn[0], conn[1]
                if api.lane.getEdgeID(b) in crossings:
                    lane, side = b, a
                elif api.lane.getEdgeID(a) in crossings:
                    lane, side = a, b
                else:
                    continue
                c = index.get(lane)
                if c is None:
                    c = index[lane] = len(lane_ids)
                    lane_ids.append(lane)
                    signal_of.append(s)
                    links.append([])
                    walks.append([])
                if k not in links[c]:
                    links[c].append(k)
                walk = api.lane.getEdgeID(side)
                if walk not in walks[c]:
                    walks[c].append(walk)
    walk_index: dict[str, int] = {}
    for c, lane in enumerate(lane_ids):
        for link in api.lane.getLinks(lane):
            walk = api.lane.getEdgeID(link[0])
            if walk not in walks[c]:
                walks[c].append(walk)
        walks[c].sort()
        for walk in walks[c]:
            walk_index.setdefault(walk, len(walk_index))

    n_phases = len(phase_states)
    crossing_phases: list[list[int]] = []
    phase_crossings: list[list[int]] = [[] for _ in range(n_phases)]
    for c in range(len(lane_ids)):
        s = signal_of[c]
        served = [
            p
            for p in range(int(phase_ptr[s]), int(phase_ptr[s + 1]))
            if any(k < len(phase_states[p]) and phase_states[p][k] in GREEN_CHARS for k in links[c])
        ]
        crossing_phases.append(served)
        for p in served:
            phase_crossings[p].append(c)

    edge_ids = tuple(api.lane.getEdgeID(lane) for lane in lane_ids)
    cl_ptr, cl_idx = _csr(links)
    cw_ptr, cw_idx = _csr([[walk_index[w] for w in ws] for ws in walks])
    cp_ptr, cp_idx = _csr(crossing_phases)
    pc_ptr, pc_idx = _csr(phase_crossings)
    return CrossingLayout(
        crossing_lane_ids=tuple(lane_ids),
        crossing_edge_ids=edge_ids,
        crossed_edge_ids=tuple(crossings[e] for e in edge_ids),
        crossing_signal=np.array(signal_of, dtype=np.int64),
        crossing_length_m=np.array([api.lane.getLength(x) for x in lane_ids], dtype=np.float64),
        crossing_link_ptr=cl_ptr,
        crossing_link_idx=cl_idx,
        walk_area_ids=tuple(walk_index),
        crossing_walk_ptr=cw_ptr,
        crossing_walk_idx=cw_idx,
        crossing_phase_ptr=cp_ptr,
        crossing_phase_idx=cp_idx,
        phase_crossing_ptr=pc_ptr,
        phase_crossing_idx=pc_idx,
    )


def move_crossings(
    crossings: CrossingLayout,
    move_signal: NDArray[np.int64],
    move_in_edge_ids: Sequence[str],
    move_out_edge_ids: Sequence[str],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """CSR (ptr [n_moves + 1], idx [nnz]): the crossings each vehicle movement passes.

    Movement ``m`` of signal ``s`` passes crossing ``c`` of the same signal when ``c`` crosses
    the edge the movement comes from or goes to (``crossed_edge_ids``); its vehicles then yield
    to pedestrians there. ``move_*_edge_ids`` [n_moves] are the edges of the layout's
    ``move_in_lane``/``move_out_lane``.
    """
    by_edge: dict[tuple[int, str], list[int]] = {}
    for c, edges in enumerate(crossings.crossed_edge_ids):
        for edge in edges:
            by_edge.setdefault((int(crossings.crossing_signal[c]), edge), []).append(c)
    rows = []
    for m, s in enumerate(move_signal):
        found = by_edge.get((int(s), move_in_edge_ids[m]), []) + by_edge.get(
            (int(s), move_out_edge_ids[m]), []
        )
        rows.append(sorted(set(found)))
    return _csr(rows)


def iterparse(path: Path) -> Iterator[tuple[str, ET.Element]]:
    """``ET.iterparse(path, events=("end",))``, decompressing ``.gz`` files (SUMO reads them)."""
    if not path.name.endswith(".gz"):
        yield from ET.iterparse(path, events=("end",))
        return
    with gzip.open(path, "rb") as source:
        yield from ET.iterparse(source, events=("end",))
