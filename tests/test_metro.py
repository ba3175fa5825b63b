"""The bundled ``metro`` scenario (1024 signals, gzip-compressed files) and the build helpers that
make it: netgenerate's column ids past 26 and deterministic gzip output."""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import bundled_scenario, run_cli

from networks.build import METRO_SIZE, copy_clean, grid_column_id, netgenerate_grid
from sim.scenario import check_routes, resolve, scan_net


def test_grid_column_ids_follow_netgenerate(tmp_path: Path) -> None:
    """Every id the build names as a signal exists in a netgenerate grid wider than 26."""
    net = tmp_path / "wide.net.xml"
    netgenerate_grid(net, tmp_path, 28, 1, 100.0, 100.0, 50.0, lanes=1)
    ids = {el.get("id") for el in ET.parse(net).getroot().iter("tlLogic")}
    assert ids == {f"{grid_column_id(i, 28)}0" for i in range(28)}
    assert grid_column_id(27, 28) == "BB"
    assert grid_column_id(9, 10) == "J"  # up to 26 columns: one letter, as in city


def test_copy_clean_gzip_is_deterministic(tmp_path: Path) -> None:
    """A ``.gz`` target is compressed, free of SUMO's dated header and byte-identical on rebuild."""
    src = tmp_path / "a.xml"
    src.write_text("<!-- generated on 2026-01-01 by x -->\n<net/>\n", encoding="utf-8")
    copy_clean(src, tmp_path / "one.xml.gz")
    copy_clean(src, tmp_path / "two.xml.gz")
    one = (tmp_path / "one.xml.gz").read_bytes()
    assert one == (tmp_path / "two.xml.gz").read_bytes()
    assert gzip.decompress(one) == b"<net/>\n"


def test_metro_has_a_thousand_signals_and_valid_routes() -> None:
    """The pre-SUMO checks read the gzipped network and routes: 1024 signals, every route edge
    exists, and the demand fills its 900 s window."""
    sc = resolve(bundled_scenario("metro"))
    assert sc.net_file.name.endswith(".net.xml.gz")
    assert (sc.begin_s, sc.end_s) == (0.0, 900.0)
    scan = scan_net(sc.net_file)
    assert len(scan.tls_ids) == METRO_SIZE**2 >= 1000
    assert len(scan.controlled_lanes) > 10 * len(scan.tls_ids)
    n_veh = check_routes(sc)
    assert n_veh > 10_000


def test_networks_lists_metro() -> None:
    proc = run_cli("networks")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if " metro " in ln)
    assert "1024" in line and "0-900" in line


@pytest.mark.slow
def test_metro_runs_with_count(tmp_path: Path) -> None:
    """A 60 s ``count`` run on metro finishes with vehicles moving and no gridlock."""
    bundled_scenario("metro")
    out = tmp_path / "run"
    proc = run_cli(
        "run", "--scenario", "metro", "--controller", "count", "--end", "60", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["inserted"] > 500
    assert summary["gridlock"] is False
