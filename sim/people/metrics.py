"""Pedestrian and person metrics from SUMO's tripinfo output (``<tripinfo>``, ``<personinfo>``).

The tripinfo must be written with ``--tripinfo-output.write-unfinished`` and
``--tripinfo-output.write-undeparted`` (as the runner does). Definitions (all in seconds):

``pedestrians``
    persons that departed in the window with at least one ``<walk>`` stage.
``ped_delay_s``
    mean over those persons of the ``timeLoss`` of their walks: the time lost against walking
    the route at their own free speed, standing at crossings included. SUMO writes no time loss
    for a walk still going on at the end; such a walk counts the seconds its person has waited at
    crossings so far (``wait_so_far_s``, from the run's sensing), a lower bound.
``ped_wait_max_s``
    the longest single wait of one person at one crossing (from the run's sensing:
    :attr:`sim.people.sensing.PedSensor.longest_wait_s`; tripinfo only has waits summed per walk).
``delay_by_vclass_s``
    ``{vClass: mean delay}`` over the vehicles of each class, the delay of ``delay_s``:
    ``timeLoss + departDelay``, and for a vehicle never inserted its ``departDelay`` (end −
    scheduled departure).
``person_delay_s``
    mean delay per person: ``(sum_v persons_v * delay_v + sum_p delay_p) / (sum_v persons_v +
    n_persons)``. ``persons_v`` is the vClass occupancy of vehicle ``v``, or 1 (the driver) for a
    vehicle that modelled persons rode in, who count themselves; ``delay_p`` is a person's
    ``timeLoss`` over all stages (walks as in ``ped_delay_s``) plus their waiting for rides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sim.people.crossings import iterparse

DEFAULT_VTYPE_CLASS: dict[str, str] = {
    "DEFAULT_VEHTYPE": "passenger",
    "DEFAULT_PEDTYPE": "pedestrian",
    "DEFAULT_BIKETYPE": "bicycle",
    "DEFAULT_TAXITYPE": "taxi",
    "DEFAULT_RAILTYPE": "rail",
    "DEFAULT_CONTAINERTYPE": "ignoring",
}
"""vClass of SUMO's built-in vehicle types."""


def route_vtype_classes(route_files: list[Path]) -> dict[str, str]:
    """``{vType id: vClass}`` declared in route or additional files (SUMO's default
    ``passenger`` where a ``<vType>`` gives none), plus :data:`DEFAULT_VTYPE_CLASS`."""
    out = dict(DEFAULT_VTYPE_CLASS)
    for path in route_files:
        for _, el in iterparse(path):
            if el.tag == "vType":
                out[el.get("id", "")] = el.get("vClass", "passenger")
            if el.tag in ("vehicle", "trip", "flow", "person", "route"):
                el.clear()
    return out


def scan_people(route_files: list[Path]) -> dict[str, int]:
    """People in route files (streaming): ``persons`` (``<person>``, and ``<personFlow>`` with a
    ``number``), ``buses`` (vehicles and numbered flows whose type has vClass bus or coach) and
    ``rides`` (``<ride>`` stages). For ``lightwatch networks``."""
    vtypes = route_vtype_classes(route_files)
    out = {"persons": 0, "buses": 0, "rides": 0}
    for path in route_files:
        for _, el in iterparse(path):
            tag = el.tag
            if tag == "person":
                out["persons"] += 1
            elif tag == "personFlow":
                out["persons"] += int(float(el.get("number", "0")))
            elif tag == "ride":
                out["rides"] += 1
            elif tag in ("vehicle", "trip", "flow"):
                n = 1 if tag != "flow" else int(float(el.get("number", "0")))
                if vtypes.get(el.get("type", "DEFAULT_VEHTYPE")) in ("bus", "coach"):
                    out["buses"] += n
            if tag in ("vehicle", "trip", "flow", "person", "personFlow", "route"):
                el.clear()
    return out


def people_metrics(
    tripinfo: Path,
    vtype_class: Mapping[str, str],
    persons_of: Callable[[str], float],
    wait_so_far_s: Mapping[str, float] | None = None,
    longest_wait_s: float = 0.0,
) -> dict[str, object]:
    """The metrics of the module docstring from one tripinfo file.

    ``vtype_class`` maps vehicle type ids to vClasses (:func:`route_vtype_classes`; unknown types
    count as ``passenger``); ``persons_of(vclass)`` is the default persons on board
    (``Occupancy.persons``); ``wait_so_far_s`` per person id (``PedSensor.person_wait_s``).
    """
    wait_so_far_s = wait_so_far_s or {}
    veh_delay: dict[str, float] = {}
    veh_class: dict[str, str] = {}
    ridden: set[str] = set()
    n_ped = 0
    ped_delay = 0.0
    n_person = 0
    person_delay = 0.0
    for _, el in iterparse(tripinfo):
        if el.tag == "tripinfo":
            vid = el.get("id", "")
            delay = float(el.get("departDelay", "0"))
            if float(el.get("depart", "-1")) >= 0:
                delay += float(el.get("timeLoss", "0"))
            veh_delay[vid] = delay
            veh_class[vid] = vtype_class.get(el.get("vType", ""), "passenger")
            el.clear()
        elif el.tag == "personinfo":
            if float(el.get("depart", "-1")) < 0:
                el.clear()
                continue
            pid = el.get("id", "")
            walk_loss = other_loss = 0.0
            walked = False
            for stage in el:
                unfinished = float(stage.get("arrival", "-1")) < 0
                if stage.tag == "walk":
                    walked = True
                    if unfinished:
                        walk_loss += wait_so_far_s.get(pid, 0.0)
                    else:
                        walk_loss += float(stage.get("timeLoss", "0"))
                else:
                    other_loss += float(stage.get("timeLoss", "0"))
                    other_loss += float(stage.get("waitingTime", "0"))
                    if stage.tag == "ride" and stage.get("vehicle", "NULL") != "NULL":
                        ridden.add(stage.get("vehicle", ""))
            if walked:
                n_ped += 1
                ped_delay += walk_loss
            n_person += 1
            person_delay += walk_loss + other_loss
            el.clear()
    by_class: dict[str, list[float]] = {}
    weighted = persons = 0.0
    for vid, delay in veh_delay.items():
        vclass = veh_class[vid]
        by_class.setdefault(vclass, []).append(delay)
        on_board = 1.0 if vid in ridden else persons_of(vclass)
        weighted += on_board * delay
        persons += on_board
    return {
        "pedestrians": n_ped,
        "ped_delay_s": ped_delay / n_ped if n_ped else 0.0,
        "ped_wait_max_s": float(longest_wait_s),
        "delay_by_vclass_s": {k: sum(v) / len(v) for k, v in sorted(by_class.items())},
        "person_delay_s": (weighted + person_delay) / (persons + n_person)
        if persons + n_person
        else 0.0,
    }
