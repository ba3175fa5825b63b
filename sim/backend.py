"""Simulation backends: the only module that imports ``libsumo`` or ``traci``.

``libsumo`` (default) runs SUMO in-process: fastest, one simulation per process, no GUI.
``traci`` talks to a SUMO or sumo-gui process over a socket on the loopback interface and reads
state through subscriptions (one round trip per step). For a given seed both give the same results.

SUMO is started from an argument list, never through a shell. Its own messages go to an error log
(``--error-log``), not to the terminal: a load error becomes one ``InputError`` line quoting SUMO's
first ``Error:`` line, and a failure mid-run (SUMO killed, connection lost, libsumo raising)
becomes one ``RunFailed`` line with the simulated time reached. SUMO's TraCI server
(``--remote-port``) has no option to choose its listening address: it listens on every interface
only until lightwatch, connecting to 127.0.0.1 on a free ephemeral port, is accepted as its only
client (``--num-clients`` 1); then it stops listening.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError, RunFailed
from sim.layout import NetworkLayout
from sim.state import SensedState, TrueCounts
from sim.sumo_home import sumo_binary, sumo_home

BACKENDS = ("libsumo", "traci")
_LABELS = itertools.count()
CONNECT_TIMEOUT_S = 120.0  # traci: time SUMO may take to load a network before it listens
_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (libsumo prints SUMO's errors there itself)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def first_error(log: Path | None) -> str | None:
    """SUMO's first ``Error:`` message in its error log, without the prefix (None if none)."""
    if log is None or not log.is_file():
        return None
    with contextlib.suppress(OSError):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Error:"):
                return line.removeprefix("Error:").strip() or None
    return None


def _guarded(method: _F) -> _F:
    """Turn SUMO and connection errors raised by ``method`` into one-line ``RunFailed``."""

    @functools.wraps(method)
    def wrapper(self: Backend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self._errors as exc:
            raise RunFailed(self.failure_message(exc)) from None

    return wrapper  # type: ignore[return-value]


def check_display() -> None:
    """``InputError`` when sumo-gui could not open a window: on X11 systems (not Windows or
    macOS) it needs ``DISPLAY``."""
    if sys.platform.startswith(("win", "darwin")):
        return
    if not os.environ.get("DISPLAY"):
        raise InputError(
            "sumo-gui needs a display: DISPLAY is not set (run without --gui, or under xvfb-run)"
        )


class Backend:
    """Start SUMO, fill a :class:`SensedState` and :class:`TrueCounts` each step, and set signal
    states. ``gui`` is checked for a display here, before SUMO starts."""

    def __init__(self, name: str = "libsumo", gui: bool = False) -> None:
        if name not in BACKENDS:
            raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
        if gui:
            check_display()
        if gui and name != "traci":
            name = "traci"  # sumo-gui can only be driven over TraCI
        self.name = name
        self.gui = gui
        self.api: Any = None
        self._lanes: tuple[str, ...] = ()
        self._detectors: tuple[str, ...] = ()
        self._detector_queue = False
        self._traci_mod: Any = None
        self._errors: tuple[type[BaseException], ...] = ()  # SUMO and connection errors
        self._proc: subprocess.Popen[bytes] | None = None
        self.error_log: Path | None = None
        self.last_time_s: float | None = None  # simulated time of the last step read

    def binary(self) -> str:
        """Path of the SUMO binary this backend starts."""
        return sumo_binary("sumo-gui" if self.gui else "sumo")

    def start(self, args: list[str], error_log: Path | None = None) -> None:
        """Start SUMO with ``args`` (options only, without the binary). Never uses a shell.

        SUMO writes its warnings and errors to ``error_log`` (when given), not to the terminal.
        """
        sumo_home()
        cmd = [self.binary(), *args]
        if error_log is not None:
            cmd += ["--error-log", str(error_log)]
            self.error_log = error_log
        if self.gui:
            cmd += ["--start", "--quit-on-end"]
        try:
            if self.name == "libsumo":
                import libsumo

                self._errors = (OSError, libsumo.TraCIException, libsumo.FatalTraCIError)
                with _quiet_stderr():
                    libsumo.start(cmd)
                self.api = libsumo
            else:
                import traci
                from traci import exceptions as te

                self._errors = (OSError, te.TraCIException, te.FatalTraCIError)
                self.api = self._start_traci(traci, cmd)
                self._traci_mod = traci
        except Exception as exc:  # SUMO refuses the input: report its first error line
            self.close()
            text = str(exc).strip()
            msg = first_error(error_log) or (text.splitlines()[0] if text else type(exc).__name__)
            raise InputError(f"SUMO could not load the scenario: {msg}") from None

    def _start_traci(self, traci: Any, cmd: list[str]) -> Any:
        """Start SUMO as a child process (no shell, output silenced) and connect on loopback."""
        from sumolib.miscutils import getFreeSocketPort

        port = getFreeSocketPort()
        self._proc = subprocess.Popen(
            [*cmd, "--remote-port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        label = f"lightwatch-{next(_LABELS)}"
        step_s = 0.05
        with contextlib.redirect_stdout(io.StringIO()):  # traci prints its retries
            conn = traci.connect(
                port,
                numRetries=int(CONNECT_TIMEOUT_S / step_s),
                host="127.0.0.1",
                proc=self._proc,
                waitBetweenRetries=step_s,
                label=label,
            )
        conn.getVersion()
        return conn

    def failure_message(self, exc: BaseException) -> str:
        """One line for a SUMO failure mid-run: what happened and the simulated time reached."""
        text = str(exc).strip()
        reason = first_error(self.error_log) or (
            text.splitlines()[0] if text else type(exc).__name__
        )
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=2.0)  # a lost connection: let the process finish dying
        if self._proc is not None and self._proc.returncode is not None:
            code = self._proc.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            reason = f"{reason.rstrip('.')} (SUMO {how})"
        at = "before the first step" if self.last_time_s is None else f"at {self.last_time_s:g} s"
        return f"SUMO failed {at} of simulated time: {reason}"

    @_guarded
    def bind(
        self,
        layout: NetworkLayout,
        detector_ids: list[str],
        gap_detector_ids: list[str] | None = None,
        ideal: bool | None = None,
    ) -> tuple[SensedState, TrueCounts]:
        """Prepare reading ``layout``'s lanes; return the arrays :meth:`read` fills.

        ``detector_ids[l]`` is the detector on incoming lane ``l`` (``sim.sensing.lane_detectors``).
        ``ideal`` (default: ``gap_detector_ids`` given) means ideal sensing: the sensed queue is
        the larger of the detector's and the whole lane's. ``gap_detector_ids[l]``, a shorter
        detector at the stop line, counts the moving vehicles; without it the one detector gives
        all three sensed counts.
        """
        self._lanes = layout.lane_ids
        self._detectors = tuple(detector_ids)
        self._gap_detectors = tuple(gap_detector_ids or ())
        self._detector_queue = not (gap_detector_ids is not None if ideal is None else ideal)
        self._n_in = layout.n_in_lanes
        self._raw_getters: tuple[Callable[[str], int], ...] | None = None
        if self.name == "traci":
            from traci import constants as tc

            self._v_halt = tc.LAST_STEP_VEHICLE_HALTING_NUMBER
            self._v_num = tc.LAST_STEP_VEHICLE_NUMBER
            for lane in self._lanes:
                self.api.lane.subscribe(lane, [self._v_halt, self._v_num])
            for det in self._detectors + self._gap_detectors:
                self.api.lanearea.subscribe(det, [self._v_halt, self._v_num])
        return SensedState.empty(layout), TrueCounts.empty(layout)

    @_guarded
    def time_s(self) -> float:
        return float(self.api.simulation.getTime())

    @_guarded
    def dt_s(self) -> float:
        return float(self.api.simulation.getDeltaT())

    @_guarded
    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` with SUMO and connection errors turned into ``RunFailed``."""
        return fn(*args)

    @_guarded
    def step(self) -> None:
        """Advance the simulation by one step."""
        self.api.simulationStep()

    def _getters(self) -> tuple[Callable[[str], int], ...]:
        """libsumo's halting/vehicle-number getters for lanes and lane-area detectors.

        The compiled functions of ``libsumo._libsumo`` are called directly where they exist: the
        Python wrappers around them cost about a third of each call, millions of calls per run.
        """
        if self._raw_getters is None:
            raw = getattr(self.api, "_libsumo", None)

            def pick(domain: str, name: str) -> Callable[[str], int]:
                fast = getattr(raw, f"{domain}_{name}", None)
                return fast if fast is not None else getattr(getattr(self.api, domain), name)

            self._raw_getters = (
                pick("lane", "getLastStepHaltingNumber"),
                pick("lane", "getLastStepVehicleNumber"),
                pick("lanearea", "getLastStepHaltingNumber"),
                pick("lanearea", "getLastStepVehicleNumber"),
            )
        return self._raw_getters

    @_guarded
    def read(
        self,
        sensed: SensedState,
        truth: TrueCounts,
        lane_veh: bool = True,
        moving_lanes: NDArray[np.int64] | None = None,
    ) -> None:
        """Fill ``sensed`` and ``truth`` from the current step (one pass, no allocation per lane).

        ``lane_veh`` False leaves ``truth.lane_veh`` as it was (only the gridlock watch samples
        it), saving one SUMO call per lane. ``moving_lanes`` (incoming lane indices,
        ``Controller.moving_lanes``) limits the gap detectors read: ``moving_veh`` is 0 on the
        other lanes. None reads them all.
        """
        n_in = self._n_in
        gap_ids = self._gap_detectors
        if gap_ids and moving_lanes is not None:
            gap_ids = tuple(map(gap_ids.__getitem__, moving_lanes.tolist()))
        if self.name == "libsumo":
            lane_halt, lane_num, det_halt, det_num = self._getters()
            truth.halting_veh[:] = list(map(lane_halt, self._lanes))
            if lane_veh:
                truth.lane_veh[:] = list(map(lane_num, self._lanes))
            near = list(map(det_num, self._detectors))
            near_halting = list(map(det_halt, self._detectors))
            gap = list(map(det_num, gap_ids))
            gap_halting = list(map(det_halt, gap_ids))
        else:
            lanes = self.api.lane.getAllSubscriptionResults()
            dets = self.api.lanearea.getAllSubscriptionResults()
            h, v = self._v_halt, self._v_num
            truth.halting_veh[:] = [lanes[x][h] for x in self._lanes]
            if lane_veh:
                truth.lane_veh[:] = [lanes[x][v] for x in self._lanes]
            near = [dets[x][v] for x in self._detectors]
            near_halting = [dets[x][h] for x in self._detectors]
            gap = [dets[x][v] for x in gap_ids]
            gap_halting = [dets[x][h] for x in gap_ids]
        sensed.near_veh[:n_in] = near
        q = sensed.queue_veh[:n_in]
        q[:] = near_halting
        moving = sensed.moving_veh[:n_in]
        if not self._gap_detectors:  # the one detector's moving vehicles
            np.subtract(sensed.near_veh[:n_in], q, out=moving)
        elif moving_lanes is None:
            moving[:] = gap
            moving -= gap_halting
        else:
            moving[:] = 0
            moving[moving_lanes] = np.array(gap, dtype=np.int32) - np.array(
                gap_halting, dtype=np.int32
            )
        if not self._detector_queue:  # ideal: the whole lane, or upstream where it is short
            np.maximum(q, truth.halting_veh[:n_in], out=q)
            sensed.queue_veh[n_in:] = truth.halting_veh[n_in:]
        sensed.time_s = self.last_time_s = self.time_s()

    @_guarded
    def set_states(
        self, signal_ids: tuple[str, ...], changed: NDArray[np.bool_], states: Any
    ) -> None:
        """Set the state string ``states(s)`` for every signal ``s`` with ``changed[s]``."""
        set_state = self.api.trafficlight.setRedYellowGreenState
        for s in np.flatnonzero(changed):
            set_state(signal_ids[s], states(int(s)))

    @_guarded
    def signal_states(self, signal_ids: tuple[str, ...]) -> list[str]:
        """State string each signal shows now (traci: subscribed on the first call)."""
        tl = self.api.trafficlight
        if self.name == "traci":
            from traci import constants as tc

            res = tl.getAllSubscriptionResults()
            key = tc.TL_RED_YELLOW_GREEN_STATE
            if all(s in res for s in signal_ids):
                return [res[s][key] for s in signal_ids]
            for s in signal_ids:
                tl.subscribe(s, [key])
        get = tl.getRedYellowGreenState
        return [get(s) for s in signal_ids]

    @_guarded
    def running_veh(self) -> int:
        """Vehicles in the network now."""
        return int(self.api.vehicle.getIDCount())

    def close(self) -> None:
        """End the simulation; SUMO flushes its output files here."""
        try:
            if self.api is not None:
                self.api.close()
        except Exception:
            pass
        finally:
            self.api = None
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
