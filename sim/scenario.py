"""Scenarios: a SUMO network, its demand and a time window, from a bundled name or the user's files.

A scenario is resolved from one of
    * a bundled name (``lightwatch networks`` lists them),
    * a ``.sumocfg`` file, or a folder holding exactly one,
    * a ``.net.xml`` plus route files.
Configuration files are parsed as data (XML), never executed. Relative paths in a ``.sumocfg``
are resolved against its folder, as SUMO does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

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


def _parse_xml(path: Path, what: str) -> ET.Element:
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{what} is not valid XML: {path} ({exc})") from None


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
        name=name or net_file.name.removesuffix(".net.xml"),
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
            raise InputError(f"{spec!r} is not a .sumocfg file")
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
    controlled_lanes: dict[str, float]  # incoming lane id -> length [m], of signal-controlled links
    net_file: Path | None = None  # the scanned network file


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
    root_tag = None
    try:
        for _, el in ET.iterparse(net_file, events=("end",)):
            tag = el.tag
            if tag == "lane":
                lengths[el.get("id", "")] = float(el.get("length", "0"))
            elif tag == "tlLogic":
                tls.setdefault(el.get("id", ""), None)
            elif tag == "connection" and el.get("tl"):
                controlled.setdefault(f"{el.get('from')}_{el.get('fromLane')}", None)
            if tag not in ("phase", "param"):
                el.clear()
            root_tag = tag
    except ET.ParseError as exc:
        raise InputError(f"network file is not valid XML: {net_file} ({exc})") from None
    except ValueError:
        raise InputError(f"network file has a malformed lane length: {net_file}") from None
    if root_tag != "net":
        raise InputError(f"not a SUMO network (no <net> root): {net_file}")
    if not tls:
        raise InputError(f"the network has no traffic lights to control: {net_file}")
    scan = NetScan(
        tls_ids=tuple(tls),
        controlled_lanes={lane: lengths.get(lane, 0.0) for lane in controlled},
        net_file=net_file,
    )
    _SCAN_CACHE[key] = scan
    return scan
