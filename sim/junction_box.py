"""Vehicles still inside a junction on links whose green has ended (the junction box).

The timing kernel's all-red (``sim.timing``, rule 2) ends only once no vehicle is left inside the
junction on a link the next green does not show green and whose path the next green's new
streams (vehicles or pedestrians) cross, or after ``box_clear_max_s`` of all-red beyond the
program's: a vehicle that entered late (a slow queue discharging, a turning vehicle
left at its waiting point inside the junction, a driver yielding to people on the crossing at
its exit) is out of the way before crossing streams and crossings start. Without it such a
vehicle stops in the path of the next green's vehicles, they stop in its path, and the junction
locks (SUMO resolves this only by teleporting, which lightwatch turns off).

A link's path through the junction is its ``via`` lane from ``trafficlight.getControlledLinks``
and the internal lanes that follow it (a turn with a waiting point inside the junction has two).
Only signals whose clearance can end this step are read, one ``lane.getLastStepVehicleNumber``
per internal lane of their ending links.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.layout import GREEN_CHARS, NetworkLayout, is_internal, link_path
from sim.timing import _EPS, ALL_RED, YELLOW


class JunctionBox:
    """Per signal and link, the internal lanes of the link's path (vehicle links), and the
    lanes a green on the link puts to use (its path, or a pedestrian link's crossing lane)."""

    def __init__(self, api: Any, layout: NetworkLayout) -> None:
        self.layout = layout
        self.api = api
        self.lanes: list[list[list[str]]] = []  # [signal][link] internal lanes of vehicle paths
        self.used: list[list[list[str]]] = []  # [signal][link] lanes a green on it puts to use
        for tls_id in layout.signal_ids:
            per_link: list[list[str]] = []
            used: list[list[str]] = []
            for conns in api.trafficlight.getControlledLinks(tls_id):
                lanes: list[str] = []
                use: list[str] = []
                for conn in conns:
                    if not (conn and conn[0] and conn[1]):
                        continue
                    if is_internal(conn[0], conn[1]):  # walking area -> crossing
                        use.append(conn[1])
                        continue
                    for lane in link_path(api, conn[2]):
                        if lane not in lanes:
                            lanes.append(lane)
                per_link.append(lanes)
                used.append(lanes + use)
            self.lanes.append(per_link)
            self.used.append(used)
        self._foes: dict[str, frozenset[str]] = {}
        self._ending: dict[tuple[int, int], tuple[list[str], list[str]]] = {}

    def _foes_of(self, lane: str) -> frozenset[str]:
        got = self._foes.get(lane)
        if got is None:
            got = frozenset(self.api.lane.getInternalFoes(lane))
            self._foes[lane] = got
        return got

    def ending_lanes(self, p: int, q: int) -> tuple[list[str], list[str]]:
        """Internal lanes of the vehicle links green in green ``p`` and not in green ``q`` whose
        paths cross or merge with what ``q`` opens (green in ``q``, not in ``p``; SUMO's
        ``lane.getInternalFoes``): (those crossing a crossing it opens, those crossing only
        vehicle paths it opens)."""
        key = (p, q)
        got = self._ending.get(key)
        if got is None:
            lay = self.layout
            a, b = lay.phase_states[p], lay.phase_states[q]
            s = int(lay.phase_signal[p])
            peds = lay.ped_links[s] if lay.ped_links else frozenset()
            cleared = lay.clearing(p, q)
            opening = [  # green in q, and red before: not in p, or cleared (a crossing)
                k
                for k, (ea, eb) in enumerate(zip(a, b, strict=True))
                if eb in GREEN_CHARS
                and (ea not in GREEN_CHARS or (k in peds and cleared[k]))
                and k < len(self.used[s])
            ]
            walk = {lane for k in opening if k in peds for lane in self.used[s][k]}
            drive = {lane for k in opening if k not in peds for lane in self.used[s][k]}
            ending = [
                lane
                for k, (ea, eb) in enumerate(zip(a, b, strict=True))
                if ea in GREEN_CHARS and eb not in GREEN_CHARS and k < len(self.lanes[s])
                for lane in self.lanes[s][k]
            ]
            to_walk = [lane for lane in ending if self._foes_of(lane) & walk]
            to_drive = [
                lane for lane in ending if lane not in to_walk and self._foes_of(lane) & drive
            ]
            got = (to_walk, to_drive)
            self._ending[key] = got
        return got

    def read(self, api: Any, timing: Any, out: NDArray[np.bool_]) -> None:
        """``out`` [n_signals]: the junction box is busy, for the signals whose yellow or all-red
        can end at the next step (others: False): a vehicle is inside on an ending link whose
        path crosses a crossing the next green opens, or one stands (SUMO's halting: below
        0.1 m/s) on an ending link whose path crosses a vehicle stream it opens. A vehicle still
        moving clears the vehicle streams by itself; one standing (a turn left at its waiting
        point, a vehicle blocked) does not, and people stepping out stop even a moving one."""
        out[:] = False
        stage = timing.stage
        t = timing.t_stage_s + (timing.dt_s + _EPS)
        due = ((stage == YELLOW) & (t >= timing.yellow_s)) | (
            (stage == ALL_RED) & (t >= timing.all_red_s)
        )
        if not due.any():
            return
        count = api.lane.getLastStepVehicleNumber
        halting = api.lane.getLastStepHaltingNumber
        for s in np.flatnonzero(due).tolist():
            to_walk, to_drive = self.ending_lanes(int(timing.cur_p[s]), int(timing.next_p[s]))
            out[s] = any(count(lane) > 0 for lane in to_walk) or any(
                halting(lane) > 0 for lane in to_drive
            )
