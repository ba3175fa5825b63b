"""Scenarios: a SUMO network, its demand and a time window, from a bundled name or the user's files.

Size: over 500 lines because resolving, validating (net, routes, SUMO options) and the
streaming scans that validation needs belong to one input boundary.

A scenario is resolved from one of
    * a bundled name (``lightwatch networks`` lists them),
    * a ``.sumocfg`` file, or a folder holding exactly one,
    * a ``.net.xml`` plus route files.
Configuration files are parsed as data (XML), never executed. Relative paths in a ``.sumocfg``
are resolved against its folder, as SUMO does.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import InputError

DEFAULT_BEGIN_S = 0.0
DEFAULT_END_S = 3600.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything SUMO needs to load a scenario; paths are absolute."""

    name: str
    net_file: Path
    route_files: tuple[Path, ...]
    additional_files: tuple[Path, ...] = ()
    begin_s: float = DEFAULT_BEGIN_S
    end_s: float = DEFAULT_END_S
    config_file: Path | None = None
    extra_args: tuple[str, ...] = field(default=())

    def with_window(self, begin_s: float | None, end_s: float | None) -> Scenario:
        """A copy with the time window overridden where given (validated)."""
        b = self.begin_s if begin_s is None else float(begin_s)
        e = self.end_s if end_s is None else float(end_s)
        if not b < e:
            raise InputError(f"the time window is empty: begin {b:g} s must be before end {e:g} s")
        return Scenario(
            self.name,
            self.net_file,
            self.route_files,
            self.additional_files,
            b,
            e,
            self.config_file,
            self.extra_args,
        )

    def sumo_args(self) -> list[str]:
        """SUMO options that load this scenario (without the binary and run options)."""
        args = ["-n", str(self.net_file)]
        if self.route_files:
            args += ["-r", ",".join(str(p) for p in self.route_files)]
        args += ["-b", f"{self.begin_s:g}", "-e", f"{self.end_s:g}"]
        args += list(self.extra_args)
        return args


def xml_source(path: Path) -> Any:
    """``path`` for ``ET.iterparse``, decompressed on the fly when it ends in ``.gz`` (SUMO reads
    gzipped inputs too); the caller closes what is not ``path`` itself."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path


def _parse_xml(path: Path, what: str) -> ET.Element:
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{what} is not valid XML: {path} ({exc})") from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {path} ({exc.strerror})") from None


def _cfg_value(root: ET.Element, key: str) -> str | None:
    for el in root.iter(key):
        val = el.get("value")
        if val is not None:
            return val
    return None


def _split_files(value: str | None, base: Path) -> tuple[Path, ...]:
    if not value:
        return ()
    parts = [v for v in value.replace(",", " ").split() if v]
    return tuple((base / v).resolve() for v in parts)


def from_sumocfg(cfg: Path, name: str | None = None) -> Scenario:
    """Scenario from a ``.sumocfg`` file (net, routes, additionals, begin and end are read)."""
    cfg = cfg.resolve()
    root = _parse_xml(cfg, "SUMO configuration")
    base = cfg.parent
    nets = _split_files(_cfg_value(root, "net-file"), base)
    if len(nets) != 1:
        raise InputError(f"SUMO configuration names no net-file: {cfg}")
    routes = _split_files(_cfg_value(root, "route-files"), base)
    adds = _split_files(_cfg_value(root, "additional-files"), base)
    try:
        begin = float(_cfg_value(root, "begin") or DEFAULT_BEGIN_S)
        end = float(_cfg_value(root, "end") or DEFAULT_END_S)
    except ValueError:
        raise InputError(f"SUMO configuration has a non-numeric begin or end: {cfg}") from None
    scenario = Scenario(
        name=name or cfg.name.removesuffix(".sumocfg"),
        net_file=nets[0],
        route_files=routes,
        additional_files=adds,
        begin_s=begin,
        end_s=end,
        config_file=cfg,
    )
    check_files(scenario)
    return scenario


def from_files(net_file: Path, route_files: list[Path], name: str | None = None) -> Scenario:
    """Scenario from a network file and route files (window 0–3600 s unless overridden)."""
    scenario = Scenario(
        name=name or net_file.name.removesuffix(".gz").removesuffix(".net.xml"),
        net_file=net_file.resolve(),
        route_files=tuple(p.resolve() for p in route_files),
    )
    check_files(scenario)
    return scenario


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario names and their ``.sumocfg``."""
    import networks

    return networks.bundled()


def resolve(spec: str) -> Scenario:
    """Scenario from a bundled name, a ``.sumocfg`` path, or a folder holding one ``.sumocfg``."""
    bundled = bundled_scenarios()
    if spec in bundled:
        return from_sumocfg(bundled[spec], name=spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        cfgs = sorted(path.glob("*.sumocfg"))
        if len(cfgs) != 1:
            found = "no" if not cfgs else f"{len(cfgs)}"
            raise InputError(f"folder {spec!r} holds {found} .sumocfg files; name one of them")
        return from_sumocfg(cfgs[0], name=path.resolve().name)
    if path.suffix == ".sumocfg" or path.is_file():
        if path.is_file() and path.suffix != ".sumocfg":
            hint = "; give a network with --net-file X.net.xml --route-files A.rou.xml"
            raise InputError(
                f"{spec!r} is not a .sumocfg file"
                + (hint if path.name.endswith((".net.xml", ".net.xml.gz")) else "")
            )
        return from_sumocfg(path)
    names = ", ".join(bundled) or "none"
    raise InputError(f"no scenario {spec!r}: not a bundled name ({names}) nor an existing path")


def check_files(scenario: Scenario) -> None:
    """Check that every input file exists and the network is XML with traffic lights."""
    if not scenario.net_file.is_file():
        raise InputError(f"network file not found: {scenario.net_file}")
    for p in scenario.route_files + scenario.additional_files:
        if not p.is_file():
            raise InputError(f"input file not found: {p}")
    scan_net(scenario.net_file)


@dataclass(frozen=True, slots=True)
class NetScan:
    """What a quick pass over a ``.net.xml`` tells before SUMO starts."""

    tls_ids: tuple[str, ...]
    # incoming lane id -> length [m], of signal-controlled vehicle links (the pedestrian links
    # from walking areas into crossings, internal lanes starting with ':', are left out)
    controlled_lanes: dict[str, float]
    net_file: Path | None = None  # the scanned network file
    edge_ids: frozenset[str] = frozenset()  # ids of the network's (non-internal) edges
    lane_length_m: dict[str, float] = field(default_factory=dict)  # every lane id -> length [m]
    feeders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """lane id -> lanes that feed it through an unsignalised connection (for upstream sensing)"""
    crossing_tls: frozenset[str] = frozenset()
    """ids of the traffic lights that control a pedestrian crossing (a link from a walking area)"""


_SCAN_CACHE: dict[tuple[str, float], NetScan] = {}


def scan_net(net_file: Path) -> NetScan:
    """Traffic-light ids and the incoming lanes they control, read with a streaming XML parser."""
    key = (str(net_file), net_file.stat().st_mtime if net_file.exists() else 0.0)
    if key in _SCAN_CACHE:
        return _SCAN_CACHE[key]
    if not net_file.is_file():
        raise InputError(f"network file not found: {net_file}")
    lengths: dict[str, float] = {}
    tls: dict[str, None] = {}
    controlled: dict[str, None] = {}
    edges: set[str] = set()
    feeders: dict[str, list[str]] = {}
    crossing_tls: set[str] = set()
    root_tag = None
    source = xml_source(net_file)
    try:
        for _, el in ET.iterparse(source, events=("end",)):
            tag = el.tag
            if tag == "lane":
                lengths[el.get("id", "")] = float(el.get("length", "0"))
            elif tag == "edge" and el.get("function") != "internal":
                edges.add(el.get("id", ""))
            elif tag == "tlLogic":
                tls.setdefault(el.get("id", ""), None)
            elif tag == "connection" and el.get("tl"):
                # a link from a walking area into a crossing (':J_w0') is for pedestrians
                if el.get("from", ":").startswith(":"):
                    crossing_tls.add(el.get("tl", ""))
                else:
                    controlled.setdefault(f"{el.get('from')}_{el.get('fromLane')}", None)
            elif tag == "connection" and not el.get("from", ":").startswith(":"):
                to_lane = f"{el.get('to')}_{el.get('toLane')}"
                feeders.setdefault(to_lane, []).append(f"{el.get('from')}_{el.get('fromLane')}")
            if tag not in ("phase", "param"):
                el.clear()
            root_tag = tag
    except ET.ParseError as exc:
        raise InputError(f"network file is not valid XML: {net_file} ({exc})") from None
    except ValueError:
        raise InputError(f"network file has a malformed lane length: {net_file}") from None
    except OSError as exc:
        raise InputError(
            f"cannot read the network file: {net_file} ({exc.strerror or exc})"
        ) from None
    finally:
        if source is not net_file:
            source.close()
    if root_tag != "net":
        raise InputError(f"not a SUMO network (no <net> root): {net_file}")
    if not tls:
        raise InputError(f"the network has no traffic lights to control: {net_file}")
    scan = NetScan(
        tls_ids=tuple(tls),
        controlled_lanes={lane: lengths.get(lane, 0.0) for lane in controlled},
        net_file=net_file,
        edge_ids=frozenset(edges),
        lane_length_m=lengths,
        feeders={lane: tuple(f) for lane, f in feeders.items()},
        crossing_tls=frozenset(crossing_tls),
    )
    _SCAN_CACHE[key] = scan
    return scan


# ---------------------------------------------------------------------------------------------
# Building a scenario from run options: bundled name or the user's files, demand profile, scale

PROFILES = ("constant", "peak", "asymmetric", "saturated")
"""Demand profiles. ``constant`` is the scenario's default route files; the others are the
variants ``<stem>.<profile>.rou.xml`` beside them (the bundled networks ship all four)."""

DEMAND_SCALES = {"light": 0.6, "medium": 1.0, "heavy": 1.4}
"""``--demand`` levels as factors on the number of vehicles (SUMO's ``--scale``)."""


def _variant(route_file: Path, profile: str) -> Path:
    """``X.rou.xml`` → ``X.<profile>.rou.xml`` (``X.xml`` → ``X.<profile>.xml``)."""
    name = route_file.name
    for ext in (".rou.xml", ".xml"):
        if name.endswith(ext):
            return route_file.with_name(f"{name.removesuffix(ext)}.{profile}{ext}")
    return route_file.with_name(f"{name}.{profile}")


def profiles(scenario: Scenario) -> tuple[str, ...]:
    """Demand profiles available for ``scenario`` (``constant`` always; others if all route files
    have their variant)."""
    if not scenario.route_files:
        return ("constant",)
    out = ["constant"]
    for profile in PROFILES[1:]:
        if all(_variant(p, profile).is_file() for p in scenario.route_files):
            out.append(profile)
    return tuple(out)


def with_profile(scenario: Scenario, profile: str) -> Scenario:
    """A copy of ``scenario`` whose route files are those of demand ``profile``."""
    if profile == "constant":
        return scenario
    if profile not in PROFILES:
        raise InputError(f"unknown demand profile {profile!r}; choose one of {', '.join(PROFILES)}")
    have = profiles(scenario)
    if profile not in have:
        raise InputError(
            f"scenario {scenario.name!r} has no {profile!r} demand profile "
            f"(available: {', '.join(have)})"
        )
    return dataclasses.replace(
        scenario,
        name=f"{scenario.name}.{profile}",
        route_files=tuple(_variant(p, profile) for p in scenario.route_files),
    )


def demand_scale(demand: str | None, scale: float | None) -> float:
    """The factor on the number of vehicles from ``--demand`` or ``--demand-scale`` (1 if none)."""
    if demand is not None and scale is not None:
        raise InputError("give --demand or --demand-scale, not both")
    if demand is not None:
        if demand not in DEMAND_SCALES:
            levels = ", ".join(DEMAND_SCALES)
            raise InputError(f"unknown demand level {demand!r}; choose one of {levels}")
        return DEMAND_SCALES[demand]
    if scale is None:
        return 1.0
    if not math.isfinite(scale):
        raise InputError(f"--demand-scale must be a finite number, got {scale:g}")
    if scale <= 0:
        raise InputError(f"--demand-scale must be positive, got {scale:g}")
    return float(scale)


def load(
    scenario: str | None = None,
    net_file: str | Path | None = None,
    route_files: Sequence[str | Path] = (),
    profile: str = "constant",
) -> Scenario:
    """Scenario from ``--scenario`` or from ``--net-file`` with ``--route-files`` (exactly one),
    with the route files of demand ``profile``; files are checked, routes are not (see
    :func:`check_routes`)."""
    if scenario and net_file:
        raise InputError("give either --scenario or --net-file with --route-files, not both")
    if route_files and not net_file:
        raise InputError("--route-files needs --net-file (or use --scenario)")
    if net_file:
        if not route_files:
            raise InputError("--net-file needs --route-files (comma-separated route files)")
        sc = from_files(Path(net_file).expanduser(), [Path(p).expanduser() for p in route_files])
    elif scenario:
        sc = resolve(scenario)
    else:
        raise InputError(
            "no scenario: give --scenario NAME|FILE.sumocfg or --net-file X.net.xml "
            "--route-files A.rou.xml"
        )
    return with_profile(sc, profile)


# ---------------------------------------------------------------------------------------------
# Route files checked against the network before SUMO starts

_EDGE_LIST_ATTRS = ("edges",)
_EDGE_ATTRS = ("from", "to")
_ROUTE_TAGS = frozenset(
    ("route", "trip", "flow", "vehicle", "personTrip", "ride", "walk", "transport", "tranship")
)
_VEHICLE_TAGS = frozenset(("vehicle", "trip"))


@dataclass(frozen=True, slots=True)
class RouteScan:
    """What a streaming pass over route files tells: vehicles defined and unknown edges."""

    n_vehicles: int  # <vehicle> and <trip> elements plus flows with a ``number``
    n_flows_unbounded: int  # flows defined by rate or probability (not counted above)
    unknown_edges: tuple[str, ...]  # edge ids the routes use that the network lacks (sorted)
    first_unknown_at: str  # 'file, <vehicle id="v0">' of the first unknown edge, or ""


_ROUTE_CACHE: dict[tuple[str, float, str, float], RouteScan] = {}


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def scan_routes(route_file: Path, edge_ids: frozenset[str] | None = None) -> RouteScan:
    """Count vehicles in ``route_file`` and find edges not in ``edge_ids`` (streaming parse).

    Looks at ``edges`` of routes and walks and ``from``/``to``/``via`` of trips, flows and person
    plans; TAZ and junction-based trips are not checked (SUMO reports those itself). Memory stays
    flat: each top-level element is dropped once read.
    """
    if not route_file.is_file():
        raise InputError(f"route file not found: {route_file}")
    n_veh = n_unbounded = 0
    unknown: set[str] = set()
    first = top = ""
    depth = 0
    root: ET.Element | None = None
    source = xml_source(route_file)
    try:
        for event, el in ET.iterparse(source, events=("start", "end")):
            if event == "start":
                if root is None:
                    root = el
                depth += 1
                if depth == 2:  # a top-level element: name it in messages
                    el_id = el.get("id")
                    top = f'<{el.tag} id="{el_id}">' if el_id else f"<{el.tag}>"
                continue
            depth -= 1
            tag = el.tag
            if tag in _VEHICLE_TAGS:
                n_veh += 1
            elif tag == "flow":
                if el.get("number") is not None:
                    n_veh += int(float(el.get("number", "0")))
                else:
                    n_unbounded += 1
            if edge_ids is not None and tag in _ROUTE_TAGS:
                used: list[str] = []
                for attr in _EDGE_LIST_ATTRS:
                    used += el.get(attr, "").split()
                for attr in _EDGE_ATTRS:
                    v = el.get(attr)
                    if v:
                        used.append(v)
                used += el.get("via", "").split()
                bad = [e for e in used if e not in edge_ids]
                if bad:
                    if not first:
                        first = f"{route_file.name}, {top}"
                    unknown.update(bad)
            if depth == 1 and root is not None:  # a top-level element is done: drop it
                root.clear()
    except ET.ParseError as exc:
        raise InputError(f"route file is not valid XML: {route_file} ({exc})") from None
    except ValueError:
        raise InputError(f"route file has a malformed flow number: {route_file}") from None
    except OSError as exc:
        raise InputError(
            f"cannot read the route file: {route_file} ({exc.strerror or exc})"
        ) from None
    finally:
        if source is not route_file:
            source.close()
    return RouteScan(n_veh, n_unbounded, tuple(sorted(unknown)), first)


def check_routes(scenario: Scenario) -> int:
    """Raise ``InputError`` when a route file uses an edge the network lacks; returns the number
    of vehicles the route files define (flows by rate not counted)."""
    net = scenario.net_file
    edges = scan_net(net).edge_ids
    n = 0
    for p in scenario.route_files:
        key = (str(net), _mtime(net), str(p), _mtime(p))
        rs = _ROUTE_CACHE.get(key)
        if rs is None:
            rs = _ROUTE_CACHE[key] = scan_routes(p, edges)
        if rs.unknown_edges:
            shown = ", ".join(repr(e) for e in rs.unknown_edges[:3])
            more = f" and {len(rs.unknown_edges) - 3} more" if len(rs.unknown_edges) > 3 else ""
            raise InputError(
                f"routes use edge(s) not in the network {scenario.net_file.name}: {shown}{more} "
                f"(first in {rs.first_unknown_at})"
            )
        n += rs.n_vehicles
    return n


# ---------------------------------------------------------------------------------------------
# Extra SUMO options passed through after ``--``

_SHORT = {
    "n": "net-file",
    "r": "route-files",
    "a": "additional-files",
    "b": "begin",
    "e": "end",
    "c": "configuration-file",
    "W": "no-warnings",
    "v": "verbose",
    "l": "log",
}
_LIST_OPTIONS = frozenset(("additional-files",))
_OWN_OPTIONS = {
    "net-file": "--net-file or --scenario",
    "route-files": "--route-files or --profile",
    "begin": "--begin",
    "end": "--end",
    "configuration-file": "--scenario",
    "scale": "--demand-scale",
    "seed": "--seed",
    "ignore-junction-blocker": "--junction-blocker-s",
    "tripinfo-output": None,
    "statistic-output": None,
    "remote-port": None,
}


def _is_option(token: str) -> bool:
    if not token.startswith("-") or token in ("-", "--"):
        return False
    try:
        float(token)
        return False  # a negative number is a value
    except ValueError:
        return True


def parse_sumo_args(args: Sequence[str]) -> list[tuple[str, list[str]]]:
    """SUMO command-line options as ``(long name, values)`` in order (``-a x`` → additional-files).

    A value is every token up to the next option; ``--opt=value`` is split.
    """
    out: list[tuple[str, list[str]]] = []
    for token in args:
        if _is_option(token):
            name = token.lstrip("-")
            value = None
            if "=" in name:
                name, value = name.split("=", 1)
            if token.startswith("-") and not token.startswith("--"):
                name = _SHORT.get(name, name)
            out.append((name, [] if value is None else [value]))
        elif out:
            out[-1][1].append(token)
        else:
            raise InputError(f"extra SUMO arguments must start with an option, got {token!r}")
    return out


def check_sumo_args(args: Sequence[str]) -> None:
    """Refuse pass-through options that lightwatch sets itself (one line naming the flag)."""
    for name, _ in parse_sumo_args(args):
        if name in _OWN_OPTIONS:
            instead = _OWN_OPTIONS[name]
            hint = f"; use {instead} instead" if instead else ""
            raise InputError(
                f"SUMO option --{name} is set by lightwatch and cannot be passed{hint}"
            )


def merge_sumo_args(*groups: Sequence[str]) -> list[str]:
    """Join SUMO option lists; a later group overrides an option of an earlier one, except
    ``--additional-files``, whose files are joined (SUMO refuses an option given twice)."""
    merged: dict[str, list[str]] = {}
    for group in groups:
        for name, values in parse_sumo_args(group):
            if name in _LIST_OPTIONS and name in merged:
                files = ",".join([*merged[name], *values])
                merged[name] = [",".join(f for f in files.split(",") if f)]
            else:
                merged[name] = values
    out: list[str] = []
    for name, values in merged.items():
        out += [f"--{name}", *values]
    return out
