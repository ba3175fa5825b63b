"""People in one run: what the runner calls, in one place (sensing, sensed view, tables, metrics).

Per step, after the vehicle state is read (``lane_veh`` true counts) and before the controller
decides: :meth:`PeopleAtSignals.read` (which also marks, in ``Timing.ped_present``, the greens
with people at their crossings: the timing kernel's pedestrian clearance), then (after the
detector faults) :meth:`sense` into the controllers' ``SensedState``. Then :meth:`add_demand`
ORs waiting pedestrians into the sensed and the true phase demand of the timing kernel
(starvation bound), and after ``Timing.step`` :meth:`hold_min_green` writes each signal's minimum
green for the green now shown (the walk when it began with pedestrians waiting; the clearance is
the kernel's stage 3) into ``Timing.min_green_s``, which both the timing kernel and the
controllers read. At the end, :meth:`finish` writes ``crossings.<fmt>`` and ``ped_waits.<fmt>``
and returns the summary metrics (:mod:`sim.people.metrics`).

With no crossing in the controlled signals and no vehicle other than passenger cars, :func:`start`
returns ``None`` and the runner does nothing for people during the run (no cost);
:func:`finish` still reads the person metrics from the tripinfo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.people.crossings import crossing_layout, move_crossings, read_crossings
from sim.people.kernels import (
    DEFAULT_PED_SPEED_MPS,
    DEFAULT_WALK_S,
    crossing_green_kernel,
    green_hold_kernel,
    lane_car_units_kernel,
    lane_person_weight_kernel,
    lane_yielding_kernel,
    ped_clear_s,
    ped_phase_demand_kernel,
    phase_ped_min_green_kernel,
    phase_ped_release_kernel,
    push_button_kernel,
    yielding_moving_kernel,
)
from sim.people.metrics import DEFAULT_VTYPE_CLASS, people_metrics, route_vtype_classes
from sim.people.record import CrossingRecorder, write_waits
from sim.people.sensing import (
    DEFAULT_OCCUPANCY,
    Occupancy,
    PedSensor,
    demand_has_rides,
    parse_occupancy,
)
from sim.timing import PED_CLEAR

__all__ = ["DEFAULT_PED_SPEED_MPS", "DEFAULT_WALK_S", "PeopleAtSignals", "PeopleParams",
           "finish", "parse_occupancy", "start"]  # fmt: skip


@dataclass(frozen=True)
class PeopleParams:
    """``--walk-s``, ``--ped-speed-mps``, ``--occupancy`` and the sensing mode of a run."""

    walk_s: float = DEFAULT_WALK_S
    ped_speed_mps: float = DEFAULT_PED_SPEED_MPS
    occupancy: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OCCUPANCY))
    push_buttons: bool = False  # --sensing detectors: controllers see push-button calls

    def validate(self) -> None:
        """``InputError`` (one line) for impossible values."""
        if not np.isfinite(self.walk_s) or self.walk_s < 0:
            raise InputError(f"--walk-s must be a number >= 0, got {self.walk_s:g}")
        if not np.isfinite(self.ped_speed_mps) or self.ped_speed_mps <= 0:
            raise InputError(f"--ped-speed-mps must be a number > 0, got {self.ped_speed_mps:g}")


class PeopleAtSignals:
    """Crossings, waiting pedestrians and occupants of the controlled signals of one run.

    Sensed view for controllers (``[n_crossings]``/``[n_lanes]``/``[n_phases]``):
    ``waiting_ped``, ``wait_s`` (push-button calls with ``push_buttons``), ``lane_persons``,
    ``lane_person_weight``, ``lane_car_units`` (what :meth:`sense` hands on: persons per vehicle
    over a car's, vehicles dwelling at stops as cars), ``lane_yielding``, ``phase_ped_release``.
    Truth for metrics: ``sensor.waiting_ped``/``sensor.wait_s``.
    """

    def __init__(
        self,
        api: Any,
        layout: Any,
        net_file: Path,
        route_files: Sequence[Path],
        params: PeopleParams,
        begin_s: float,
        end_s: float,
        interval_s: float,
        dt_s: float,
    ) -> None:
        params.validate()
        self.layout, self.params, self.dt_s = layout, params, float(dt_s)
        self.route_files = list(route_files)
        cl = crossing_layout(
            api, layout.signal_ids, layout.phase_ptr, layout.phase_states, read_crossings(net_file)
        )
        self.crossings = cl
        n_c, n_l, n_p = cl.n_crossings, layout.n_lanes, layout.n_phases
        edge = [api.lane.getEdgeID(lane) for lane in layout.lane_ids]
        self.move_crossing_ptr, self.move_crossing_idx = move_crossings(
            cl,
            layout.move_signal,
            [edge[i] for i in layout.move_in_lane],
            [edge[i] for i in layout.move_out_lane],
        )
        self.sensor = PedSensor(cl)
        self.occupancy = Occupancy(
            layout.lane_ids, params.occupancy, demand_has_rides(self.route_files)
        )
        self.recorder = CrossingRecorder(cl, layout.signal_ids, begin_s, end_s, interval_s)
        self.waiting_ped = np.zeros(n_c, dtype=np.int32)
        self.wait_s = np.zeros(n_c)
        self.crossing_green = np.zeros(n_c, dtype=np.bool_)
        self.lane_persons = np.zeros(n_l)
        self.lane_person_weight = np.full(n_l, self.occupancy.car_persons)
        self.lane_yielding = np.zeros(n_l, dtype=np.bool_)
        self.lane_car_units = np.ones(n_l)  # persons per vehicle / car persons (1: cars only)
        self._released = np.zeros(n_l)  # persons on board, those dwelling at stops as in a car
        self.phase_ped_min_s = np.zeros(n_p)
        self.phase_ped_release = np.zeros(n_p)
        self.base_min_green_s: NDArray[np.float64] | None = None
        self._call = np.zeros(n_c, dtype=np.bool_)
        self._call_age_s = np.zeros(n_c)
        self._mark = np.zeros(n_c, dtype=np.bool_)
        self._busy = np.zeros(n_c, dtype=np.int32)  # waiting at or walking on each crossing
        self._stage = np.zeros(n_c, dtype=np.int8)  # scratch: stage of each crossing's signal
        self._open = np.zeros(n_c, dtype=np.bool_)  # scratch: that signal is not clearing it
        self._present: NDArray[np.bool_] | None = None  # Timing.ped_present once attached

    @property
    def n_crossings(self) -> int:
        return self.crossings.n_crossings

    def read(
        self,
        api: Any,
        time_s: float,
        lane_veh: NDArray[np.int32],
        cur_p: NDArray[np.int64],
        stage: NDArray[np.int8],
    ) -> None:
        """Read pedestrians and occupants at ``time_s``; fill the sensed view and the tables.

        ``lane_veh`` [n_lanes] are the true vehicles per lane; ``cur_p``/``stage`` [n_signals]
        the timing state shown during the step just simulated.
        """
        cl = self.crossings
        self.occupancy.read(api, lane_veh, self.lane_persons)
        lane_person_weight_kernel(
            lane_veh, self.lane_persons, self.occupancy.car_persons, self.lane_person_weight
        )
        # a vehicle dwelling at a stop weighs as a car: the green would not release it
        np.subtract(self.lane_persons, self.occupancy.stopped_extra, out=self._released)
        lane_car_units_kernel(lane_veh, self._released, self.occupancy.car_persons,
                              self.lane_car_units)  # fmt: skip
        if not cl.n_crossings:
            return
        self.sensor.read(api, time_s, on_crossing=True)
        self.recorder.record(time_s, self.sensor.waiting_ped, self.sensor.wait_s)
        crossing_green_kernel(
            cur_p, stage, cl.phase_crossing_ptr, cl.phase_crossing_idx, self.crossing_green
        )
        if self.params.push_buttons:
            push_button_kernel(
                self.sensor.waiting_ped,
                self.crossing_green,
                self.dt_s,
                self._call,
                self._call_age_s,
                self.waiting_ped,
                self.wait_s,
            )
        else:
            self.waiting_ped[:] = self.sensor.waiting_ped
            self.wait_s[:] = self.sensor.wait_s
        lane_yielding_kernel(
            self.layout.move_in_lane,
            self.move_crossing_ptr,
            self.move_crossing_idx,
            self.sensor.on_crossing_ped,
            self.crossing_green,
            self.lane_yielding,
        )
        if self._present is not None:  # the timing kernel's pedestrian clearance
            # before a switch, people waiting at or walking on a crossing; during the clearance
            # (its crossings red), only those still walking on one
            np.take(stage, cl.crossing_signal, out=self._stage)
            np.not_equal(self._stage, PED_CLEAR, out=self._open)
            np.multiply(self.sensor.waiting_ped, self._open, out=self._busy)
            self._busy += self.sensor.on_crossing_ped
            self._present[:] = False
            ped_phase_demand_kernel(
                cl.phase_crossing_ptr, cl.phase_crossing_idx, self._busy, self._present
            )
        phase_ped_min_green_kernel(
            cl.phase_crossing_ptr,
            cl.phase_crossing_idx,
            self.waiting_ped,
            self.params.walk_s,
            self.phase_ped_min_s,
        )
        phase_ped_release_kernel(
            self.layout.phase_ptr,
            cl.phase_crossing_ptr,
            cl.phase_crossing_idx,
            self.waiting_ped,
            cur_p,
            self._mark,
            self.phase_ped_release,
        )

    def sense(self, sensed: Any) -> None:
        """Hand the sensed view to the controllers (``sim.state.SensedState``, after faults are
        applied): persons per vehicle in car units, pedestrians each green would release, and
        yielding lanes, whose queue counts as discharging (``moving_veh`` at least 1)."""
        sensed.lane_person_weight[:] = self.lane_car_units
        sensed.phase_ped_release[:] = self.phase_ped_release
        sensed.lane_yielding[:] = self.lane_yielding
        yielding_moving_kernel(self.lane_yielding, sensed.queue_veh, sensed.moving_veh)

    def add_demand(self, demand: NDArray[np.bool_], true: bool = False) -> None:
        """OR waiting pedestrians into the phase demand [n_phases]: as sensed (push-button
        calls with ``push_buttons``), or with ``true`` the pedestrians really waiting (the
        demand of the starvation bound)."""
        cl = self.crossings
        waiting = self.sensor.waiting_ped if true else self.waiting_ped
        ped_phase_demand_kernel(cl.phase_crossing_ptr, cl.phase_crossing_idx, waiting, demand)

    def attach(self, timing: Any) -> None:
        """Give the timing kernel its pedestrian clearance (``sim.timing`` rule 2): the seconds
        from a crossing's red to its foes' yellow when a green ``p`` ends for ``q``
        (``timing.ped_clear_s`` [n_phases, max_greens]: the longest crossing served by ``p``
        that the switch closes, at ``ped_speed_mps``; one green in ``q`` too closes when a
        vehicle link crossing it is cleared, ``sim.layout.clears``), and, updated by
        :meth:`read` every step, which greens have a person waiting at or walking on a crossing
        they serve (``timing.ped_present`` [n_phases])."""
        cl, lay = self.crossings, self.layout
        served = [
            set(cl.phase_crossing_idx[cl.phase_crossing_ptr[p] : cl.phase_crossing_ptr[p + 1]])
            for p in range(lay.n_phases)
        ]
        links = [
            cl.crossing_link_idx[cl.crossing_link_ptr[c] : cl.crossing_link_ptr[c + 1]].tolist()
            for c in range(cl.n_crossings)
        ]
        for s in range(lay.n_signals):
            lo, hi = int(lay.phase_ptr[s]), int(lay.phase_ptr[s + 1])
            for p in range(lo, hi):
                for q in range(lo, hi):
                    cleared = lay.clearing(p, q)  # also crossings green in both (layout.clears)
                    ending = [
                        cl.crossing_length_m[c]
                        for c in served[p]
                        if c not in served[q] or any(cleared[k] for k in links[c])
                    ]
                    timing.ped_clear_s[p, q - lo] = (
                        ped_clear_s(max(ending), self.params.ped_speed_mps) if ending else 0.0
                    )
        self._present = timing.ped_present

    def hold_min_green(self, timing: Any) -> None:
        """After ``timing.step``: a green that began this step gets its minimum length, the
        signal's own minimum green or the walk, written into ``timing.min_green_s``."""
        if self.base_min_green_s is None:
            self.base_min_green_s = timing.min_green_s.copy()
        green_hold_kernel(
            timing.cur_p,
            timing.stage,
            timing.t_stage_s,
            timing.changed,
            self.base_min_green_s,
            self.phase_ped_min_s,
            timing.min_green_s,
        )

    def finish(self, out_dir: Path, fmt: str, tripinfo: Path) -> dict[str, object]:
        """Write the pedestrian tables (when there are crossings) and return the metrics."""
        self.sensor.finish()
        if self.crossings.n_crossings:
            self.recorder.write(out_dir, fmt)
            write_waits(self.sensor.waits, self.crossings, self.layout.signal_ids, out_dir, fmt)
        return people_metrics(
            tripinfo,
            route_vtype_classes(self.route_files),
            self.occupancy.persons,
            self.sensor.person_wait_s,
            self.sensor.longest_wait_s,
        )


PASSENGER_CLASSES = frozenset({"passenger", "pedestrian", "ignoring"})
"""vClasses that need no occupancy tracking (persons in cars count ``occupancy["passenger"]``)."""


def other_vehicles(files: Sequence[Path]) -> bool:
    """Whether route/additional ``files`` declare a vType of a class other than passenger cars
    (``<vType vClass="bus">``; SUMO's built-in types are not counted)."""
    declared = route_vtype_classes(list(files))
    return any(
        vclass not in PASSENGER_CLASSES
        for vtype, vclass in declared.items()
        if vtype not in DEFAULT_VTYPE_CLASS
    )


def start(
    api: Any,
    params: PeopleParams,
    layout: Any,
    net_file: Path,
    files: Sequence[Path],
    crossing_tls: frozenset[str],
    window_s: tuple[float, float],
    interval_s: float,
    dt_s: float,
) -> PeopleAtSignals | None:
    """People of a run, or ``None`` (nothing to do, no cost) when no controlled signal has a
    crossing (``crossing_tls``, from ``sim.scenario.scan_net``) and ``files`` (routes and
    additional files) have no vehicles other than passenger cars."""
    crossings = any(s in crossing_tls for s in layout.signal_ids)
    if not crossings and not other_vehicles(files):
        return None
    begin_s, end_s = window_s
    return PeopleAtSignals(api, layout, net_file, files, params, begin_s, end_s, interval_s, dt_s)


def finish(
    people: PeopleAtSignals | None,
    params: PeopleParams,
    files: Sequence[Path],
    out_dir: Path,
    fmt: str,
) -> dict[str, object]:
    """The people metrics of a run (``sim.people.metrics``) from ``out_dir/tripinfo.xml``, and
    with people its tables. ``ped_delay_s`` is ``None`` when no pedestrian walked,
    ``ped_wait_max_s`` ``None`` when no controlled signal has a crossing (no wait is sensed)."""
    tripinfo = out_dir / "tripinfo.xml"
    if people is not None:
        out = people.finish(out_dir, fmt, tripinfo)
        crossings = people.n_crossings > 0
    else:
        occupancy = Occupancy((), params.occupancy, False)
        out = people_metrics(tripinfo, route_vtype_classes(list(files)), occupancy.persons)
        crossings = False
    if not out["pedestrians"]:
        out["ped_delay_s"] = None
    if not crossings:
        out["ped_wait_max_s"] = None
    return out
