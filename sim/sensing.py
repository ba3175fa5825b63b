"""Sensing: the lane-area detectors a run adds to SUMO, and which lane each one watches.

Every controlled incoming lane gets one lane-area detector covering a given length before its
stop line (``--detection-range-m`` with ``--sensing ideal``, ``--detector-length-m`` with
``--sensing detectors``). Where the lane is shorter than that, the detector continues upstream
over the lanes feeding it (:func:`upstream_chain`), so a queue that backs up past a short lane
stays visible. With ideal sensing, and only for a controller that reads ``moving_veh``
(``Controller.reads_moving``: ``count``), a second, shorter set (``--gap-range-m``) at the stop
line counts the moving vehicles there: SUMO updates every lane-area detector for every vehicle on
its lanes each step, read or not, so a set nobody reads is not written. How ``Backend.read`` turns
the readings into the sensed view is described in ``sim.state``.

The link from lanes to detectors is explicit: :func:`write_detectors` returns ``{lane id:
detector id}``, and :func:`lane_detectors` orders it by the layout's lane index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.scenario import NetScan

SENSING = ("ideal", "detectors")
HALTING_SPEED_MS = 0.1
"""Detectors count a vehicle as halting below this speed, as SUMO's lane counts do (its
lane-area default, 1.39 m/s, would count slow-rolling vehicles as queued)."""
DETECTOR_PERIOD_S = 86400  # aggregation period of the (unused) detector output file


def upstream_chain(scan: NetScan, lane: str, length_m: float) -> list[str]:
    """Lanes from upstream to ``lane`` covering ``length_m`` before its stop line.

    A short controlled lane is extended over the lanes that feed it through unsignalised
    connections (the longest feeder where several merge), so a queue that backs up past a short
    lane stays visible. Returns lane ids, upstream-most first, ending with ``lane``.
    """
    chain = [lane]
    covered = scan.lane_length_m.get(lane, 0.0)
    while covered < length_m:
        feeders = [
            f
            for f in scan.feeders.get(chain[0], ())
            if f not in chain and f not in scan.controlled_lanes
        ]
        if not feeders:
            break
        best = max(feeders, key=lambda f: (scan.lane_length_m.get(f, 0.0), f))
        chain.insert(0, best)
        covered += scan.lane_length_m.get(best, 0.0)
    return chain


def write_detectors(path: Path, scan: NetScan, length_m: float, prefix: str) -> dict[str, str]:
    """Write lane-area detectors covering ``length_m`` before each controlled stop line.

    Returns ``{controlled lane id: detector id}``; detector ids are ``prefix + lane id``. Where the
    controlled lane is shorter than ``length_m`` the detector continues upstream
    (:func:`upstream_chain`).
    """
    detector_of: dict[str, str] = {}
    lines = ["<additional>"]
    for lane, lane_len in scan.controlled_lanes.items():
        det = f"{prefix}{lane}"
        detector_of[lane] = det
        chain = upstream_chain(scan, lane, length_m)
        end = max(lane_len - 0.1, 0.1)
        total = sum(scan.lane_length_m.get(x, 0.0) for x in chain[:-1]) + end
        start = max(total - length_m, 0.0)
        where = (
            f"lane={quoteattr(lane)}" if len(chain) == 1 else f"lanes={quoteattr(' '.join(chain))}"
        )
        lines.append(
            f'  <laneAreaDetector id={quoteattr(det)} {where} pos="{start:.2f}" '
            f'endPos="{end:.2f}" period="{DETECTOR_PERIOD_S}" file="NUL" '
            f'speedThreshold="{HALTING_SPEED_MS:g}"/>'
        )
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return detector_of


def lane_detectors(layout: NetworkLayout, detector_of: Mapping[str, str]) -> list[str]:
    """Detector id of every incoming lane in layout order: ``[n_in_lanes]``, entry ``l`` watches
    ``layout.lane_ids[l]``. ``InputError`` when a controlled lane has none."""
    try:
        return [detector_of[lane] for lane in layout.lane_ids[: layout.n_in_lanes]]
    except KeyError as exc:
        raise InputError(f"no detector for controlled lane {exc.args[0]!r}") from None


@dataclass(frozen=True)
class SensorFiles:
    """The detector files of one run and the lane each of their detectors watches."""

    files: tuple[Path, ...]  # additional files for SUMO's ``-a``
    queue_detector_of: dict[str, str]  # lane id -> detector of queue_veh and near_veh
    # lane id -> detector of moving_veh (ideal sensing, for a controller that reads it)
    gap_detector_of: dict[str, str] | None
    ideal: bool = True  # --sensing ideal (else detectors)

    @property
    def detector_queue(self) -> bool:
        """The sensed queue is the detector's alone (``--sensing detectors``)."""
        return not self.ideal


def write_sensors(
    workdir: Path,
    scan: NetScan,
    sensing: str,
    detection_range_m: float,
    detector_length_m: float,
    gap_range_m: float | None,
) -> SensorFiles:
    """Write the detectors of ``sensing`` (one of :data:`SENSING`) into ``workdir``.

    ``gap_range_m`` None: no gap set (the controller does not read ``moving_veh``)."""
    if sensing not in SENSING:
        raise InputError(f"unknown sensing {sensing!r}; choose one of {', '.join(SENSING)}")
    ideal = sensing == "ideal"
    det_file = workdir / "detectors.add.xml"
    length_m = detection_range_m if ideal else detector_length_m
    queue = write_detectors(det_file, scan, length_m, prefix="lw_")
    if not ideal:
        return SensorFiles((det_file,), queue, None, ideal=False)
    if gap_range_m is None:
        return SensorFiles((det_file,), queue, None)
    gap_file = workdir / "gap_detectors.add.xml"
    gap = write_detectors(gap_file, scan, gap_range_m, prefix="lwg_")
    return SensorFiles((det_file, gap_file), queue, gap)
