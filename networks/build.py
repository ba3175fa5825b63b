"""Rebuild the bundled SUMO scenarios in this folder.

Size: about 900 lines of data-like scenario recipes (one builder per bundled scenario); it
is a build script, not part of the run path.

Usage::

    python networks/build.py            # rebuild every scenario
    python networks/build.py single     # rebuild only the named scenario(s)

Each scenario ``<name>`` is written to ``networks/<name>/``:

* ``<name>.net.xml`` - road network with fixed-time signal programs built by
  netgenerate/netconvert (protected left-turn phases where there are
  left-turn lanes).
* ``<name>.rou.xml`` - one hour of routed vehicles, ``constant`` profile.
* ``<name>.<profile>.rou.xml`` - demand variants (``peak``, ``asymmetric``,
  ``saturated``) where the scenario defines them.
* ``<name>.sumocfg`` - configuration with relative paths, 0-3600 s.

Large scenarios (``metro``) are written gzip-compressed (``.net.xml.gz``,
``.rou.xml.gz``; SUMO and lightwatch read them as they are) with a shorter
demand window, to keep the repository small.

The build only uses SUMO's own tools (netgenerate, netconvert, duarouter,
randomTrips.py) plus sumolib to read networks.  All random draws use fixed
seeds and the ``<!-- generated on ... -->`` header comments that SUMO writes
(they contain dates and paths) are stripped, so rebuilding yields
byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import math
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sumo
import sumolib

os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)

NETWORKS_DIR = Path(__file__).resolve().parent
TOOLS_DIR = Path(os.environ["SUMO_HOME"]) / "tools"

SEED = 42
"""Seed for netgenerate, duarouter, randomTrips and the demand generator."""

HOUR = 3600.0
SPEED = 13.89  # 50 km/h
POCKET_LENGTH = 60.0  # length of the left-turn lane in front of a signal

TLS_OPTIONS: list[str] = [
    "--tls.layout", "opposites",
    "--tls.green.time", "30",
    "--tls.left-green.time", "10",
    "--no-turnarounds", "true",
]  # fmt: skip
"""Signal-program options shared by every network (fixed-time default)."""

COMMON_OUTPUT_OPTIONS: list[str] = ["--write-license", "false"]

PROFILES: tuple[str, ...] = ("constant", "peak", "asymmetric", "saturated")
"""Demand profiles; ``constant`` is written to the default ``<name>.rou.xml``."""

PEAK_FACTOR = 1.2
"""Total volume of the ``peak`` profile relative to ``constant``."""

SATURATED_FACTOR = 1.6
"""Default volume of the ``saturated`` profile relative to ``constant``."""

ASYMMETRIC_SHARE = 0.7
"""Share of the west/east volume entering from the west in ``asymmetric``."""

Side = str  # one of "W", "E", "N", "S"
OPPOSITE: dict[Side, Side] = {"W": "E", "E": "W", "N": "S", "S": "N"}


def binary(name: str) -> str:
    """Return the path of a SUMO executable from the eclipse-sumo package."""
    return sumolib.checkBinary(name)


def run(cmd: list[str], cwd: Path) -> None:
    """Run a SUMO command, raising with its output if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        )


_HEADER_COMMENT = re.compile(r"<!--\s*generated on.*?-->\s*", re.DOTALL)


def copy_clean(src: Path, dst: Path) -> None:
    """Copy an XML file, dropping the date/path header comments SUMO writes.

    A ``dst`` ending in ``.gz`` is gzip-compressed without a time stamp or
    file name in its header, so rebuilding yields byte-identical files.
    """
    text = _HEADER_COMMENT.sub("", src.read_text(encoding="utf-8"))
    if dst.name.endswith(".gz"):
        dst.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    else:
        dst.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


@dataclass
class PlainNet:
    """A small plain-XML network description fed to netconvert.

    Roads are two-way.  Every approach into a signalised node gets a
    left-turn pocket: the last ``POCKET_LENGTH`` metres are a separate edge
    with one lane more than the upstream part.
    """

    nodes: dict[str, tuple[float, float]] = field(default_factory=dict)
    signals: set[str] = field(default_factory=set)
    fringe: set[str] = field(default_factory=set)
    roads: list[tuple[str, str, int, int]] = field(default_factory=list)

    def node(self, nid: str, x: float, y: float, signal: bool = False) -> None:
        """Add a node; signalised nodes become traffic lights."""
        self.nodes[nid] = (x, y)
        if signal:
            self.signals.add(nid)

    def road(self, a: str, b: str, lanes: int, pocket_lanes: int = 1) -> None:
        """Add a two-way road between ``a`` and ``b`` with ``lanes`` per way.

        Approaches into signalised nodes get ``pocket_lanes`` extra
        left-turn lanes (0 disables the pocket).
        """
        self.roads.append((a, b, lanes, pocket_lanes))

    def _directed(self) -> Iterable[tuple[str, str, int, int]]:
        for a, b, lanes, pocket in self.roads:
            yield a, b, lanes, pocket
            yield b, a, lanes, pocket

    def write(self, nod: Path, edg: Path) -> None:
        """Write ``.nod.xml`` and ``.edg.xml`` files for netconvert."""
        node_lines: list[str] = []
        edge_lines: list[str] = []
        for nid, (x, y) in self.nodes.items():
            kind = "traffic_light" if nid in self.signals else "priority"
            extra = ' fringe="outer"' if nid in self.fringe else ""
            node_lines.append(
                f'    <node id="{nid}" x="{x:.2f}" y="{y:.2f}" type="{kind}"{extra}/>'
            )
        for a, b, lanes, pocket in self._directed():
            eid = f"{a}_{b}"
            if b in self.signals and pocket > 0:
                (xa, ya), (xb, yb) = self.nodes[a], self.nodes[b]
                length = math.hypot(xb - xa, yb - ya)
                frac = (length - POCKET_LENGTH) / length
                mid = f"{eid}_p"
                node_lines.append(
                    f'    <node id="{mid}" x="{xa + frac * (xb - xa):.2f}" '
                    f'y="{ya + frac * (yb - ya):.2f}" type="priority"/>'
                )
                edge_lines.append(self._edge(eid, a, mid, lanes))
                edge_lines.append(self._edge(f"{eid}_pocket", mid, b, lanes + pocket))
            else:
                edge_lines.append(self._edge(eid, a, b, lanes))
        nod.write_text("<nodes>\n" + "\n".join(node_lines) + "\n</nodes>\n", encoding="utf-8")
        edg.write_text("<edges>\n" + "\n".join(edge_lines) + "\n</edges>\n", encoding="utf-8")

    @staticmethod
    def _edge(eid: str, a: str, b: str, lanes: int) -> str:
        return (
            f'    <edge id="{eid}" from="{a}" to="{b}" numLanes="{lanes}" '
            f'speed="{SPEED}" priority="1"/>'
        )


def netconvert_plain(plain: PlainNet, out: Path, work: Path) -> None:
    """Build ``out`` from a :class:`PlainNet` with netconvert."""
    nod, edg = work / "net.nod.xml", work / "net.edg.xml"
    plain.write(nod, edg)
    tmp = work / "net.net.xml"
    run(
        [
            binary("netconvert"),
            "--node-files", nod.name,
            "--edge-files", edg.name,
            "--output-file", tmp.name,
            "--seed", str(SEED),
            *TLS_OPTIONS,
            *COMMON_OUTPUT_OPTIONS,
        ],
        cwd=work,
    )  # fmt: skip
    copy_clean(tmp, out)


def grid_column_id(i: int, nx: int) -> str:
    """netgenerate's letter code of grid column ``i`` of ``nx`` (``A``.., or ``AA``.. past 26)."""
    n_letters = 1
    while 26**n_letters < nx:
        n_letters += 1
    code = ""
    for _ in range(n_letters):
        i, digit = divmod(i, 26)
        code = chr(ord("A") + digit) + code
    return code


def netgenerate_grid(
    out: Path,
    work: Path,
    nx: int,
    ny: int,
    x_length: float,
    y_length: float,
    attach: float,
    lanes: int,
    extra: Iterable[str] = (),
) -> None:
    """Build a signalised ``nx`` x ``ny`` grid with netgenerate.

    Every grid node is a traffic light, every approach has a left-turn
    pocket and the border nodes get fringe edges of length ``attach``.
    ``extra`` options are passed on (e.g. :data:`PED_OPTIONS`).
    """
    tls = ",".join(f"{grid_column_id(i, nx)}{j}" for i in range(nx) for j in range(ny))
    tmp = work / "net.net.xml"
    run(
        [
            binary("netgenerate"),
            "--grid",
            "--grid.x-number", str(nx),
            "--grid.y-number", str(ny),
            "--grid.x-length", str(x_length),
            "--grid.y-length", str(y_length),
            "--grid.attach-length", str(attach),
            "--default.lanenumber", str(lanes),
            "--default.speed", str(SPEED),
            "--default.junctions.type", "priority",
            "--tls.set", tls,
            "--turn-lanes", "1",
            "--turn-lanes.length", str(POCKET_LENGTH),
            "--seed", str(SEED),
            "--output-file", tmp.name,
            *TLS_OPTIONS,
            *COMMON_OUTPUT_OPTIONS,
            *extra,
        ],
        cwd=work,
    )  # fmt: skip
    copy_clean(tmp, out)


def build_single_net(out: Path, work: Path) -> None:
    """One four-arm signal, 275 m arms, 2 lanes + left pocket per approach."""
    plain = PlainNet()
    plain.node("C", 0, 0, signal=True)
    for nid, (x, y) in {"N": (0, 275), "E": (275, 0), "S": (0, -275), "W": (-275, 0)}.items():
        plain.node(nid, x, y)
        plain.fringe.add(nid)
        plain.road(nid, "C", lanes=2)
    netconvert_plain(plain, out, work)


CORRIDOR_SIGNALS = 6
CORRIDOR_SPACING = 275.0
CORRIDOR_SIDE_LENGTH = 200.0


def build_corridor_net(out: Path, work: Path) -> None:
    """Six signals 275 m apart on an east-west arterial.

    Arterial: 2 lanes + left pocket per direction.  Side streets: one lane
    per direction (no pocket), 200 m long.
    """
    plain = PlainNet()
    n = CORRIDOR_SIGNALS
    ids = [f"J{i + 1}" for i in range(n)]
    for i, jid in enumerate(ids):
        x = i * CORRIDOR_SPACING
        plain.node(jid, x, 0, signal=True)
        for side, y in (("N", CORRIDOR_SIDE_LENGTH), ("S", -CORRIDOR_SIDE_LENGTH)):
            sid = f"{side}{i + 1}"
            plain.node(sid, x, y)
            plain.fringe.add(sid)
            plain.road(sid, jid, lanes=1, pocket_lanes=0)
    plain.node("W", -CORRIDOR_SPACING, 0)
    plain.node("E", n * CORRIDOR_SPACING, 0)
    plain.fringe.update({"W", "E"})
    chain = ["W", *ids, "E"]
    for a, b in itertools.pairwise(chain):
        plain.road(a, b, lanes=2)
    netconvert_plain(plain, out, work)


def build_grid4x4_net(out: Path, work: Path) -> None:
    """4x4 signalised grid, 200 m blocks, 2 lanes + left pocket."""
    netgenerate_grid(out, work, 4, 4, 200.0, 200.0, 200.0, lanes=2)


def build_city_net(out: Path, work: Path) -> None:
    """10x10 signalised grid with 200 m x 150 m blocks, 2 lanes + pocket."""
    netgenerate_grid(out, work, 10, 10, 200.0, 150.0, 150.0, lanes=2)


METRO_SIZE = 32
"""Signals per row and per column of ``metro`` (32 x 32 = 1024 signals)."""


def build_metro_net(out: Path, work: Path) -> None:
    """32x32 signalised grid (1024 signals), blocks and lanes as ``city``."""
    netgenerate_grid(out, work, METRO_SIZE, METRO_SIZE, 200.0, 150.0, 150.0, lanes=2)


# ---------------------------------------------------------------------------
# Demand
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Terminal:
    """A fringe node with its entry (outgoing) and exit (incoming) edge."""

    node: str
    side: Side
    entry: str
    exit: str


def fringe_terminals(net_file: Path) -> list[Terminal]:
    """Return the network's dead-end fringe nodes, labelled by border side."""
    net = sumolib.net.readNet(str(net_file))
    (xmin, ymin), (xmax, ymax) = net.getBBoxXY()
    terminals: list[Terminal] = []
    for node in net.getNodes():
        if node.getType() != "dead_end":
            continue
        outgoing, incoming = node.getOutgoing(), node.getIncoming()
        if len(outgoing) != 1 or len(incoming) != 1:
            continue
        x, y = node.getCoord()
        dist = {"W": x - xmin, "E": xmax - x, "S": y - ymin, "N": ymax - y}
        side = min(dist, key=lambda s: dist[s])
        terminals.append(Terminal(node.getID(), side, outgoing[0].getID(), incoming[0].getID()))
    return sorted(terminals, key=lambda t: t.node)


@dataclass(frozen=True)
class DemandSpec:
    """Fringe-to-fringe demand for one scenario.

    ``rate`` gives the constant-profile volume (veh/h) entering at a fringe
    node; ``split`` gives, for an origin side, the share of trips going to
    the opposite side and to each of the two adjacent sides (the rest of a
    side's share is spread evenly over its exits).
    """

    rate: Callable[[Terminal], float]
    split: Callable[[Terminal], tuple[float, float]]
    saturated: float = SATURATED_FACTOR


def profile_multiplier(
    profile: str, side: Side, t: float, saturated: float = SATURATED_FACTOR
) -> float:
    """Rate multiplier for ``profile`` at time ``t`` for trips from ``side``."""
    if profile == "constant":
        return 1.0
    if profile == "saturated":
        return saturated
    if profile == "peak":
        # 0.5 .. 1.5 (mean 1) sine bump peaking at 30 min, scaled by 1.2.
        return PEAK_FACTOR * (0.5 + math.sin(math.pi * t / HOUR) ** 2)
    if profile == "asymmetric":
        if side == "W":
            return 2 * ASYMMETRIC_SHARE
        if side == "E":
            return 2 * (1 - ASYMMETRIC_SHARE)
        return 1.0
    raise ValueError(f"unknown profile {profile!r}")


def departures(rng: random.Random, rate: Callable[[float], float], peak: float) -> list[float]:
    """Draw Poisson departure times in [0, HOUR) for a time-varying rate.

    ``rate(t)`` is in veh/h and must not exceed ``peak`` (thinning).
    """
    times: list[float] = []
    if peak <= 0:
        return times
    t = 0.0
    while True:
        t += rng.expovariate(peak / HOUR)
        if t >= HOUR:
            return times
        if rng.random() * peak < rate(t):
            times.append(t)


def write_trips(
    terminals: list[Terminal], spec: DemandSpec, profile: str, seed: str, out: Path
) -> int:
    """Write a trip file for one profile; return the number of trips."""
    rng = random.Random(seed)
    trips: list[tuple[float, str, str]] = []
    for origin in terminals:
        base = spec.rate(origin)
        opposite, adjacent = spec.split(origin)
        by_side: dict[Side, list[Terminal]] = {}
        for dest in terminals:
            if dest.node != origin.node:
                by_side.setdefault(dest.side, []).append(dest)
        dests: list[Terminal] = []
        weights: list[float] = []
        for side, members in sorted(by_side.items()):
            if side == origin.side:
                share = max(0.0, 1.0 - opposite - 2 * adjacent)
            elif side == OPPOSITE[origin.side]:
                share = opposite
            else:
                share = adjacent
            for dest in members:
                dests.append(dest)
                weights.append(share / len(members))

        def rate(t: float, side: Side = origin.side, base: float = base) -> float:
            return base * profile_multiplier(profile, side, t, spec.saturated)

        peak = max(rate(t) for t in (0.0, HOUR / 2, HOUR))
        for t in departures(rng, rate, peak):
            dest = rng.choices(dests, weights)[0]
            trips.append((t, origin.entry, dest.exit))
    trips.sort()
    lines = [
        f'    <trip id="v{i}" depart="{t:.2f}" from="{a}" to="{b}" '
        'departLane="best" departSpeed="max"/>'
        for i, (t, a, b) in enumerate(trips)
    ]
    out.write_text("<routes>\n" + "\n".join(lines) + "\n</routes>\n", encoding="utf-8")
    return len(trips)


def duarouter(net: Path, trips: Path, out: Path, work: Path) -> None:
    """Route ``trips`` on ``net`` (shortest travel time) into ``out``."""
    tmp = work / "routed.rou.xml"
    run(
        [
            binary("duarouter"),
            "--net-file", str(net),
            "--route-files", str(trips),
            "--output-file", tmp.name,
            "--alternatives-output", "routed.alt.xml",
            "--seed", str(SEED),
            "--no-step-log", "true",
            *COMMON_OUTPUT_OPTIONS,
        ],
        cwd=work,
    )  # fmt: skip
    copy_clean(tmp, out)


def build_fringe_demand(
    name: str, net: Path, spec: DemandSpec, profiles: Iterable[str], work: Path
) -> dict[str, int]:
    """Write routed demand files for each profile; return vehicle counts."""
    terminals = fringe_terminals(net)
    counts: dict[str, int] = {}
    for profile in profiles:
        trips = work / f"{profile}.trips.xml"
        counts[profile] = write_trips(terminals, spec, profile, f"{name}/{profile}/{SEED}", trips)
        duarouter(net, trips, net.parent / route_file_name(name, profile), work)
    return counts


def route_file_name(name: str, profile: str) -> str:
    """Route file name of a profile (``constant`` is the default file)."""
    return f"{name}.rou.xml" if profile == "constant" else f"{name}.{profile}.rou.xml"


def uniform_rate(veh_per_hour: float) -> Callable[[Terminal], float]:
    """Same entry volume at every fringe node."""
    return lambda _t: veh_per_hour


def uniform_split(opposite: float, adjacent: float) -> Callable[[Terminal], tuple[float, float]]:
    """Same destination split for every origin."""
    return lambda _t: (opposite, adjacent)


CITY_PERIOD = 0.6
"""randomTrips insertion period for ``city`` (s): 6000 vehicles per hour."""

METRO_PERIOD = 0.06
"""randomTrips insertion period for ``metro`` (s): 15000 vehicles in 15 minutes."""

METRO_END_S = 900.0
"""Demand window of ``metro`` (s); its configuration runs 0-900 s."""


@dataclass(frozen=True)
class RandomDemand:
    """randomTrips settings: one trip every ``period_s`` over ``[0, end_s)``."""

    period_s: float
    end_s: float = HOUR
    fringe_factor: float = 10.0
    min_distance_m: float = 600.0


def build_random_demand(
    name: str, net: Path, spec: RandomDemand, out: Path, work: Path
) -> dict[str, int]:
    """Random trips (fringe-weighted) routed by duarouter via randomTrips into ``out``."""
    trips = work / f"{name}.trips.xml"
    routes = work / f"{name}.rou.xml"
    run(
        [
            sys.executable,
            str(TOOLS_DIR / "randomTrips.py"),
            "--net-file", str(net),
            "--output-trip-file", trips.name,
            "--route-file", routes.name,
            "--seed", str(SEED),
            "--begin", "0",
            "--end", f"{spec.end_s:g}",
            "--period", f"{spec.period_s:g}",
            "--fringe-factor", f"{spec.fringe_factor:g}",
            "--min-distance", f"{spec.min_distance_m:g}",
            "--prefix", "v",
            "--trip-attributes", 'departLane="best" departSpeed="max"',
            "--validate",
        ],
        cwd=work,
    )  # fmt: skip
    copy_clean(routes, out)
    count = routes.read_text(encoding="utf-8").count("<vehicle ")
    return {"constant": count}


# ---------------------------------------------------------------------------
# People: sidewalks, crossings, pedestrians and bus lines
# ---------------------------------------------------------------------------

PED_OPTIONS: list[str] = ["--sidewalks.guess", "true", "--crossings.guess", "true"]
"""netgenerate/netconvert options adding sidewalks, walking areas and signalised crossings."""

PED_MIN_DISTANCE_M = 250.0
"""Straight-line distance between the midpoints of a walk's first and last edge, at least."""

BUS_VTYPE = '    <vType id="bus" vClass="bus" personCapacity="70"/>'
BUS_STOP_LENGTH_M = 25.0
BUS_STOP_OFFSET_M = 15.0
"""Far-side stops start this far past the junction they follow."""
BUS_DWELL_S = 20.0


def walk_edges(net: sumolib.net.Net) -> list[sumolib.net.edge.Edge]:
    """Plain (non-internal) edges with a sidewalk or footway, at least 10 m long, sorted by id."""
    edges = [
        e
        for e in net.getEdges()
        if e.getFunction() == "" and e.getLength() >= 10.0 and e.allows("pedestrian")
    ]
    return sorted(edges, key=lambda e: e.getID())


def write_walks(
    net: sumolib.net.Net,
    rate: Callable[[float], float],
    peak: float,
    seed: str,
) -> list[tuple[float, str]]:
    """Pedestrians walking between random sidewalk edges, Poisson in time.

    ``rate(t)`` is in persons/h (at most ``peak``). A walk starts and ends at a random position
    of edges whose midpoints are at least :data:`PED_MIN_DISTANCE_M` apart, so most walks use a
    crossing. Returns ``(depart_s, xml)`` per person, ids ``p0, p1, ...`` in depart order.
    """
    rng = random.Random(seed)
    edges = walk_edges(net)
    mids = [e.getShape()[len(e.getShape()) // 2] for e in edges]
    far: list[list[int]] = [
        [j for j, b in enumerate(mids) if math.dist(a, b) >= PED_MIN_DISTANCE_M] for a in mids
    ]
    out: list[tuple[float, str]] = []
    for t in departures(rng, rate, peak):
        i = rng.randrange(len(edges))
        while not far[i]:
            i = rng.randrange(len(edges))
        j = rng.choice(far[i])
        out.append(
            (
                t,
                f'    <person id="p{len(out)}" depart="{t:.2f}" departPos="random">\n'
                f'        <walk from="{edges[i].getID()}" to="{edges[j].getID()}" '
                'arrivalPos="random"/>\n'
                "    </person>",
            )
        )
    return out


@dataclass(frozen=True)
class BusLine:
    """One direction of a bus line: its route (edge ids) and the edges with a stop, in order."""

    flow_id: str
    line_id: str
    edges: tuple[str, ...]
    stop_edges: tuple[str, ...]


def bus_line(
    net: sumolib.net.Net, flow_id: str, line_id: str, from_edge: str, to_edge: str
) -> BusLine:
    """The fastest bus route from ``from_edge`` to ``to_edge`` with far-side stops.

    A stop is placed on every route edge that leaves a traffic light, allows buses and is long
    enough for the stop (:data:`BUS_STOP_OFFSET_M` + :data:`BUS_STOP_LENGTH_M` + 10 m).
    """
    path, _ = net.getShortestPath(net.getEdge(from_edge), net.getEdge(to_edge), vClass="bus")
    if not path:
        raise RuntimeError(f"bus line {line_id}: no route from {from_edge} to {to_edge}")
    stops = [
        e.getID()
        for e in path
        if e.getFromNode().getType() == "traffic_light"
        and e.getLength() >= BUS_STOP_OFFSET_M + BUS_STOP_LENGTH_M + 10.0
        and e.allows("bus")
    ]
    return BusLine(flow_id, line_id, tuple(e.getID() for e in path), tuple(stops))


def write_bus_stops(net: sumolib.net.Net, lines: Iterable[BusLine], out: Path) -> None:
    """Write the ``<busStop>`` elements of ``lines`` (one stop per edge, on its first bus lane)."""
    serving: dict[str, list[str]] = {}
    for line in lines:
        for eid in line.stop_edges:
            serving.setdefault(eid, []).append(line.line_id)
    rows = []
    for eid, line_ids in sorted(serving.items()):
        lane = next(ln for ln in net.getEdge(eid).getLanes() if ln.allows("bus"))
        start = BUS_STOP_OFFSET_M
        rows.append(
            f'    <busStop id="stop_{eid}" lane="{lane.getID()}" startPos="{start:.2f}" '
            f'endPos="{start + BUS_STOP_LENGTH_M:.2f}" lines="{" ".join(line_ids)}"/>'
        )
    out.write_text("<additional>\n" + "\n".join(rows) + "\n</additional>\n", encoding="utf-8")


def bus_flows(lines: Iterable[BusLine], headway_s: float) -> list[str]:
    """One bus flow per line, a bus every ``headway_s`` over the hour, lines staggered by 60 s."""
    rows = []
    for k, line in enumerate(lines):
        begin = (60.0 * k) % headway_s
        number = int((HOUR - begin) // headway_s)
        stops = "".join(
            f'\n        <stop busStop="stop_{eid}" duration="{BUS_DWELL_S:g}"/>'
            for eid in line.stop_edges
        )
        rows.append(
            f'    <flow id="bus_{line.flow_id}" type="bus" line="{line.line_id}" '
            f'begin="{begin:.2f}" end="{HOUR:.2f}" number="{number}" departLane="best">\n'
            f'        <route edges="{" ".join(line.edges)}"/>{stops}\n'
            "    </flow>"
        )
    return rows


_VEHICLE_BLOCK = re.compile(r'    <vehicle id="[^"]*" depart="([0-9.]+)".*?</vehicle>', re.DOTALL)


def merge_people(
    routed: Path, walks: list[tuple[float, str]], buses: list[str], out: Path
) -> tuple[int, int]:
    """Write ``out``: the bus type and flows, then routed vehicles and walks by departure.

    Returns the number of cars (routed vehicles) and of pedestrians written.
    """
    cars = [(float(m.group(1)), m.group(0)) for m in _VEHICLE_BLOCK.finditer(routed.read_text())]
    merged = sorted(cars + walks, key=lambda pair: pair[0])
    body = [BUS_VTYPE, *buses, *(xml for _, xml in merged)]
    out.write_text("<routes>\n" + "\n".join(body) + "\n</routes>\n", encoding="utf-8")
    return len(cars), len(walks)


# ---------------------------------------------------------------------------
# downtown: 4 x 3 grid of short blocks with sidewalks, crossings, pedestrians and two bus lines
# ---------------------------------------------------------------------------

DOWNTOWN_PED_RATE = 1800.0
"""Pedestrians per hour in the ``constant`` profile (one every 2 s)."""

DOWNTOWN_BUS_HEADWAY_S = 300.0
DOWNTOWN_LINES: tuple[tuple[str, str, str, str], ...] = (
    ("L1_east", "L1", "left1A1", "D1right1"),
    ("L1_west", "L1", "right1D1", "A1left1"),
    ("L2_north", "L2", "bottom1B0", "B2top1"),
    ("L2_south", "L2", "top1B2", "B0bottom1"),
)
"""(flow id, line, first edge, last edge): L1 along the middle row, L2 along column B."""


def build_downtown_net(out: Path, work: Path) -> None:
    """4 x 3 signalised grid, 160 m x 130 m blocks, 2 lanes + 40 m left pocket, sidewalks and a
    signalised crossing on every arm of every signal."""
    netgenerate_grid(out, work, 4, 3, 160.0, 130.0, 130.0, lanes=2, extra=PED_OPTIONS)


def downtown_rate(_t: Terminal) -> float:
    """Vehicles per hour entering at each of the 14 fringe nodes (constant profile)."""
    return 220.0


def build_downtown_demand(name: str, net_file: Path, work: Path) -> dict[str, int]:
    """Cars (fringe to fringe, every profile), pedestrians (scaled like the cars; unchanged in
    ``asymmetric``) and the bus lines (the same timetable in every profile)."""
    spec = DemandSpec(downtown_rate, uniform_split(0.6, 0.2), saturated=2.0)
    car_counts = build_fringe_demand(name, net_file, spec, PROFILES, work)
    net = sumolib.net.readNet(str(net_file), withPedestrianConnections=True)
    lines = [bus_line(net, fid, lid, a, b) for fid, lid, a, b in DOWNTOWN_LINES]
    write_bus_stops(net, lines, net_file.parent / f"{name}.add.xml")
    buses = bus_flows(lines, DOWNTOWN_BUS_HEADWAY_S)
    n_buses = sum(
        int((HOUR - (60.0 * k) % DOWNTOWN_BUS_HEADWAY_S) // DOWNTOWN_BUS_HEADWAY_S)
        for k in range(len(lines))
    )
    counts: dict[str, int] = {}
    for profile in PROFILES:

        def rate(t: float, profile: str = profile) -> float:
            return DOWNTOWN_PED_RATE * profile_multiplier(profile, "N", t, spec.saturated)

        peak = max(rate(t) for t in (0.0, HOUR / 2, HOUR))
        walks = write_walks(net, rate, peak, f"{name}/{profile}/walks/{SEED}")
        routes = net_file.parent / route_file_name(name, profile)
        merge_people(routes, walks, buses, routes)
        counts[profile] = car_counts[profile] + n_buses
        print(
            f"{name} {profile}: {car_counts[profile]} cars, {n_buses} buses, "
            f"{len(walks)} pedestrians"
        )
    return counts


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def corridor_rate(t: Terminal) -> float:
    """Arterial ends carry most of the corridor demand."""
    return 600.0 if t.side in ("W", "E") else 80.0


def corridor_split(t: Terminal) -> tuple[float, float]:
    """Arterial traffic mostly runs through; side traffic mostly joins it."""
    return (0.8, 0.1) if t.side in ("W", "E") else (0.2, 0.4)


@dataclass(frozen=True)
class Scenario:
    """How to build one bundled scenario.

    ``compress`` writes the network and routes gzip-compressed (``.xml.gz``).
    """

    build_net: Callable[[Path, Path], None]
    demand: DemandSpec | RandomDemand | None
    profiles: tuple[str, ...]
    compress: bool = False
    # (name, net, work) -> vehicles per profile; replaces the fringe/city demand when given
    build_demand: Callable[[str, Path, Path], dict[str, int]] | None = None

    def suffix(self) -> str:
        """File-name ending of the network and route files."""
        return ".xml.gz" if self.compress else ".xml"

    def end_s(self) -> float:
        """End of the configuration's time window (s)."""
        return self.demand.end_s if isinstance(self.demand, RandomDemand) else HOUR


SCENARIOS: dict[str, Scenario] = {
    "single": Scenario(
        build_single_net,
        DemandSpec(uniform_rate(750.0), uniform_split(0.6, 0.2)),
        PROFILES,
    ),
    "grid4x4": Scenario(
        build_grid4x4_net,
        DemandSpec(uniform_rate(300.0), uniform_split(0.6, 0.2), saturated=2.0),
        PROFILES,
    ),
    "corridor": Scenario(
        build_corridor_net,
        DemandSpec(corridor_rate, corridor_split, saturated=2.0),
        PROFILES,
    ),
    "city": Scenario(build_city_net, RandomDemand(CITY_PERIOD), ("constant",)),
    "metro": Scenario(
        build_metro_net,
        RandomDemand(METRO_PERIOD, end_s=METRO_END_S, fringe_factor=5.0),
        ("constant",),
        compress=True,
    ),
    "downtown": Scenario(build_downtown_net, None, PROFILES, build_demand=build_downtown_demand),
}


def write_sumocfg(name: str, folder: Path, suffix: str = ".xml", end_s: float = HOUR) -> None:
    """Write ``<name>.sumocfg`` with relative paths and a 0-``end_s`` horizon.

    ``<name>.add.xml`` (bus stops), when the build wrote one, becomes an additional file.
    """
    add = folder / f"{name}.add.xml"
    add_line = f'\n        <additional-files value="{add.name}"/>' if add.is_file() else ""
    (folder / f"{name}.sumocfg").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<configuration>
    <input>
        <net-file value="{name}.net{suffix}"/>
        <route-files value="{name}.rou{suffix}"/>{add_line}
    </input>
    <time>
        <begin value="0"/>
        <end value="{end_s:g}"/>
    </time>
</configuration>
""",
        encoding="utf-8",
    )


def build(name: str) -> dict[str, int]:
    """Build scenario ``name`` into ``networks/<name>/``; return counts."""
    scenario = SCENARIOS[name]
    folder = NETWORKS_DIR / name
    folder.mkdir(exist_ok=True)
    for pattern in (f"{name}.*.xml", f"{name}.*.xml.gz"):
        for old in folder.glob(pattern):
            old.unlink()
    suffix = scenario.suffix()
    net = folder / f"{name}.net{suffix}"
    with tempfile.TemporaryDirectory(prefix=f"lightwatch-{name}-") as tmp:
        work = Path(tmp)
        if scenario.compress:  # SUMO's tools read the plain file from the work folder
            plain = work / f"{name}.net.xml"
            scenario.build_net(plain, work)
            copy_clean(plain, net)
        else:
            plain = net
            scenario.build_net(net, work)
        if scenario.build_demand is not None:
            counts = scenario.build_demand(name, plain, work)
        elif isinstance(scenario.demand, RandomDemand):
            out = folder / f"{name}.rou{suffix}"
            counts = build_random_demand(name, plain, scenario.demand, out, work)
        else:
            counts = build_fringe_demand(name, net, scenario.demand, scenario.profiles, work)
    write_sumocfg(name, folder, suffix, scenario.end_s())
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"scenarios to build (default: all of {', '.join(SCENARIOS)})",
    )
    args = parser.parse_args(argv)
    names: list[str] = args.names or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    for name in names:
        counts = build(name)
        summary = ", ".join(f"{p}={n}" for p, n in counts.items())
        print(f"{name}: {summary} vehicles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
