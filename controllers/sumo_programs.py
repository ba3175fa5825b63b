"""``sumo-actuated`` and ``sumo-delay``: SUMO's own adaptive programs as peers.

Both run the network's own phases, timed by SUMO itself (no TraCI control of the signals):

* ``sumo-actuated``: SUMO's gap-based ``actuated`` logic. A green is extended while the induction
  loops SUMO places upstream of the stop line see vehicles arriving with time gaps below
  ``max_gap_s``; it ends at the first larger gap after ``min_green_s``, or at its maximum.
* ``sumo-delay``: SUMO's ``delay_based`` logic. A green is extended while vehicles approaching it
  within ``detector_range_m`` have accumulated time loss above ``min_time_loss_s``.

How the program is built (one ``<tlLogic programID="lightwatch">`` per traffic light, written into
the run folder and loaded as an additional file):
    * the phases of the program SUMO would run for the signal (the last ``<tlLogic>`` of that id in
      the net file) are copied in order, with their ``state``, ``name`` and ``next``;
    * a *green* phase (a ``G``/``g`` and no ``y``/``u`` in its state, as in ``sim.layout``) gets
      ``minDur = min(min_green_s, duration)`` and ``maxDur = max(max_green_s, duration)``;
    * yellow, red-yellow and all-red phases keep their duration (``minDur = maxDur = duration``);
    * the offset is copied.
SUMO switches a signal to the program loaded last for it, so the generated program runs from the
first step (the tests check ``trafficlight.getProgram`` and the logic type).

Detectors are SUMO's own induction loops, ``detector_gap_s`` of travel time upstream (at most
``(minDur / passing_time_s + 0.5) * 7.5`` m). SUMO uses a loop for a phase only when every link
from its lane is green in that phase (its "check1"); a lane whose links are green in different
phases (e.g. a shared through/left lane) therefore extends none of them, and those phases end at
their minimum (``../shared/scenarios/resco/README.md``). ``jam_threshold_s > 0`` lifts the check for
links that are green-minor (permissive) in the phase: a loop occupied that long counts as jammed
and no longer extends, so the check is not needed. ``build_all_detectors`` builds loops on lanes
not relevant for any actuated phase too. Every parameter is written as a ``<param>`` of each
generated ``<tlLogic>`` (SUMO 1.28 keys: ``max-gap``, ``detector-gap``, ``passing-time``,
``jam-threshold``, ``detector-length``, ``build-all-detectors``, ``inactive-threshold``;
``detectorRange``, ``minTimeloss`` (so spelt in SUMO's code; the ``minTimeLoss`` of its
documentation is ignored), ``extendMaxDur``). The defaults are SUMO's, except max green:
60 s for both, as for ``count`` and the other lightwatch-timed peers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import quoteattr

from controllers.base import Controller, register
from sim.errors import InputError
from sim.layout import is_green_phase
from sim.scenario import NetScan, xml_source

PROGRAM_ID = "lightwatch"


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of a net program as read from the file."""

    duration_s: float
    state: str
    name: str | None = None
    next: str | None = None


def read_programs(net_file: Path) -> dict[str, tuple[float, tuple[Phase, ...]]]:
    """``{tls_id: (offset_s, phases)}`` of the program SUMO runs by default for each signal.

    Streams the net file; when a signal has several ``<tlLogic>`` elements the last one wins, as in
    SUMO. Raises ``InputError`` for an unreadable file or a malformed phase.
    """
    programs: dict[str, tuple[float, tuple[Phase, ...]]] = {}
    phases: list[Phase] = []
    source = xml_source(net_file)
    try:
        for event, el in ET.iterparse(source, events=("start", "end")):
            if event == "start":
                if el.tag == "tlLogic":
                    phases = []
                continue
            if el.tag == "phase":
                phases.append(
                    Phase(
                        duration_s=float(el.get("duration", "nan")),
                        state=el.get("state", ""),
                        name=el.get("name"),
                        next=el.get("next"),
                    )
                )
            elif el.tag == "tlLogic":
                tls_id = el.get("id", "")
                programs[tls_id] = (float(el.get("offset", "0") or 0.0), tuple(phases))
                el.clear()
            elif el.tag not in ("param",):
                el.clear()
    except ET.ParseError as exc:
        raise InputError(f"network file is not valid XML: {net_file} ({exc})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the signal programs of {net_file}: {exc}") from None
    finally:
        if source is not net_file:
            source.close()
    for tls_id, (_, ph) in programs.items():
        if not ph or any(p.duration_s != p.duration_s or not p.state for p in ph):
            raise InputError(f"signal {tls_id!r} has a phase without duration or state")
    return programs


def _param_text(value: float | bool | str) -> str:
    """A ``<param>`` value as SUMO reads it: ``true``/``false``, a number, or the text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    return value


def program_xml(
    tls_id: str,
    offset_s: float,
    phases: tuple[Phase, ...],
    logic_type: str,
    min_green_s: float,
    max_green_s: float,
    params: Mapping[str, float | bool | str],
) -> list[str]:
    """Lines of one ``<tlLogic>`` of ``logic_type`` built from ``phases`` (module docstring)."""
    lines = [
        f'    <tlLogic id={quoteattr(tls_id)} type="{logic_type}" programID="{PROGRAM_ID}" '
        f'offset="{offset_s:g}">'
    ]
    for key, value in params.items():
        lines.append(f"        <param key={quoteattr(key)} value={quoteattr(_param_text(value))}/>")
    for ph in phases:
        dur = ph.duration_s
        if is_green_phase(ph.state):
            lo, hi = min(min_green_s, dur), max(max_green_s, dur)
        else:
            lo = hi = dur
        extra = ""
        if ph.name is not None:
            extra += f" name={quoteattr(ph.name)}"
        if ph.next is not None:
            extra += f" next={quoteattr(ph.next)}"
        lines.append(
            f'        <phase duration="{dur:g}" minDur="{lo:g}" maxDur="{hi:g}" '
            f"state={quoteattr(ph.state)}{extra}/>"
        )
    lines.append("    </tlLogic>")
    return lines


def write_programs(
    path: Path,
    scan: NetScan,
    logic_type: str,
    min_green_s: float,
    max_green_s: float,
    params: Mapping[str, float | bool | str],
) -> Path:
    """Write an additional file with a ``logic_type`` program for every signal of ``scan``."""
    if scan.net_file is None:
        raise InputError("the network file of the scenario is unknown")
    programs = read_programs(scan.net_file)
    lines = ["<additional>"]
    for tls_id in scan.tls_ids:
        if tls_id not in programs:
            raise InputError(f"signal {tls_id!r} has no program in {scan.net_file}")
        offset, phases = programs[tls_id]
        lines += program_xml(tls_id, offset, phases, logic_type, min_green_s, max_green_s, params)
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _check_greens(min_green_s: float, max_green_s: float) -> None:
    if min_green_s <= 0:
        raise InputError(f"min_green_s must be positive, got {min_green_s:g}")
    if max_green_s < min_green_s:
        raise InputError(
            f"max_green_s ({max_green_s:g}) must be at least min_green_s ({min_green_s:g})"
        )


@dataclass(frozen=True)
class ActuatedParams:
    """Green bounds [s] and SUMO's gap rule: a green ends after ``max_gap_s`` without a vehicle
    at the detector, which SUMO places ``detector_gap_s`` of travel time before the stop line.

    ``passing_time_s``: assumed headway at the stop line (bounds the detector distance);
    ``jam_threshold_s``: a loop occupied this long counts as jammed (<= 0: off; > 0 also makes
    loops on lanes with permissive links usable); ``detector_length_m``: loop length (0: a point);
    ``build_all_detectors``: loops on every incoming lane; ``inactive_threshold_s``: a phase with
    a waiting detector unserved this long is preferred (only with several ``next`` phases).
    """

    min_green_s: float = 5.0
    max_green_s: float = 60.0
    max_gap_s: float = 3.0
    detector_gap_s: float = 2.0
    passing_time_s: float = 1.9
    jam_threshold_s: float = -1.0
    detector_length_m: float = 0.0
    build_all_detectors: bool = False
    inactive_threshold_s: float = 180.0

    def validate(self) -> None:
        _check_greens(self.min_green_s, self.max_green_s)
        if self.max_gap_s <= 0 or self.detector_gap_s <= 0 or self.passing_time_s <= 0:
            raise InputError("max_gap_s, detector_gap_s and passing_time_s must be positive")
        if self.detector_length_m < 0 or self.inactive_threshold_s <= 0:
            raise InputError(
                "detector_length_m must not be negative and inactive_threshold_s positive"
            )


@dataclass(frozen=True)
class DelayParams:
    """Green bounds [s]; a green is extended while vehicles within ``detector_range_m`` of the
    stop line have accumulated more than ``min_time_loss_s`` of time loss. ``extend_max_dur``:
    a green may run past max green while no other phase has such vehicles (SUMO before 1.17)."""

    min_green_s: float = 5.0
    max_green_s: float = 60.0
    detector_range_m: float = 100.0
    min_time_loss_s: float = 1.0
    extend_max_dur: bool = False  # SUMO's extendMaxDur: extend past max green with no other demand

    def validate(self) -> None:
        _check_greens(self.min_green_s, self.max_green_s)
        if self.detector_range_m <= 0 or self.min_time_loss_s < 0:
            raise InputError("detector_range_m must be positive and min_time_loss_s not negative")


class _SumoProgram(Controller):
    """A program SUMO times itself; lightwatch writes it, loads it and only records."""

    drives_signals = False
    logic_type: ClassVar[str] = ""
    file_name: ClassVar[str] = ""

    def sumo_params(self) -> dict[str, float | bool | str]:
        """``<param>`` values of the generated programs."""
        return {}

    def additional_files(self, scan: NetScan, workdir: Path) -> list[Path]:
        p = self.params
        path = workdir / self.file_name
        write_programs(
            path, scan, self.logic_type, p.min_green_s, p.max_green_s, self.sumo_params()
        )
        return [path]


@register
class SumoActuated(_SumoProgram):
    """SUMO's gap-based ``actuated`` program over the net's phases (see module docstring)."""

    name = "sumo-actuated"
    summary = "SUMO's built-in gap-based actuated program on the net's phases"
    Params = ActuatedParams
    logic_type = "actuated"
    file_name = "program.actuated.add.xml"

    def sumo_params(self) -> dict[str, float | bool | str]:
        p = self.params
        return {
            "max-gap": p.max_gap_s,
            "detector-gap": p.detector_gap_s,
            "passing-time": p.passing_time_s,
            "jam-threshold": p.jam_threshold_s,
            "detector-length": p.detector_length_m,
            "build-all-detectors": p.build_all_detectors,
            "inactive-threshold": p.inactive_threshold_s,
        }


@register
class SumoDelay(_SumoProgram):
    """SUMO's time-loss-based ``delay_based`` program over the net's phases (module docstring)."""

    name = "sumo-delay"
    summary = "SUMO's built-in delay-based program on the net's phases"
    Params = DelayParams
    logic_type = "delay_based"
    file_name = "program.delay.add.xml"

    def sumo_params(self) -> dict[str, float | bool | str]:
        return {
            "detectorRange": self.params.detector_range_m,
            # SUMO reads "minTimeloss" (MSDelayBasedTrafficLightLogic); its documentation's
            # "minTimeLoss" is silently ignored, leaving the threshold at 1 s
            "minTimeloss": self.params.min_time_loss_s,
            "extendMaxDur": self.params.extend_max_dur,
        }
