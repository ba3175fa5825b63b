"""The deadlock watch (``sim/deadlock.py``) and ``--junction-blocker-s``, on a real one-signal net.

A vehicle is stopped by SUMO itself (``vehicle.setSpeed 0``) once it is inside the junction on a
left turn, and kept there: the run must report that junction, the internal lane and about when
it stopped; without it nothing is reported. With ``--junction-blocker-s`` the vehicles whose
paths it blocks pass it, so more vehicles arrive than without.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sim.deadlock import DEADLOCK_SAMPLE_S
from sim.errors import InputError
from sim.runner import RunConfig, run
from sim.scenario import check_sumo_args
from sim.sumo_home import sumo_binary

END_S = 600.0
STOP_AFTER_S = 100.0
STUCK_S = 120.0


@pytest.fixture(scope="module")
def net_and_routes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One signal ``A0`` (one lane per way, 150 m arms, no crossings) and flows on every arm."""
    folder = tmp_path_factory.mktemp("deadlock")
    net = folder / "dl.net.xml"
    subprocess.run(
        [sumo_binary("netgenerate"), "--grid", "--grid.number", "1", "--grid.length", "200",
         "--grid.attach-length", "150", "--default.lanenumber", "1", "--tls.set", "A0",
         "-o", str(net)],
        check=True, capture_output=True,
    )  # fmt: skip
    arms = ("left0", "right0", "top0", "bottom0")
    flows = "".join(
        f'  <flow id="{a}{b}" begin="0" end="{END_S:g}" period="12" from="{a}A0" to="A0{b}"/>\n'
        for a in arms
        for b in arms
        if a != b
    )
    routes = folder / "dl.rou.xml"
    routes.write_text(f"<routes>\n{flows}</routes>\n", encoding="utf-8")
    return net, routes


def _run(net: Path, routes: Path, out: Path, stop: bool, **settings: float) -> dict:
    """``count`` for 600 s; with ``stop``, the first left turner from the west found inside the
    junction after 100 s is stopped there for good. Returns the summary and when it stopped."""
    stopped: dict[str, float] = {}

    def hook(backend, timing) -> None:
        api = backend.api
        t = api.simulation.getTime()
        if not stop or t < STOP_AFTER_S:
            return
        if not stopped:
            for veh in api.vehicle.getIDList():
                if api.vehicle.getRoute(veh)[-1] == "A0top0" and api.vehicle.getLaneID(
                    veh
                ).startswith(":A0_"):
                    api.vehicle.setSpeed(veh, 0.0)  # halts within a second or two
                    # it may already stand there, at its waiting point for a gap
                    stopped.update(veh=veh, t=t, since=t - api.vehicle.getWaitingTime(veh))
                    break

    cfg = RunConfig(
        net_file=str(net),
        route_files=(str(routes),),
        controller="count",
        end_s=END_S,
        stuck_s=STUCK_S,
        out=str(out),
        **settings,
    )
    summary = run(cfg, on_step=hook).summary
    return {"summary": summary, "stopped": stopped}


def test_a_vehicle_standing_inside_the_junction_is_reported_with_its_junction_and_lane(
    net_and_routes: tuple[Path, Path], tmp_path: Path
) -> None:
    net, routes = net_and_routes
    got = _run(net, routes, tmp_path / "stuck", stop=True)
    s, stopped = got["summary"], got["stopped"]
    assert stopped, "no left turner was found inside the junction"
    assert s["blocked_junction"] == "A0"
    assert s["blocked_lane"].startswith(":A0_")
    # from when it stood still (SUMO's waiting time), however often the watch samples
    assert stopped["since"] - 1.0 <= s["blocked_at_s"] <= stopped["t"] + 5.0
    assert s["junction_stuck_longest_s"] >= END_S - stopped["t"] - DEADLOCK_SAMPLE_S - 1.0


def test_no_deadlock_is_reported_when_vehicles_only_wait_their_turn(
    net_and_routes: tuple[Path, Path], tmp_path: Path
) -> None:
    net, routes = net_and_routes
    s = _run(net, routes, tmp_path / "free", stop=False)["summary"]
    assert s["blocked_junction"] is None and s["blocked_at_s"] is None
    assert 0.0 <= s["junction_stuck_longest_s"] < STUCK_S


def test_with_junction_blocker_s_the_others_pass_a_vehicle_stuck_in_the_junction(
    net_and_routes: tuple[Path, Path], tmp_path: Path
) -> None:
    net, routes = net_and_routes
    locked = _run(net, routes, tmp_path / "locked", stop=True, junction_blocker_s=-1.0)
    locked = locked["summary"]
    passed = _run(net, routes, tmp_path / "passed", stop=True, junction_blocker_s=30.0)
    assert passed["summary"]["manifest"]["config"]["junction_blocker_s"] == 30.0
    # the crossing streams go on (the stopped vehicle's own followers stay behind it)
    assert passed["summary"]["throughput_veh_h"] > 1.1 * locked["throughput_veh_h"]
    assert passed["summary"]["delay_s"] < locked["delay_s"]


def test_the_sumo_option_itself_is_refused_in_favour_of_lightwatchs() -> None:
    with pytest.raises(InputError, match="--junction-blocker-s"):
        check_sumo_args(["--ignore-junction-blocker", "60"])
