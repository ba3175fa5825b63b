"""SUMO outputs a signal study needs, requested before SUMO starts and read after it closes.

Nothing here reads the running simulation: SUMO writes the data itself.

``--study`` (approach data) adds one additional file, ``study.add.xml``, to the run folder:
    approaches.xml  ``<edgeData>`` over the run window on every approach edge (incoming edge of
                    a signal-controlled lane), the junction's internal edges its vehicles cross,
                    and the edges that feed it through unsignalised
                    connections, up to ``UPSTREAM_M`` (:func:`sim.runner.upstream_chain`, the
                    same rule as the detectors): ``timeLoss`` (summed over vehicles, s),
                    ``entered`` and ``departed`` (vehicles) → control delay and volume
    approach_edges.json  approach edge id → the edges whose time loss counts for it (itself
                    first); an upstream edge counts for one approach only
    arrivals.xml    one ``<instantInductionLoop>`` per controlled lane, ``ADVANCE_M`` before the
                    stop line (at the lane start on shorter lanes): one ``enter`` event per
                    vehicle → arrivals on green, projected to the stop line at the lane's speed
                    limit (the ATSPM method with advance detectors). After the run it is
                    condensed to ``arrivals.csv`` (``time_s,lane``: the ``enter`` events only,
                    a tenth of the size) and removed
``--emissions`` turns on SUMO's emission device for every vehicle (``tripinfo.xml`` then holds
``<emissions .../>`` per vehicle; SUMO 1.28's default model is HBEFA 4.2, class
``HBEFA4/PC_petrol_Euro-4`` for passenger cars without their own ``emissionClass``).

:func:`study_metrics` adds the summary keys (stops always; emissions and the approach delay when
their outputs exist).
"""

from __future__ import annotations

import csv
import gzip
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import click

from sim.scenario import NetScan

ADVANCE_M = 100.0
"""Distance of the arrival detector before the stop line [m] (ATSPM advance detectors sit
about 100-120 m upstream); on a shorter lane the detector sits at the lane start."""
UPSTREAM_M = 500.0
"""Time loss upstream of an approach edge counts for it up to this distance [m] (a queue that
backs up past a short edge stays in the approach's delay)."""
APPROACH_FILE = "approaches.xml"
APPROACH_EDGES_FILE = "approach_edges.json"
ARRIVAL_FILE = "arrivals.xml"
ARRIVAL_TABLE = "arrivals.csv"
STUDY_ADD_FILE = "study.add.xml"
ARRIVAL_PREFIX = "lwa_"
EMISSION_MODEL = "HBEFA 4.2 (SUMO 1.28 default, HBEFA4/PC_petrol_Euro-4 for passenger cars)"
MG_PER_KG = 1e6
MG_PER_G = 1e3
FUEL_MG_PER_L = 745_000.0
"""Petrol density [mg/l]; SUMO reports fuel as a mass (``fuel_abs`` in mg)."""


def xml_source(path: Path) -> Any:
    """A file to parse: ``path`` itself, or a decompressing reader for ``.gz``."""
    return gzip.open(path) if path.suffix == ".gz" else path


def lane_edge(lane_id: str) -> str:
    """Edge id of a lane id (``edge_index``)."""
    return lane_id.rsplit("_", 1)[0]


def arrival_pos_m(lane_length_m: float) -> float:
    """Position of a lane's arrival detector from the lane start [m]."""
    return max(lane_length_m - ADVANCE_M, 0.0)


def junction_edges(net_file: Path, approaches: set[str]) -> dict[str, list[str]]:
    """Approach edge → the internal (junction) edges its connections drive through."""
    via: list[tuple[str, str]] = []  # (from edge, internal edge)
    for _, el in ET.iterparse(xml_source(net_file), events=("end",)):
        if el.tag == "connection" and el.get("via"):
            via.append((el.get("from", ""), lane_edge(el.get("via", ""))))
        el.clear()
    owner: dict[str, str] = {}  # internal edge → approach
    grown = True
    while grown:
        grown = False
        for src, internal in via:
            a = src if src in approaches else owner.get(src)
            if a is not None and internal not in owner:
                owner[internal] = a
                grown = True
    out: dict[str, list[str]] = {a: [] for a in approaches}
    for internal, a in owner.items():
        out[a].append(internal)
    return out


def approach_chains(scan: NetScan) -> dict[str, list[str]]:
    """Approach edge → edges whose time loss counts for it: itself, the junction's internal
    edges it drives through (the acceleration after the stop line), then upstream edges."""
    from sim.sensing import upstream_chain  # runner imports this module at load time

    chains: dict[str, list[str]] = {}
    claimed: set[str] = set()
    for lane in scan.controlled_lanes:
        chains.setdefault(lane_edge(lane), [lane_edge(lane)])
    if scan.net_file is not None:
        for a, internal in junction_edges(scan.net_file, set(chains)).items():
            chains[a] += internal
    claimed.update(e for chain in chains.values() for e in chain)
    for lane in scan.controlled_lanes:
        edge = lane_edge(lane)
        for up in upstream_chain(scan, lane, UPSTREAM_M)[:-1]:
            e = lane_edge(up)
            if e not in claimed:
                claimed.add(e)
                chains[edge].append(e)
    return chains


def study_sumo_args(
    tmp_dir: Path, scan: NetScan, begin_s: float, end_s: float, study: bool, emissions: bool
) -> list[str]:
    """SUMO options for ``--study`` / ``--emissions``; writes ``study.add.xml`` into ``tmp_dir``.

    Output files are named relative to the additional file, so they land in the run folder.
    Returns ``[]`` when both are off.
    """
    args: list[str] = []
    if emissions:
        args += ["--device.emissions.probability", "1"]
    if not study:
        return args
    chains = approach_chains(scan)
    (tmp_dir / APPROACH_EDGES_FILE).write_text(json.dumps(chains, indent=1) + "\n", "utf-8")
    edges = sorted({e for chain in chains.values() for e in chain})
    period_s = max(end_s - begin_s, 1.0)
    lines = [
        "<additional>",
        f'  <edgeData id="lw_study" file="{APPROACH_FILE}" begin="{begin_s:g}" '
        f'end="{end_s:g}" period="{period_s:g}" edges={quoteattr(" ".join(edges))} '
        'withInternal="true" excludeEmpty="false"/>',
    ]
    for lane, length_m in scan.controlled_lanes.items():
        lines.append(
            f"  <instantInductionLoop id={quoteattr(ARRIVAL_PREFIX + lane)} "
            f'lane={quoteattr(lane)} pos="{arrival_pos_m(length_m):.2f}" file="{ARRIVAL_FILE}"/>'
        )
    lines.append("</additional>")
    path = tmp_dir / STUDY_ADD_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [*args, "--additional-files", str(path)]


def read_trips(tripinfo: Path) -> tuple[float, dict[str, float] | None]:
    """One pass over ``tripinfo.xml``: stops per inserted vehicle (mean ``waitingCount``, times a
    vehicle came below 0.1 m/s), and emission totals: CO2 [kg], fuel [l], NOx [g] and the
    distance driven [km] (``None`` without the emission device)."""
    co2_mg = fuel_mg = nox_mg = dist_m = 0.0
    n_veh = n_stops = 0
    found = False
    for _, el in ET.iterparse(tripinfo, events=("end",)):
        if el.tag == "emissions":
            found = True
            co2_mg += float(el.get("CO2_abs", "0"))
            fuel_mg += float(el.get("fuel_abs", "0"))
            nox_mg += float(el.get("NOx_abs", "0"))
        elif el.tag == "tripinfo":
            if float(el.get("depart", "-1")) >= 0:
                n_veh += 1
                n_stops += int(el.get("waitingCount", "0"))
                dist_m += float(el.get("routeLength", "0"))
            el.clear()
    stops = n_stops / n_veh if n_veh else 0.0
    if not found:
        return stops, None
    return stops, {
        "co2_kg": co2_mg / MG_PER_KG,
        "fuel_l": fuel_mg / FUEL_MG_PER_L,
        "nox_g": nox_mg / MG_PER_G,
        "distance_km": dist_m / 1000.0,
    }


def read_edge_data(path: Path) -> dict[str, tuple[float, int]]:
    """``approaches.xml`` → edge id → (time loss summed over vehicles [s], vehicles counted).

    Vehicles counted = ``entered + departed`` (all vehicles that drove on the edge in the window).
    Several intervals (when SUMO split the period) are summed.
    """
    out: dict[str, tuple[float, int]] = {}
    for _, el in ET.iterparse(path, events=("end",)):
        if el.tag != "edge":
            continue
        loss, n = out.get(el.get("id", ""), (0.0, 0))
        loss += float(el.get("timeLoss", "0"))
        n += int(float(el.get("entered", "0"))) + int(float(el.get("departed", "0")))
        out[el.get("id", "")] = (loss, n)
        el.clear()
    return out


def read_approach_delays(run_dir: Path) -> dict[str, tuple[float, int]] | None:
    """Approach edge → (time loss on it and its upstream edges [s], vehicles on the approach
    edge); ``None`` when the run has no study outputs."""
    edge_file = run_dir / APPROACH_FILE
    chain_file = run_dir / APPROACH_EDGES_FILE
    if not (edge_file.exists() and chain_file.exists()):
        return None
    data = read_edge_data(edge_file)
    chains: dict[str, list[str]] = json.loads(chain_file.read_text(encoding="utf-8"))
    return {
        a: (sum(data.get(e, (0.0, 0))[0] for e in chain), data.get(a, (0.0, 0))[1])
        for a, chain in chains.items()
    }


def arrival_events(xml: Path) -> Iterator[tuple[str, str]]:
    """``(time_s, lane)`` of every ``enter`` event in SUMO's instant-detector output."""
    n_prefix = len(ARRIVAL_PREFIX)
    for _, el in ET.iterparse(xml, events=("end",)):
        if el.tag == "instantOut" and el.get("state") == "enter":
            yield el.get("time", "0"), el.get("id", "")[n_prefix:]
        el.clear()


def condense_arrivals(run_dir: Path) -> Path | None:
    """``arrivals.xml`` → ``arrivals.csv`` (``time_s,lane``, one row per vehicle and detector);
    removes the XML. ``None`` when there is none."""
    xml = run_dir / ARRIVAL_FILE
    if not xml.exists():
        return None
    path = run_dir / ARRIVAL_TABLE
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("time_s", "lane"))
        w.writerows(arrival_events(xml))
    xml.unlink()
    return path


def study_metrics(
    run_dir: Path, approach_edges: list[str] | None = None
) -> dict[str, float | str | None]:
    """Summary keys from the study outputs in ``run_dir`` (after SUMO closed).

    ``stops_per_veh`` always; ``co2_kg``, ``fuel_l``, ``nox_g``, their ``*_per_veh_km`` and
    ``emission_model`` with the emission device; ``approach_delay_s`` (volume-weighted mean of
    approach control delays, over ``approach_edges`` or every edge of ``approaches.xml``) with
    ``--study``. Missing outputs give ``None``.
    """
    condense_arrivals(run_dir)
    tripinfo = run_dir / "tripinfo.xml"
    stops, em = read_trips(tripinfo)
    out: dict[str, float | str | None] = {"stops_per_veh": stops}
    keys = ("co2_kg", "fuel_l", "nox_g")
    if em is None:
        out.update(dict.fromkeys((*keys, *(k + "_per_veh_km" for k in keys), "emission_model")))
    else:
        km = em["distance_km"]
        for k in keys:
            out[k] = em[k]
            out[k + "_per_veh_km"] = em[k] / km if km > 0 else None
        out["emission_model"] = EMISSION_MODEL
    out["approach_delay_s"] = None
    per = read_approach_delays(run_dir)
    if per is not None:
        edges = approach_edges if approach_edges is not None else list(per)
        loss = sum(per[e][0] for e in edges if e in per)
        n = sum(per[e][1] for e in edges if e in per)
        out["approach_delay_s"] = loss / n if n else None
    return out


def study_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--study`` and ``--emissions`` for ``run`` / ``compare`` (RunConfig fields of the same
    names)."""
    f = click.option(
        "--emissions",
        is_flag=True,
        help="Record CO2, fuel and NOx per vehicle (SUMO's emission device, HBEFA 4.2).",
    )(f)
    f = click.option(
        "--study",
        is_flag=True,
        help="Record per-approach time loss and arrivals for 'lightwatch report'.",
    )(f)
    return f
