"""Scenarios from every source: bundled names and profiles, the user's own files, OpenStreetMap,
demand scaling, a subset of signals, SUMO options after ``--``, and one-line input errors.

All runs are real SUMO runs on short windows (a few hundred seconds).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import bundled_scenario, resco_dir

from sim.cli import main
from sim.runner import RunConfig, run
from sim.scenario import (
    DEMAND_SCALES,
    PROFILES,
    check_routes,
    from_files,
    merge_sumo_args,
    profiles,
    resolve,
    scan_net,
)
from sim.sumo_home import sumo_binary, sumo_home


def lw(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``lightwatch ARGS`` in this process; returns (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def tripinfo_ids(out: Path) -> list[str]:
    return sorted(el.get("id", "") for el in ET.parse(out / "tripinfo.xml").getroot())


def n_vehicles(s: dict) -> int:
    return int(s["inserted"]) + int(s["not_inserted"])


# ------------------------------------------------------------------------------------------
# The user's own files


@pytest.fixture(scope="module")
def own_files(tiny_tls_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A net and two route files of the tiny signalised grid, outside any ``.sumocfg``."""
    sc = resolve(str(tiny_tls_scenario))
    folder = tmp_path_factory.mktemp("own")
    extra = folder / "extra.rou.xml"
    extra.write_text(
        '<routes>\n  <flow id="sn" begin="0" end="200" period="15" from="A0A1" to="A1B1"/>\n'
        "</routes>\n",
        encoding="utf-8",
    )
    return {
        "cfg": tiny_tls_scenario,
        "net": sc.net_file,
        "routes": [sc.route_files[0], extra],
        "folder": folder,
    }


def test_net_and_route_files_run_and_reach_the_manifest(own_files: dict, capsys) -> None:
    out = own_files["folder"] / "run"
    routes = ",".join(str(p) for p in own_files["routes"])
    code, _, err = lw(
        capsys, "run", "--net-file", str(own_files["net"]), "--route-files", routes,
        "--end", "300", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    s = summary(out)
    assert s["manifest"]["route_files"] == [str(p.resolve()) for p in own_files["routes"]]
    assert s["manifest"]["config"]["net_file"] == str(own_files["net"])
    # the flow of the second file ran: its vehicles are in the tripinfo
    assert any(i.startswith("sn.") for i in tripinfo_ids(out))
    assert any(i.startswith("we.") for i in tripinfo_ids(out))


def test_run_config_takes_files_as_lists_or_comma_strings(own_files: dict) -> None:
    routes = [str(p) for p in own_files["routes"]]
    a = RunConfig(net_file=str(own_files["net"]), route_files=",".join(routes), signals="B1,A0")
    b = RunConfig(net_file=str(own_files["net"]), route_files=routes, signals=["B1", "A0", "B1"])
    assert a.route_files == b.route_files == tuple(routes)
    assert a.signals == b.signals == ("B1", "A0")


def test_sumo_options_after_double_dash_reach_sumo(own_files: dict, capsys) -> None:
    out = own_files["folder"] / "passthrough"
    extra_out = own_files["folder"] / "sumo-summary.xml"
    code, _, err = lw(
        capsys, "run", "--scenario", str(own_files["cfg"]),
        "--end", "200", "--out", str(out),
        "--", "--summary-output", str(extra_out), "--time-to-teleport", "300",
    )  # fmt: skip
    assert code == 0, err
    assert ET.parse(extra_out).getroot().tag == "summary"  # SUMO wrote the file we asked for
    cfg = summary(out)["manifest"]["config"]
    assert cfg["sumo_args"] == ["--summary-output", str(extra_out), "--time-to-teleport", "300"]


def test_gzipped_net_and_routes_are_read_like_plain_ones(own_files: dict, tmp_path: Path) -> None:
    plain = from_files(own_files["net"], own_files["routes"])
    zipped = []
    for src in (own_files["net"], *own_files["routes"]):
        dst = tmp_path / (src.name + ".gz")
        dst.write_bytes(gzip.compress(src.read_bytes()))
        zipped.append(dst)
    sc = from_files(zipped[0], zipped[1:])
    assert sc.name == plain.name == "tinytls"
    assert scan_net(sc.net_file).edge_ids == scan_net(plain.net_file).edge_ids
    assert check_routes(sc) == check_routes(plain)


def test_merge_sumo_args_overrides_and_joins_additional_files() -> None:
    args = merge_sumo_args(
        ["-n", "a.net.xml", "-a", "d.add.xml", "--time-to-teleport", "-1", "--no-step-log"],
        ["--additional-files=p.add.xml"],
        ["--time-to-teleport", "300", "-a", "u.add.xml"],
    )
    assert args == [
        "--net-file", "a.net.xml",
        "--additional-files", "d.add.xml,p.add.xml,u.add.xml",
        "--time-to-teleport", "300",
        "--no-step-log",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------
# OpenStreetMap → netconvert → randomTrips → run

OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="lightwatch-tests">
  <bounds minlat="47.997" minlon="10.996" maxlat="48.003" maxlon="11.004"/>
  <node id="1" lat="48.0000" lon="11.0000" version="1">
    <tag k="highway" v="traffic_signals"/>
  </node>
  <node id="2" lat="48.0000" lon="10.9960" version="1"/>
  <node id="3" lat="48.0000" lon="11.0040" version="1"/>
  <node id="4" lat="48.0030" lon="11.0000" version="1"/>
  <node id="5" lat="47.9970" lon="11.0000" version="1"/>
  <way id="10" version="1">
    <nd ref="2"/><nd ref="1"/><nd ref="3"/>
    <tag k="highway" v="primary"/><tag k="name" v="Main Street"/>
  </way>
  <way id="11" version="1">
    <nd ref="4"/><nd ref="1"/><nd ref="5"/>
    <tag k="highway" v="secondary"/><tag k="name" v="Cross Street"/>
  </way>
</osm>
"""

# the command documented in the README ("Your own networks")
NETCONVERT_OSM = [
    "--geometry.remove", "--ramps.guess", "--junctions.join",
    "--tls.guess-signals", "--tls.discard-simple", "--tls.join", "--tls.default-type", "static",
]  # fmt: skip


def test_openstreetmap_export_converted_with_netconvert_runs(tmp_path: Path, capsys) -> None:
    osm = tmp_path / "map.osm"
    osm.write_text(OSM, encoding="utf-8")
    net, rou = tmp_path / "map.net.xml", tmp_path / "map.rou.xml"
    subprocess.run(
        [sumo_binary("netconvert"), "--osm-files", str(osm), "-o", str(net), *NETCONVERT_OSM],
        check=True,
        capture_output=True,
    )
    random_trips = os.path.join(sumo_home(), "tools", "randomTrips.py")
    trips = tmp_path / "map.trips.xml"
    opts = ["-n", str(net), "-o", str(trips), "-r", str(rou), "-e", "300", "-p", "2", "--seed", "1"]
    subprocess.run(
        [sys.executable, random_trips, *opts],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    scan = scan_net(net)
    assert scan.tls_ids == ("1",)  # the OSM node tagged highway=traffic_signals
    out = tmp_path / "run"
    code, _, err = lw(
        capsys, "run", "--net-file", str(net), "--route-files", str(rou),
        "--end", "400", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    s = summary(out)
    assert s["n_signals"] == 1
    assert s["arrived"] > 50  # ~150 trips over 300 s through one signal


# ------------------------------------------------------------------------------------------
# Demand: profiles and scaling


def test_bundled_profiles_pick_their_route_file(tmp_path: Path) -> None:
    name = bundled_scenario("single")
    sc = resolve(name)
    assert profiles(sc) == PROFILES
    out = tmp_path / "peak"
    s = run(RunConfig(scenario=name, profile="peak", end_s=120, out=str(out))).summary
    assert [Path(p).name for p in s["manifest"]["route_files"]] == ["single.peak.rou.xml"]
    assert s["manifest"]["scenario"] == "single.peak"
    assert s["manifest"]["profile"] == "peak"


def test_demand_scale_multiplies_vehicles_reproducibly(tmp_path: Path) -> None:
    name = bundled_scenario("grid4x4")

    def go(tag: str, **kw: object) -> dict:
        cfg = RunConfig(scenario=name, controller="fixed", end_s=300, out=str(tmp_path / tag), **kw)
        return run(cfg).summary

    base = go("base")
    a = go("a", demand_scale=1.5)
    b = go("b", demand_scale=1.5)
    light = go("light", demand="light")
    ratio = n_vehicles(a) / n_vehicles(base)
    assert 1.35 < ratio < 1.65, (n_vehicles(base), n_vehicles(a))
    assert tripinfo_ids(tmp_path / "a") == tripinfo_ids(tmp_path / "b")  # same seed, same cars
    assert {k: a[k] for k in ("arrived", "inserted", "delay_s")} == {
        k: b[k] for k in ("arrived", "inserted", "delay_s")
    }
    assert 0.5 < n_vehicles(light) / n_vehicles(base) < 0.7
    assert a["manifest"]["demand_scale"] == 1.5
    assert light["manifest"]["demand_scale"] == DEMAND_SCALES["light"]


# ------------------------------------------------------------------------------------------
# --signals: a subset is controlled, the rest keep their own programs


def _own_programs(net_file: Path) -> dict[str, str]:
    return {
        el.get("id", ""): el.get("programID", "")
        for _, el in ET.iterparse(net_file)
        if el.tag == "tlLogic"
    }


def test_signals_subset_on_ingolstadt7(tmp_path: Path) -> None:
    folder = resco_dir("ingolstadt7")
    sc = resolve(str(folder))
    own = _own_programs(sc.net_file)
    ids = sorted(own)
    chosen, others = ids[:3], ids[3:]
    assert others, "ingolstadt7 should have more than 3 signals"
    seen: dict[str, set[str]] = {i: set() for i in ids}
    phases: dict[str, set[int]] = {i: set() for i in others}

    def on_step(backend, timing) -> None:
        for i in ids:
            seen[i].add(backend.api.trafficlight.getProgram(i))
        for i in others:
            phases[i].add(backend.api.trafficlight.getPhase(i))

    cfg = RunConfig(
        scenario=str(folder), signals=tuple(chosen), end_s=sc.begin_s + 300, out=str(tmp_path)
    )
    s = run(cfg, on_step=on_step).summary
    for i in chosen:
        assert seen[i] == {"online"}, i
    for i in others:
        assert seen[i] == {own[i]}, i
        assert len(phases[i]) > 1, f"signal {i} did not run its own program"
    assert s["n_signals"] == len(chosen)
    assert s["manifest"]["signals"] == chosen


# ------------------------------------------------------------------------------------------
# lightwatch networks


def test_networks_lists_bundled_sizes(capsys) -> None:
    from sim.scenario import bundled_scenarios

    bundled = bundled_scenarios()
    if not bundled:
        pytest.skip("no bundled networks")
    code, out, err = lw(capsys, "networks")
    assert code == 0, err
    for name in bundled:
        scan = scan_net(resolve(name).net_file)
        row = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert f" {len(scan.tls_ids)} " in row
        assert f" {len(scan.controlled_lanes)} " in row
        assert f" {check_routes(resolve(name))} " in row


# ------------------------------------------------------------------------------------------
# Validation: one line, exit 2, before SUMO starts where possible


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, tiny_tls_scenario: Path) -> dict[str, Path]:
    """Broken inputs next to a good net."""
    d = tmp_path_factory.mktemp("bad")
    net = resolve(str(tiny_tls_scenario)).net_file
    files = {
        "net": net,
        "routes": resolve(str(tiny_tls_scenario)).route_files[0],
        "bad_net": d / "broken.net.xml",
        "bad_routes": d / "broken.rou.xml",
        "bad_cfg": d / "broken.sumocfg",
        "unknown_edge": d / "unknown.rou.xml",
        "unknown_trip": d / "unknown_trip.rou.xml",
        "not_net": d / "routes_as.net.xml",
        "folder_file": d / "folder.rou.xml",
        "bad_gz": d / "unreadable.rou.xml.gz",
    }
    files["bad_net"].write_text('<net version="1.20"><edge id="a"', encoding="utf-8")
    files["bad_routes"].write_text("<routes><vehicle id='v' depart='0'></routes>", encoding="utf-8")
    files["bad_cfg"].write_text("<configuration><input><net-file value=", encoding="utf-8")
    files["unknown_edge"].write_text(
        '<routes>\n  <vehicle id="v0" depart="0">\n    <route edges="A0B0 no_such_edge"/>\n'
        "  </vehicle>\n</routes>\n",
        encoding="utf-8",
    )
    files["unknown_trip"].write_text(
        '<routes><trip id="t0" depart="0" from="A0B0" to="nowhere"/></routes>\n', encoding="utf-8"
    )
    files["not_net"].write_text("<routes/>\n", encoding="utf-8")
    files["folder_file"].mkdir()
    files["bad_gz"].write_bytes(b"\x00\x01 not gzip")
    return files


def _files(net: Path, *routes: Path) -> list[str]:
    return ["--net-file", str(net), "--route-files", ",".join(map(str, routes))]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad_net", "error: network file is not valid XML: {bad_net}"),
        ("bad_routes", "error: route file is not valid XML: {bad_routes}"),
        ("bad_cfg", "error: SUMO configuration is not valid XML: {bad_cfg}"),
        ("missing_net", "error: network file not found: {missing}"),
        ("missing_routes", "error: input file not found: {missing}"),
        ("folder_routes", "error: input file not found: {folder_file}"),
        ("unreadable_routes", "error: cannot read the route file: {bad_gz} (Not a gzipped file"),
        ("not_net", "error: not a SUMO network (no <net> root): {not_net}"),
        ("unknown_edge", "error: routes use edge(s) not in the network tinytls.net.xml: "
         "'no_such_edge' (first in unknown.rou.xml, <vehicle id=\"v0\">)"),
        ("unknown_trip", "error: routes use edge(s) not in the network tinytls.net.xml: "
         "'nowhere' (first in unknown_trip.rou.xml, <trip id=\"t0\">)"),
        ("no_tls", "error: the network has no traffic lights to control: {no_tls_net}"),
        ("unknown_signal", "error: --signals names unknown signal(s) Z9; the network has "),
        ("empty_window", "error: the time window is empty: begin 300 s must be before end 300 s"),
        ("scale_zero", "error: --demand-scale must be positive, got 0"),
        ("scale_negative", "error: --demand-scale must be positive, got -0.5"),
        ("demand_and_scale", "error: give --demand or --demand-scale, not both"),
        ("both_sources", "error: give either --scenario or --net-file with --route-files"),
        ("no_source", "error: no scenario: give --scenario NAME|FILE.sumocfg or --net-file"),
        ("routes_without_net", "error: --route-files needs --net-file (or use --scenario)"),
        ("net_without_routes", "error: --net-file needs --route-files"),
        ("missing_profile", "error: scenario '{cfg_name}' has no 'peak' demand profile "
         "(available: constant)"),
        ("own_option", "error: SUMO option --seed is set by lightwatch and cannot be passed; "
         "use --seed instead"),
        ("sumo_refuses", "error: SUMO could not load the scenario: "),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    case: str,
    message: str,
    bad: dict[str, Path],
    no_tls_scenario: Path,
    tiny_tls_scenario: Path,
    tmp_path: Path,
    capsys,
) -> None:
    cfg = str(tiny_tls_scenario)
    missing = tmp_path / "missing.xml"
    args = {
        "bad_net": _files(bad["bad_net"], bad["routes"]),
        "bad_routes": _files(bad["net"], bad["bad_routes"]),
        "bad_cfg": ["--scenario", str(bad["bad_cfg"])],
        "missing_net": _files(missing, bad["routes"]),
        "missing_routes": _files(bad["net"], missing),
        "folder_routes": _files(bad["net"], bad["folder_file"]),
        "unreadable_routes": _files(bad["net"], bad["bad_gz"]),
        "not_net": _files(bad["not_net"], bad["routes"]),
        "unknown_edge": _files(bad["net"], bad["unknown_edge"]),
        "unknown_trip": _files(bad["net"], bad["unknown_trip"]),
        "no_tls": ["--scenario", str(no_tls_scenario)],
        "unknown_signal": ["--scenario", cfg, "--signals", "A0,Z9"],
        "empty_window": ["--scenario", cfg, "--begin", "300"],  # --end 300 added below
        "scale_zero": ["--scenario", cfg, "--demand-scale", "0"],
        "scale_negative": ["--scenario", cfg, "--demand-scale", "-0.5"],
        "demand_and_scale": ["--scenario", cfg, "--demand", "heavy", "--demand-scale", "2"],
        "both_sources": ["--scenario", cfg, *_files(bad["net"], bad["routes"])],
        "no_source": [],
        "routes_without_net": ["--route-files", str(bad["routes"])],
        "net_without_routes": ["--net-file", str(bad["net"])],
        "missing_profile": ["--scenario", cfg, "--profile", "peak"],
        "own_option": ["--scenario", cfg, "--", "--seed", "7"],
        "sumo_refuses": ["--scenario", cfg, "--", "--no-such-sumo-option", "1"],
    }[case]
    no_tls_net = no_tls_scenario.parent / "notls.net.xml"
    cfg_name = tiny_tls_scenario.name.removesuffix(".sumocfg")
    expected = message.format(**bad, missing=missing, no_tls_net=no_tls_net, cfg_name=cfg_name)
    # compare checks its input before starting worker processes; SUMO's own refusal is left to
    # `run` (compare would start a pool for it)
    for command in ("run",) if case == "sumo_refuses" else ("run", "compare"):
        out = tmp_path / command
        opts, sumo = (
            (args[: args.index("--")], args[args.index("--") :]) if "--" in args else (args, [])
        )
        code, _, err = lw(capsys, command, *opts, "--out", str(out), "--end", "300", *sumo)
        assert code == 2, (command, err)
        assert err.startswith(expected), (command, err)
        assert err.count("\n") == 1, err  # one line
        assert "Traceback" not in err
        assert not out.exists()
