"""Reliability: simulated detector faults, their detection, and gridlock detection.

Detector faults (``--fail-detectors FRACTION --fail-seed N --fail-mode silent|stuck``)
    ``round(FRACTION * n_in_lanes)`` controlled incoming lanes, drawn with
    ``np.random.default_rng(fail_seed)`` over ``layout.lane_ids[:n_in_lanes]`` (so the same seed
    fails the same lanes of a network whatever the controller or the run seed), lose their
    detector for the whole window. Only the sensed arrays change (``SensedState.queue_veh``,
    ``near_veh`` and ``moving_veh``); the true counts (``TrueCounts``, metrics) never do.
        silent  the lane reads 0 vehicles.
        stuck   each sensed value freezes at its first non-zero reading (the lane reads its true
                value, 0, until the detector has seen a vehicle) — a detector stuck "occupied".

Detection (:func:`suspect_kernel`; on with ``--fail-detectors``, else only with
``--suspect-after-s``, see ``RunConfig.effective_suspect_after_s``)
    A lane is *suspect* when its sensed pair ``(queue_veh, near_veh)`` has not changed for
    ``suspect_after_s`` seconds while another controlled lane of the network changed within
    that time ("the rest of the network saw traffic"). It stays suspect, even when everything
    goes quiet, until its own reading changes. A lane that really sees no vehicle for that long
    is flagged too (a false alarm, reported separately); its phase is then on recall (or timed
    as in the fixed plan) until a vehicle shows up, which costs little while its signal is quiet.
    (Comparing with the lanes of the same signal only was tried: a failed lane that is the only
    busy one at an otherwise empty signal then goes undetected, and its vehicles waited 156 s on
    the RESCO grid, seed 2.)

Fallback (every controller that lightwatch drives; :func:`sim.timing.fallback_kernel`)
    Suspect lanes are ignored: the controller sees them as empty (a stuck "occupied" reading
    would otherwise hold or call their green forever). A green phase serving a suspect lane is
    on *recall*: it always counts as having demand, so the starvation bound serves it (crediting
    the time it went unserved before the detector became suspect). A phase whose lanes are all
    suspect is, moreover, timed as in the network's own plan: requested once it has waited as
    long as the fixed cycle would make it wait, and held for its program green. Detection uses
    the raw readings, so a lane recovers as soon as its detector reports a change.

Gridlock (:class:`GridlockWatch`)
    Traffic is *stuck* at a step when vehicles are on the controlled lanes (incoming and
    outgoing) and every one of them is halting (speed < 0.1 m/s). A stuck period lasting
    ``stuck_s`` seconds (checked every ``GRIDLOCK_SAMPLE_S`` = 10 s of simulated time, when
    ``lane_veh`` is read) flags the run (``gridlock: true``, ``gridlock_at_s`` the time the period
    began). Vehicles elsewhere in the network are not looked at; teleports (``teleports`` in the
    summary) end a jam before it counts when ``--time-to-teleport`` is positive.
    A jam at one junction leaves the rest of the network moving, so each controlled incoming lane
    is watched too: a lane holding vehicles that all halt at every sample for ``stuck_s`` (longer
    than any red the starvation bound allows) is *jammed* (``jammed_lane``, ``jammed_at_s`` the
    start of its stuck period; ``lane_stuck_longest_s`` the longest such period of any lane).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.timing import _EPS, GREEN, PED_CLEAR

FAIL_MODES = ("silent", "stuck")
SUSPECT_NONE, SUSPECT_SOME, SUSPECT_ALL = 0, 1, 2  # suspect lanes among those a phase serves
SUSPECT_AFTER_S = 120.0  # default --suspect-after-s
SILENT, STUCK = 0, 1


@njit(cache=True)
def apply_faults_kernel(
    failed_idx: NDArray[np.int64],  # [n_failed] lane indices whose detector failed
    mode: int,  # 0 silent, 1 stuck
    frozen: NDArray[np.int32],  # [n_failed] in/out: stuck value, -1 until the first non-zero one
    values: NDArray[np.int32],  # [n_lanes] in/out: one sensed array (vehicles)
) -> None:
    """Overwrite the failed lanes' values (silent: 0; stuck: the first non-zero reading)."""
    for k in range(failed_idx.shape[0]):
        lane = failed_idx[k]
        if mode == SILENT:
            values[lane] = 0
        elif frozen[k] >= 0:
            values[lane] = frozen[k]
        elif values[lane] > 0:
            frozen[k] = values[lane]


@njit(cache=True)
def suspect_kernel(
    lane_group: NDArray[np.int64],  # [n_in_lanes] group of each incoming lane (0: the network)
    queue_veh: NDArray[np.int32],  # [n_lanes] sensed halting vehicles
    near_veh: NDArray[np.int32],  # [n_lanes] sensed vehicles within range
    dt_s: float,
    suspect_after_s: float,
    last_queue: NDArray[np.int32],  # [n_in_lanes] in/out: previous reading
    last_near: NDArray[np.int32],  # [n_in_lanes] in/out: previous reading
    unchanged_s: NDArray[np.float64],  # [n_in_lanes] in/out: seconds since the reading changed
    quiet1_s: NDArray[np.float64],  # [n_groups] scratch: smallest unchanged_s of the group
    quiet2_s: NDArray[np.float64],  # [n_groups] scratch: second smallest
    suspect: NDArray[np.bool_],  # [n_lanes] in/out: suspect lanes (outgoing lanes stay False)
    ever: NDArray[np.bool_],  # [n_in_lanes] in/out: lanes suspect at some step
) -> int:
    """Flag suspect lanes (module docstring); returns how many are suspect now."""
    n_in = lane_group.shape[0]
    quiet1_s[:] = np.inf
    quiet2_s[:] = np.inf
    for lane in range(n_in):
        q = queue_veh[lane]
        n = near_veh[lane]
        if q != last_queue[lane] or n != last_near[lane]:
            unchanged_s[lane] = 0.0
            last_queue[lane] = q
            last_near[lane] = n
        else:
            unchanged_s[lane] += dt_s
        s = lane_group[lane]
        u = unchanged_s[lane]
        if u < quiet1_s[s]:
            quiet2_s[s] = quiet1_s[s]
            quiet1_s[s] = u
        elif u < quiet2_s[s]:
            quiet2_s[s] = u
    count = 0
    for lane in range(n_in):
        u = unchanged_s[lane]
        s = lane_group[lane]
        # the most recent change among the group's other lanes
        other = quiet2_s[s] if u == quiet1_s[s] else quiet1_s[s]
        # becoming suspect needs traffic elsewhere; staying suspect needs only the silence
        flag = u >= suspect_after_s and (other < suspect_after_s or suspect[lane])
        suspect[lane] = flag
        if flag:
            ever[lane] = True
            count += 1
    return count


@njit(cache=True)
def mask_kernel(suspect_lane: NDArray[np.bool_], values: NDArray[np.int32]) -> None:
    """Read suspect lanes as 0 (``values`` [n_lanes] in place): their detector is ignored."""
    for lane in range(values.shape[0]):
        if suspect_lane[lane]:
            values[lane] = 0


@njit(cache=True)
def suspect_phase_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    suspect_lane: NDArray[np.bool_],  # [n_lanes]
    out: NDArray[np.int8],  # [n_phases] out: 0 none, 1 some, 2 all of its lanes suspect
) -> None:
    """How many of the lanes a phase serves are suspect: 0 none, 1 some, 2 all (and >= 1)."""
    for p in range(out.shape[0]):
        n = 0
        for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
            if suspect_lane[phase_lane_idx[k]]:
                n += 1
        if n == 0:
            out[p] = SUSPECT_NONE
        elif n == phase_lane_ptr[p + 1] - phase_lane_ptr[p]:
            out[p] = SUSPECT_ALL
        else:
            out[p] = SUSPECT_SOME


@njit(cache=True)
def stuck_kernel(lane_veh: NDArray[np.int32], halting_veh: NDArray[np.int32]) -> bool:
    """True when the lanes hold vehicles and every one of them is halting."""
    n_veh = 0
    n_halt = 0
    for lane in range(lane_veh.shape[0]):
        n_veh += lane_veh[lane]
        n_halt += halting_veh[lane]
    return n_veh > 0 and n_halt >= n_veh


def check_fault_options(
    fail_detectors: float, fail_mode: str, suspect_after_s: float, stuck_s: float
) -> None:
    """Raise ``InputError`` for impossible fault or gridlock options."""
    if not 0.0 <= fail_detectors <= 1.0:
        raise InputError(f"--fail-detectors is a fraction between 0 and 1, got {fail_detectors:g}")
    if fail_mode not in FAIL_MODES:
        raise InputError(
            f"unknown --fail-mode {fail_mode!r}; choose one of {', '.join(FAIL_MODES)}"
        )
    if not suspect_after_s > 0.0:
        raise InputError(f"--suspect-after-s must be positive, got {suspect_after_s:g}")
    if not 0.0 < stuck_s < np.inf:
        raise InputError(f"--stuck-s must be positive, got {stuck_s:g}")


class DetectorFaults:
    """Failed detectors of one run: which lanes, how they fail, and the per-step transform."""

    def __init__(self, layout: NetworkLayout, fraction: float, seed: int, mode: str) -> None:
        n_in = layout.n_in_lanes
        n_failed = round(fraction * n_in)
        rng = np.random.default_rng(seed)
        self.failed_idx = np.sort(rng.choice(n_in, size=n_failed, replace=False)).astype(np.int64)
        self.mode = FAIL_MODES.index(mode)
        self._frozen: dict[str, NDArray[np.int32]] = {}

    @property
    def n_failed(self) -> int:
        return int(self.failed_idx.shape[0])

    def apply(self, name: str, values: NDArray[np.int32]) -> None:
        """Overwrite the failed lanes of the sensed array ``name`` in place, shape [n_lanes]."""
        if not self.n_failed:
            return
        frozen = self._frozen.get(name)
        if frozen is None:
            frozen = self._frozen[name] = np.full(self.n_failed, -1, dtype=np.int32)
        apply_faults_kernel(self.failed_idx, self.mode, frozen, values)


class SuspectDetector:
    """Per-step detection of silent or stuck detectors; fills ``SensedState.suspect_lane``."""

    def __init__(self, layout: NetworkLayout, suspect_after_s: float, dt_s: float) -> None:
        n_in = layout.n_in_lanes
        self.layout = layout
        self.suspect_after_s = float(suspect_after_s)
        self.dt_s = float(dt_s)
        self.lane_group = np.zeros(n_in, dtype=np.int64)  # one group: the whole network
        self.last_queue = np.zeros(n_in, dtype=np.int32)
        self.last_near = np.zeros(n_in, dtype=np.int32)
        self.unchanged_s = np.zeros(n_in)
        self.quiet1_s = np.zeros(1)
        self.quiet2_s = np.zeros(1)
        self.ever = np.zeros(n_in, dtype=np.bool_)
        self.n_suspect = 0

    def update(
        self,
        queue_veh: NDArray[np.int32],
        near_veh: NDArray[np.int32],
        suspect_lane: NDArray[np.bool_],
        suspect_phase: NDArray[np.int8],
    ) -> None:
        """Update ``suspect_lane`` [n_lanes] and ``suspect_phase`` [n_phases] in place
        (:func:`suspect_phase_kernel`)."""
        lay = self.layout
        had = self.n_suspect
        self.n_suspect = suspect_kernel(
            self.lane_group,
            queue_veh,
            near_veh,
            self.dt_s,
            self.suspect_after_s,
            self.last_queue,
            self.last_near,
            self.unchanged_s,
            self.quiet1_s,
            self.quiet2_s,
            suspect_lane,
            self.ever,
        )
        if self.n_suspect or had:
            suspect_phase_kernel(
                lay.phase_lane_ptr, lay.phase_lane_idx, suspect_lane, suspect_phase
            )

    def mask(self, suspect_lane: NDArray[np.bool_], *sensed: NDArray[np.int32]) -> None:
        """Make the controllers ignore suspect detectors: their lanes read 0 in ``sensed``."""
        if self.n_suspect:
            for values in sensed:
                mask_kernel(suspect_lane, values)

    def report(self, failed_idx: NDArray[np.int64]) -> dict[str, int]:
        """``detectors_detected`` (failed lanes flagged at some step) and false alarms."""
        failed = np.zeros(self.ever.shape[0], dtype=np.bool_)
        failed[failed_idx] = True
        return {
            "detectors_detected": int(np.count_nonzero(self.ever & failed)),
            "detectors_false_alarms": int(np.count_nonzero(self.ever & ~failed)),
        }


@dataclass
class GridlockWatch:
    """Flags a run whose controlled lanes are fully stuck for ``stuck_s`` seconds."""

    stuck_s: float
    dt_s: float
    lane_ids: tuple[str, ...] = ()  # controlled incoming lanes: the first entries of the arrays
    since_s: float = -1.0  # start of the current stuck period, -1 when moving
    longest_s: float = 0.0
    gridlock_at_s: float | None = None
    lane_since_s: NDArray[np.float64] | None = None  # [n lanes] as since_s, per lane
    lane_longest_s: float = 0.0
    jammed_lane: str | None = None
    jammed_at_s: float | None = None

    def update(
        self, time_s: float, lane_veh: NDArray[np.int32], halting_veh: NDArray[np.int32]
    ) -> None:
        if stuck_kernel(lane_veh, halting_veh):
            if self.since_s < 0:
                self.since_s = time_s - self.dt_s
            length = time_s - self.since_s
            self.longest_s = max(self.longest_s, length)
            if self.gridlock_at_s is None and length >= self.stuck_s - _EPS:
                self.gridlock_at_s = self.since_s
        else:
            self.since_s = -1.0
        n = len(self.lane_ids)
        if n:
            if self.lane_since_s is None:
                self.lane_since_s = np.full(n, -1.0)
            since = self.lane_since_s
            stuck = (lane_veh[:n] > 0) & (halting_veh[:n] >= lane_veh[:n])
            since[~stuck] = -1.0
            since[stuck & (since < 0)] = time_s - self.dt_s
            if stuck.any():
                length = np.where(stuck, time_s - since, 0.0)
                k = int(np.argmax(length))
                self.lane_longest_s = max(self.lane_longest_s, float(length[k]))
                if self.jammed_at_s is None and length[k] >= self.stuck_s - _EPS:
                    self.jammed_lane, self.jammed_at_s = self.lane_ids[k], float(since[k])

    def report(self) -> dict[str, Any]:
        return {
            "gridlock": self.gridlock_at_s is not None,
            "gridlock_at_s": self.gridlock_at_s,
            "jammed_lane": self.jammed_lane,
            "jammed_at_s": self.jammed_at_s,
            "lane_stuck_longest_s": self.lane_longest_s,
            "stuck_longest_s": self.longest_s,
        }


@njit(cache=True)
def red_wait_kernel(
    phase_lane_ptr: NDArray[np.int64],  # [n_phases + 1]
    phase_lane_idx: NDArray[np.int64],  # [nnz]
    cur_p: NDArray[np.int64],  # [n_signals] current green (the one being left in a clearance)
    stage: NDArray[np.int8],  # [n_signals] 0 green, 1 yellow, 2 all-red, 3 ped clearance
    halting_veh: NDArray[np.int32],  # [n_lanes] true halting vehicles
    dt_s: float,
    served: NDArray[np.bool_],  # [n_lanes] scratch
    red_wait_s: NDArray[np.float64],  # [n_in_lanes] in/out: seconds with a queue and no green
) -> float:
    """Time each incoming lane has held halting vehicles without a green; returns the largest.

    A lane counts as served while the current green of its signal serves it (stage 0).
    """
    served[:] = False
    for s in range(cur_p.shape[0]):
        if stage[s] != GREEN and stage[s] != PED_CLEAR:  # vehicles green in both
            continue
        p = cur_p[s]
        for k in range(phase_lane_ptr[p], phase_lane_ptr[p + 1]):
            served[phase_lane_idx[k]] = True
    worst = 0.0
    for lane in range(red_wait_s.shape[0]):
        if served[lane] or halting_veh[lane] == 0:
            red_wait_s[lane] = 0.0
        else:
            red_wait_s[lane] += dt_s
            if red_wait_s[lane] > worst:
                worst = red_wait_s[lane]
    return worst
