"""Build pedestrian benchmark networks of other shapes than the bundled ``downtown`` grid.

Usage::

    python benchmarks/people/build_nets.py OUT [--seed 1] [--nets rand,spider]

Writes ``OUT/<name>/<name>.net.xml``, ``<name>.rou.xml`` (cars, pedestrians, two bus lines),
``<name>.add.xml`` (bus stops) and ``<name>.sumocfg`` (0-3600 s), ready for
``lightwatch run --scenario OUT/<name>``. The same seed rebuilds the same files (SUMO's header
comments with dates and paths are stripped). Networks:

``rand``
    ``netgenerate --rand``: an irregular street network (60 random growth steps, 100-220 m
    links, 1 lane each way); every junction with 3 or more incoming roads gets a signal.
``spider``
    ``netgenerate --spider``: 5 radial arms and 3 rings 130 m apart, 2 lanes, 150 m roads
    leaving the outer ring; the 5-arm centre and every ring junction are signals.
``grid3x3``
    the report's 3x3 grid: ``netgenerate --grid --sidewalks.guess --crossings.guess`` with a
    signal at every junction, a car every 1.5 s and a pedestrian every second.

Every network gets sidewalks and a signalised crossing on each arm of each signal
(``--sidewalks.guess --crossings.guess``), cars from ``randomTrips.py`` (routed by duarouter),
pedestrians walking between random sidewalk edges at least 250 m apart, and two bus lines (west
to east and south to north, both ways, a bus every 5 minutes, far-side stops after every
signal) - the generators of ``networks/build.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sumolib

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from networks.build import (
    COMMON_OUTPUT_OPTIONS,
    HOUR,
    PED_OPTIONS,
    SPEED,
    TLS_OPTIONS,
    TOOLS_DIR,
    BusLine,
    binary,
    bus_flows,
    bus_line,
    copy_clean,
    merge_people,
    run,
    write_bus_stops,
    write_sumocfg,
    write_walks,
)

BUS_HEADWAY_S = 300.0


@dataclass(frozen=True)
class NetSpec:
    """How to build one benchmark network and its demand."""

    netgenerate: Callable[[int], list[str]]  # seed -> netgenerate options (no output)
    car_period_s: float  # randomTrips --period
    ped_per_h: float
    fringe_factor: float


def rand_options(seed: int) -> list[str]:
    return [
        "--rand", "--rand.iterations", "60", "--rand.bidi-probability", "1",
        "--rand.min-distance", "100", "--rand.max-distance", "220", "--rand.min-angle", "60",
        "--rand.connectivity", "0.95", "--default.lanenumber", "1", "--seed", str(seed),
    ]  # fmt: skip


def spider_options(seed: int) -> list[str]:
    return [
        "--spider", "--spider.arm-number", "5", "--spider.circle-number", "3",
        "--spider.space-radius", "130", "--spider.attach-length", "150",
        "--default.lanenumber", "2", "--seed", str(seed),
    ]  # fmt: skip


def grid3x3_options(seed: int) -> list[str]:
    return [
        "--grid", "--grid.number", "3", "--grid.length", "200", "--grid.attach-length", "200",
        "--default.lanenumber", "2",
        "--seed", str(seed),
    ]  # fmt: skip


NETS: dict[str, NetSpec] = {
    "rand": NetSpec(rand_options, car_period_s=3.0, ped_per_h=1800.0, fringe_factor=5.0),
    "spider": NetSpec(spider_options, car_period_s=1.5, ped_per_h=1800.0, fringe_factor=1.0),
    "grid3x3": NetSpec(grid3x3_options, car_period_s=1.5, ped_per_h=3600.0, fringe_factor=1.0),
}


def signal_nodes(net_file: Path) -> list[str]:
    """Junctions with at least three incoming roads (these get the signals)."""
    net = sumolib.net.readNet(str(net_file))
    return sorted(n.getID() for n in net.getNodes() if len(n.getIncoming()) >= 3)


def build_net(spec: NetSpec, seed: int, out: Path, work: Path) -> None:
    """netgenerate the shape, then netconvert it with signals, sidewalks and crossings."""
    raw = work / "raw.net.xml"
    run(
        [binary("netgenerate"), *spec.netgenerate(seed), "--default.speed", str(SPEED),
         "--no-turnarounds", "true", "--output-file", raw.name, *COMMON_OUTPUT_OPTIONS],
        cwd=work,
    )  # fmt: skip
    tmp = work / "net.net.xml"
    run(
        [binary("netconvert"), "--sumo-net-file", raw.name, "--tls.set",
         ",".join(signal_nodes(raw)), *PED_OPTIONS, *TLS_OPTIONS, "--seed", str(seed),
         "--output-file", tmp.name, *COMMON_OUTPUT_OPTIONS],
        cwd=work,
    )  # fmt: skip
    copy_clean(tmp, out)


def nearest_edges(net: sumolib.net.Net, x: float, y: float, leaving: bool, k: int = 8) -> list[str]:
    """The ``k`` bus-usable edges whose start (``leaving``) or end node is nearest to ``(x, y)``,
    nearest first."""
    edges = sorted(
        (e for e in net.getEdges() if e.getFunction() == "" and e.allows("bus")),
        key=lambda e: (
            sumolib.geomhelper.distance(
                (e.getFromNode() if leaving else e.getToNode()).getCoord(), (x, y)
            ),
            e.getID(),
        ),
    )
    return [e.getID() for e in edges[:k]]


def connected_line(
    net: sumolib.net.Net, flow_id: str, line_id: str, starts: list[str], ends: list[str]
) -> BusLine:
    """The bus line between the nearest start and end edges that a bus can drive between (a
    random net may leave the nearest ones unconnected); pairs are tried by their summed rank."""
    pairs = sorted(
        ((i, j) for i in range(len(starts)) for j in range(len(ends))), key=lambda p: (sum(p), p)
    )
    for i, j in pairs:
        if starts[i] == ends[j]:
            continue
        try:
            return bus_line(net, flow_id, line_id, starts[i], ends[j])
        except RuntimeError:
            continue
    raise RuntimeError(f"bus line {line_id}: no bus route across the network ({flow_id})")


def bus_lines(net: sumolib.net.Net) -> list[BusLine]:
    """Two lines, west-east and south-north through the network, each in both directions."""
    (xmin, ymin), (xmax, ymax) = net.getBBoxXY()
    xmid, ymid = (xmin + xmax) / 2, (ymin + ymax) / 2
    ends = {"W": (xmin, ymid), "E": (xmax, ymid), "S": (xmid, ymin), "N": (xmid, ymax)}
    lines = []
    for line_id, a, b in (("L1", "W", "E"), ("L2", "S", "N")):
        for flow_id, (u, v) in ((f"{line_id}_{a}{b}", (a, b)), (f"{line_id}_{b}{a}", (b, a))):
            starts = nearest_edges(net, *ends[u], leaving=True)
            stops = nearest_edges(net, *ends[v], leaving=False)
            lines.append(connected_line(net, flow_id, line_id, starts, stops))
    return lines


def build(name: str, out_dir: Path, seed: int) -> dict[str, int]:
    """Build network ``name`` into ``out_dir/name/``; return the counts of its demand."""
    import tempfile

    spec = NETS[name]
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    net_file = folder / f"{name}.net.xml"
    with tempfile.TemporaryDirectory(prefix=f"lightwatch-{name}-") as tmp:
        work = Path(tmp)
        build_net(spec, seed, net_file, work)
        run(
            [sys.executable, str(TOOLS_DIR / "randomTrips.py"), "--net-file", str(net_file),
             "--output-trip-file", "cars.trips.xml", "--route-file", "cars.rou.xml",
             "--seed", str(seed), "--begin", "0", "--end", str(int(HOUR)),
             "--period", str(spec.car_period_s), "--fringe-factor", str(spec.fringe_factor),
             "--min-distance", "300", "--prefix", "v", "--vclass", "passenger",
             "--trip-attributes", 'departLane="best" departSpeed="max"', "--validate"],
            cwd=work,
        )  # fmt: skip
        routed = work / "cars.clean.xml"
        copy_clean(work / "cars.rou.xml", routed)
        net = sumolib.net.readNet(str(net_file), withPedestrianConnections=True)
        lines = bus_lines(net)
        write_bus_stops(net, lines, folder / f"{name}.add.xml")
        walks = write_walks(net, lambda _t: spec.ped_per_h, spec.ped_per_h, f"{name}/{seed}")
        n_cars, n_peds = merge_people(
            routed, walks, bus_flows(lines, BUS_HEADWAY_S), folder / f"{name}.rou.xml"
        )
    write_sumocfg(name, folder)
    return {
        "signals": len(signal_nodes(net_file)),
        "cars": n_cars,
        "pedestrians": n_peds,
        "bus_stops": sum(len(line.stop_edges) for line in lines),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; bad arguments exit 2 with one line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the networks into")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nets", default="rand,spider", help=f"comma-separated: {', '.join(NETS)}")
    args = parser.parse_args(argv)
    names = [n for n in args.nets.split(",") if n]
    unknown = [n for n in names if n not in NETS]
    if unknown or not names:
        print(
            f"error: unknown network(s): {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(NETS)}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        try:
            counts = build(name, args.out, args.seed)
        except RuntimeError as exc:  # a net the seed made unusable: one line, no traceback
            print(f"error: {name} (seed {args.seed}): {exc}", file=sys.stderr)
            return 1
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
