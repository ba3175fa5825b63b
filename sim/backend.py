"""Simulation backends: the only module that imports ``libsumo`` or ``traci``.

``libsumo`` (default) runs SUMO in-process: fastest, one simulation per process, no GUI.
``traci`` talks to a SUMO or sumo-gui process over a socket on the loopback interface and reads
state through subscriptions (one round trip per step). For a given seed both give the same results.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError, RunFailed
from sim.layout import NetworkLayout
from sim.state import TrafficState
from sim.sumo_home import sumo_binary, sumo_home

BACKENDS = ("libsumo", "traci")
_LABELS = itertools.count()


class Backend:
    """Start SUMO, fill a :class:`TrafficState` each step, and set signal states."""

    def __init__(self, name: str = "libsumo", gui: bool = False) -> None:
        if name not in BACKENDS:
            raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
        if gui and name != "traci":
            name = "traci"  # sumo-gui can only be driven over TraCI
        self.name = name
        self.gui = gui
        self.api: Any = None
        self._lanes: tuple[str, ...] = ()
        self._detectors: tuple[str, ...] = ()
        self._detector_queue = False
        self._traci_mod: Any = None

    def binary(self) -> str:
        """Path of the SUMO binary this backend starts."""
        return sumo_binary("sumo-gui" if self.gui else "sumo")

    def start(self, args: list[str]) -> None:
        """Start SUMO with ``args`` (options only, without the binary). Never uses a shell."""
        sumo_home()
        cmd = [self.binary(), *args]
        if self.gui:
            cmd += ["--start", "--quit-on-end"]
        try:
            if self.name == "libsumo":
                import libsumo

                libsumo.start(cmd)
                self.api = libsumo
            else:
                import traci

                label = f"lightwatch-{next(_LABELS)}"
                traci.start(cmd, label=label, numRetries=200, verbose=False)
                self.api = traci.getConnection(label)
                self._traci_mod = traci
        except Exception as exc:  # SUMO refuses the input: report its first error line
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"SUMO could not load the scenario: {msg}") from None

    def bind(
        self, layout: NetworkLayout, detector_ids: list[str], detector_queue: bool
    ) -> TrafficState:
        """Prepare reading ``layout``'s lanes; ``detector_ids[l]`` is the detector on in-lane ``l``.

        ``detector_queue``: the sensed queue comes from the detectors (detector sensing), not the
        whole lane (ideal sensing).
        """
        self._lanes = layout.lane_ids
        self._detectors = tuple(detector_ids)
        self._detector_queue = detector_queue
        self._n_in = layout.n_in_lanes
        if self.name == "traci":
            from traci import constants as tc

            self._v_halt = tc.LAST_STEP_VEHICLE_HALTING_NUMBER
            self._v_num = tc.LAST_STEP_VEHICLE_NUMBER
            for lane in self._lanes:
                self.api.lane.subscribe(lane, [self._v_halt, self._v_num])
            for det in self._detectors:
                self.api.lanearea.subscribe(det, [self._v_halt, self._v_num])
        return TrafficState.empty(layout, shared_queue=not detector_queue)

    def time_s(self) -> float:
        return float(self.api.simulation.getTime())

    def dt_s(self) -> float:
        return float(self.api.simulation.getDeltaT())

    def expected_vehicles(self) -> int:
        """Vehicles running or still to be inserted (0 once the demand is exhausted)."""
        return int(self.api.simulation.getMinExpectedNumber())

    def step(self) -> None:
        """Advance the simulation by one step."""
        try:
            self.api.simulationStep()
        except Exception as exc:
            raise RunFailed(f"SUMO failed during the run: {str(exc).strip() or exc!r}") from None

    def read(self, state: TrafficState) -> None:
        """Fill ``state`` from the current simulation step (one pass, no allocation per lane)."""
        n_in = self._n_in
        if self.name == "libsumo":
            lane, det = self.api.lane, self.api.lanearea
            state.halting_veh[:] = [lane.getLastStepHaltingNumber(x) for x in self._lanes]
            state.lane_veh[:] = [lane.getLastStepVehicleNumber(x) for x in self._lanes]
            state.near_veh[:n_in] = [det.getLastStepVehicleNumber(x) for x in self._detectors]
            if self._detector_queue:
                state.queue_veh[:n_in] = [det.getLastStepHaltingNumber(x) for x in self._detectors]
        else:
            lanes = self.api.lane.getAllSubscriptionResults()
            dets = self.api.lanearea.getAllSubscriptionResults()
            h, v = self._v_halt, self._v_num
            state.halting_veh[:] = [lanes[x][h] for x in self._lanes]
            state.lane_veh[:] = [lanes[x][v] for x in self._lanes]
            state.near_veh[:n_in] = [dets[x][v] for x in self._detectors]
            if self._detector_queue:
                state.queue_veh[:n_in] = [dets[x][h] for x in self._detectors]
        state.time_s = self.time_s()

    def set_states(
        self, signal_ids: tuple[str, ...], changed: NDArray[np.bool_], states: Any
    ) -> None:
        """Set the state string ``states(s)`` for every signal ``s`` with ``changed[s]``."""
        set_state = self.api.trafficlight.setRedYellowGreenState
        for s in np.flatnonzero(changed):
            set_state(signal_ids[s], states(int(s)))

    def program_of(self, signal_id: str) -> str:
        """Program id a signal runs now (``online`` once states are set from here)."""
        return str(self.api.trafficlight.getProgram(signal_id))

    def close(self) -> None:
        """End the simulation; SUMO flushes its output files here."""
        if self.api is None:
            return
        try:
            self.api.close()
        except Exception:
            pass
        finally:
            self.api = None
