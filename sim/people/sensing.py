"""Reading people from a running simulation: waiting pedestrians per crossing, vehicle occupancy.

``api`` is the ``libsumo`` or ``traci`` module (this module imports neither).

Waiting pedestrians. A person *waits to use crossing c* when they are on a walking area in front of
``c`` (:class:`~sim.people.crossings.CrossingLayout`), ``c`` is their next edge, and they have
stood still (SUMO's ``person.getWaitingTime() > 0``, speed below 0.1 m/s) at some point since they
came there heading for ``c``. They keep waiting until they leave the walking area or turn away:
shuffling forward in the crowd does not restart their wait (SUMO's own waiting time does restart).
A wait therefore begins ``getWaitingTime()`` seconds before the step the person is first seen
standing, and ends when they step onto the crossing.

Per step this costs one ``edge.getLastStepPersonIDs`` per walking area and one
``person.getNextEdge`` per person on a walking area, plus ``person.getWaitingTime`` once per wait.
Measured on ``downtown`` (48 walking areas, about 300 persons walking; libsumo, 900 steps, 2 shared
cores, so only the ratios mean something): 1.1-1.4 ms per step, against 1.2-1.4 ms for asking
every person in the network (which grows with all walkers, not those at crossings) and about
4 ms for person context subscriptions around each signal (most of it inside SUMO's step).

Occupancy. Persons on board a vehicle: where the demand has persons riding (SUMO ``<ride>``),
``vehicle.getPersonNumber() + 1`` (riders and the driver) for vehicles that are not passenger
cars; otherwise the per-vClass occupancy (:data:`DEFAULT_OCCUPANCY`, ``--occupancy``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.people.crossings import CrossingLayout, iterparse

DEFAULT_OCCUPANCY: dict[str, float] = {"passenger": 1.3, "bus": 40.0, "coach": 40.0}
"""Persons per vehicle by SUMO vClass where the demand does not model riders; any other vClass
carries 1. Passenger cars: 1.3, the mean car occupancy of urban trips in European and US travel
surveys (about 1.2 for commuting, 1.5 over all purposes). Buses and coaches: 40, a well-used
standard 12 m city bus (70-80 places) at a busy signal."""

VCLASSES: frozenset[str] = frozenset(
    [
        "private",
        "emergency",
        "authority",
        "army",
        "vip",
        "pedestrian",
        "passenger",
        "hov",
        "taxi",
        "bus",
        "coach",
        "delivery",
        "truck",
        "trailer",
        "motorcycle",
        "moped",
        "bicycle",
        "evehicle",
        "tram",
        "rail_urban",
        "rail",
        "rail_electric",
        "rail_fast",
        "ship",
        "container",
        "cable_car",
        "subway",
        "aircraft",
        "wheelchair",
        "scooter",
        "drone",
        "custom1",
        "custom2",
    ]
)
"""SUMO's vehicle classes (``--occupancy`` accepts these names)."""


def parse_occupancy(text: str) -> dict[str, float]:
    """``"bus=40,passenger=1.3"`` → :data:`DEFAULT_OCCUPANCY` updated with those values.

    Raises ``InputError`` (one line) for a malformed item, an unknown vClass, a value that is not
    a finite number > 0, or a vClass given twice.
    """
    out = dict(DEFAULT_OCCUPANCY)
    seen: set[str] = set()
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--occupancy: expected VCLASS=PERSONS, got {item!r}")
        if name not in VCLASSES:
            raise InputError(f"--occupancy: unknown vehicle class {name!r}")
        if name in seen:
            raise InputError(f"--occupancy: {name} given twice")
        try:
            persons = float(value)
        except ValueError:
            raise InputError(f"--occupancy: {name}={value.strip()!r} is not a number") from None
        if not math.isfinite(persons) or persons <= 0:
            raise InputError(f"--occupancy: {name} must be a number > 0, got {value.strip()}")
        seen.add(name)
        out[name] = persons
    return out


def demand_has_rides(route_files: Iterable[Path]) -> bool:
    """Whether any route file has a person riding a vehicle (``<ride>``), streaming."""
    for path in route_files:
        for _, el in iterparse(path):
            if el.tag == "ride":
                return True
            if el.tag in ("vehicle", "trip", "flow", "person", "route"):
                el.clear()
    return False


class PedSensor:
    """Truth of pedestrians waiting per crossing, read once per step into preallocated arrays.

    ``waiting_ped`` [n_crossings] int32 persons waiting now; ``wait_s`` [n_crossings] float64 how
    long the first of them (the longest waiting) has waited [s], 0 when none waits;
    ``on_crossing_ped`` [n_crossings] int32 persons on the crossing (read with ``on_crossing``);
    ``longest_wait_s`` the longest single wait seen so far in the run; ``person_wait_s`` the
    seconds each person has waited at crossings so far; ``waits`` every single wait as
    ``(person id, crossing, began_s, wait_s)``. The last two hold finished waits, and the ones
    still going on after :meth:`finish`.
    """

    def __init__(self, crossings: CrossingLayout) -> None:
        self.crossings = crossings
        n = crossings.n_crossings
        self.waiting_ped = np.zeros(n, dtype=np.int32)
        self.wait_s = np.zeros(n, dtype=np.float64)
        self.on_crossing_ped = np.zeros(n, dtype=np.int32)
        self.longest_wait_s = 0.0
        self.person_wait_s: dict[str, float] = {}
        self.waits: list[tuple[str, int, float, float]] = []
        self._crossing_at: dict[tuple[int, str], int] = {}
        for c in range(n):
            for k in range(crossings.crossing_walk_ptr[c], crossings.crossing_walk_ptr[c + 1]):
                w = int(crossings.crossing_walk_idx[k])
                self._crossing_at[(w, crossings.crossing_edge_ids[c])] = c
        self._since: dict[str, tuple[int, float]] = {}  # person -> (crossing, wait began at)
        self._time_s = 0.0

    def read(self, api: Any, time_s: float, on_crossing: bool = False) -> None:
        """Fill ``waiting_ped`` and ``wait_s`` (and ``on_crossing_ped`` when ``on_crossing``: one
        ``edge.getLastStepPersonIDs`` per crossing) for the simulation state at ``time_s``."""
        if on_crossing:
            for c, edge in enumerate(self.crossings.crossing_edge_ids):
                self.on_crossing_ped[c] = len(api.edge.getLastStepPersonIDs(edge))
        self.waiting_ped[:] = 0
        self.wait_s[:] = 0.0
        since: dict[str, tuple[int, float]] = {}
        get_next, get_wait = api.person.getNextEdge, api.person.getWaitingTime
        for w, walk_id in enumerate(self.crossings.walk_area_ids):
            for pid in api.edge.getLastStepPersonIDs(walk_id):
                c = self._crossing_at.get((w, get_next(pid)))
                if c is None:
                    continue
                prev = self._since.get(pid)
                if prev is not None and prev[0] == c:
                    began = prev[1]
                else:
                    standing_s = get_wait(pid)
                    if standing_s <= 0.0:
                        continue
                    began = time_s - standing_s
                since[pid] = (c, began)
                self.waiting_ped[c] += 1
                self.wait_s[c] = max(self.wait_s[c], time_s - began)
        for pid, (c, began) in self._since.items():
            if since.get(pid, (-1, 0.0))[0] != c:
                self._close(pid, c, began)
        self._since = since
        self._time_s = time_s
        if self.wait_s.size:
            self.longest_wait_s = max(self.longest_wait_s, float(self.wait_s.max()))

    def _close(self, pid: str, crossing: int, began_s: float) -> None:
        """A wait ended at the previous step (the last one it was seen)."""
        waited_s = self._time_s - began_s
        self.person_wait_s[pid] = self.person_wait_s.get(pid, 0.0) + waited_s
        self.waits.append((pid, crossing, began_s, waited_s))

    def finish(self) -> None:
        """Count the waits still going on at the end of the run (``person_wait_s``, ``waits``)."""
        for pid, (c, began) in self._since.items():
            self._close(pid, c, began)
        self._since = {}


class Occupancy:
    """Persons on board the vehicles of each controlled lane, updated once per step.

    Passenger cars count ``occupancy["passenger"]`` each; every other vehicle is tracked from
    its departure (``simulation.getDepartedIDList``, one ``getVehicleClass`` per vehicle) and
    counts its vClass occupancy, or its riders + 1 when ``rides`` (the demand has ``<ride>``).
    Per step: one ``vehicle.getLaneID`` and one ``isStopped`` per tracked vehicle (and
    ``getPersonNumber`` with rides). ``stopped_extra`` [n_lanes]: the persons beyond a car's of
    tracked vehicles halted at a stop (a bus dwelling at a stop near the stop line is not waiting
    for the green; ``sim.people.run`` leaves them out of the lane weights).
    """

    def __init__(
        self, lane_ids: Sequence[str], occupancy: Mapping[str, float], rides: bool
    ) -> None:
        self.lane_index = {lane: i for i, lane in enumerate(lane_ids)}
        self.occupancy = dict(occupancy)
        self.rides = rides
        self.car_persons = float(occupancy.get("passenger", 1.0))
        self.tracked: dict[str, float] = {}  # vehicle id -> default persons on board
        # [n_lanes] persons beyond a car's of the vehicles halted at a stop (a dwelling bus)
        self.stopped_extra = np.zeros(len(lane_ids))

    def persons(self, vclass: str) -> float:
        """Default persons on board a vehicle of ``vclass``."""
        return float(self.occupancy.get(vclass, 1.0))

    def read(
        self, api: Any, lane_veh: NDArray[np.int32], out_lane_persons: NDArray[np.float64]
    ) -> None:
        """``out_lane_persons`` [n_lanes] = persons on board the ``lane_veh`` [n_lanes] vehicles."""
        for vid in api.simulation.getDepartedIDList():
            vclass = api.vehicle.getVehicleClass(vid)
            if vclass != "passenger":
                self.tracked[vid] = self.persons(vclass)
        for vid in api.simulation.getArrivedIDList():
            self.tracked.pop(vid, None)
        np.multiply(lane_veh, self.car_persons, out=out_lane_persons)
        self.stopped_extra[:] = 0.0
        for vid, persons in self.tracked.items():
            lane = self.lane_index.get(api.vehicle.getLaneID(vid))
            if lane is None:
                continue
            if self.rides:
                persons = api.vehicle.getPersonNumber(vid) + 1.0
            out_lane_persons[lane] += persons - self.car_persons
            if api.vehicle.isStopped(vid):
                self.stopped_extra[lane] += persons - self.car_persons
