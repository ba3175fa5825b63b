"""The junction box (``sim/junction_box.py``) and the all-red it holds (``sim/timing.py`` rule 2),
on a real one-signal net with crossings: which internal lanes belong to which link, and, from the
outside (SUMO's own vehicle positions and displayed states), that no crossing stream starts while
a vehicle is still inside the junction on a link whose green ended, unless the cap ran out."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import one_signal_ped_net, sumo_running

from sim.conflicts import read_signals
from sim.junction_box import JunctionBox
from sim.layout import GREEN_CHARS, build_layout, is_internal
from sim.people.kernels import DEFAULT_PED_SPEED_MPS
from sim.runner import RunConfig, run

ARMS = ("left0", "right0", "top0", "bottom0")


@pytest.fixture(scope="module")
def ped_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_signal_ped_net(tmp_path_factory.mktemp("box") / "box.net.xml")


def _run_count(net_file: Path, routes: Path, out: Path, hook: Callable[..., None]) -> None:
    """600 s of ``count`` on ``net_file`` with ``routes``, ``hook(backend, timing)`` each step."""
    cfg = RunConfig(
        net_file=str(net_file),
        route_files=(str(routes),),
        controller="count",
        end_s=600.0,
        out=str(out),
    )
    run(cfg, on_step=hook)


def _traffic_and_people(
    path: Path, origins: tuple[str, ...], veh_period_s: float, ped_period_s: float
) -> Path:
    """Routes for 600 s: a vehicle flow from each arm in ``origins`` to every other arm, and a
    pedestrian flow between every pair of arms; written to ``path``."""
    flows = "".join(
        f'  <flow id="{a}{b}" begin="0" end="600" period="{veh_period_s:g}" from="{a}A0" '
        f'to="A0{b}" departLane="best"/>\n'
        for a in origins
        for b in ARMS
        if a != b
    )
    peds = "".join(
        f'  <personFlow id="p{a}{b}" begin="0" end="600" period="{ped_period_s:g}">'
        f'<walk from="{a}A0" to="A0{b}"/></personFlow>\n'
        for a in ARMS
        for b in ARMS
        if a != b
    )
    path.write_text(f"<routes>\n{flows}{peds}</routes>\n", encoding="utf-8")
    return path


def _states_under_count(net_file: Path, routes: Path, out: Path) -> list[str]:
    """The state SUMO showed at ``A0`` each step of 600 s of ``count``."""
    states: list[str] = []

    def hook(backend, timing) -> None:
        states.append(backend.api.trafficlight.getRedYellowGreenState("A0"))

    _run_count(net_file, routes, out, hook)
    return states


def test_each_vehicle_link_maps_to_the_internal_lanes_of_its_path(ped_net: Path) -> None:
    with sumo_running(ped_net) as api:
        lay = build_layout(api)
        box = JunctionBox(api, lay)
        links = api.trafficlight.getControlledLinks("A0")
        vias = {k: conns[0][2] for k, conns in enumerate(links) if conns}
    lanes = box.lanes[0]
    assert len(lanes) == len(links)
    two = 0
    for k, path in enumerate(lanes):
        a, b, via = links[k][0]
        if is_internal(a, b):  # a pedestrian link: not a vehicle path
            assert path == []
            continue
        assert path[0] == via == vias[k] and all(is_internal(x) for x in path)
        two += len(path) == 2
    assert two > 0  # turns that wait inside the junction (for a foe or a crossing): 2 lanes


def test_no_green_starts_over_a_vehicle_left_inside_the_junction(
    ped_net: Path, tmp_path: Path
) -> None:
    """Heavy turning traffic and pedestrians under ``count``: record, each step, the vehicles on
    internal lanes and the state SUMO shows. Whenever a new green starts, the links whose green
    ended and that conflict with a crossing it opens (the net's own foes, ``sim.conflicts``)
    must have no vehicle inside the junction when it is set, and those that conflict with a
    vehicle link it opens no standing vehicle, unless the all-red had already been held for
    ``--box-clear-max-s``; and the box did hold some all-reds."""
    flows = "".join(
        f'  <flow id="{a}{b}" begin="0" end="600" period="{4 if b == ARMS[i ^ 1] else 9}" '
        f'from="{a}A0" to="A0{b}" departLane="best"/>\n'
        for i, a in enumerate(ARMS)
        for b in ARMS
        if a != b
    )
    peds = "".join(
        f'  <personFlow id="p{a}" begin="0" end="600" period="15">'
        f'<walk from="{a}A0" to="A0{ARMS[i ^ 1]}"/></personFlow>\n'
        for i, a in enumerate(ARMS)
    )
    routes = tmp_path / "box.rou.xml"
    routes.write_text(f"<routes>\n{flows}{peds}</routes>\n", encoding="utf-8")
    rows: list[tuple[float, str, dict[str, bool]]] = []

    def hook(backend, timing) -> None:
        api = backend.api
        inside: dict[str, bool] = {}  # internal lane -> a vehicle stands there (< 0.1 m/s)
        for v in api.vehicle.getIDList():
            lane = api.vehicle.getLaneID(v)
            if lane.startswith(":A0_"):
                inside[lane] = inside.get(lane, False) or api.vehicle.getSpeed(v) < 0.1
        rows.append((api.simulation.getTime(), api.trafficlight.getRedYellowGreenState("A0"),
                     inside))  # fmt: skip

    _run_count(ped_net, routes, tmp_path / "run", hook)
    with sumo_running(ped_net) as api:
        lay = build_layout(api)
        box = JunctionBox(api, lay)
    paths = box.lanes[0]
    net = read_signals(ped_net)["A0"]
    foe, crossing = net.foe, net.crossing
    held = 0
    checked = 0
    last_green = rows[0][1]
    red_since = None
    for i in range(1, len(rows)):
        t, state, inside = rows[i]  # inside: read before the step that set state
        prev_state = rows[i - 1][1]
        if (
            any(c in GREEN_CHARS for c in state)
            and not any(c in "yY" for c in state)
            and state != prev_state
            and prev_state != last_green
        ):
            # a new green after a clearance: the links green before it and red now
            opened = [
                j
                for j, (a, b) in enumerate(zip(last_green, state, strict=True))
                if b in GREEN_CHARS and a not in GREEN_CHARS
            ]
            ended = [
                k
                for k, (a, b) in enumerate(zip(last_green, state, strict=True))
                if a in GREEN_CHARS and b not in GREEN_CHARS
            ]
            busy = any(
                lane in inside and (inside[lane] or crossing[j])
                for k in ended
                for j in opened
                if foe[k, j]
                for lane in paths[k]
            )
            all_red_s = 0.0 if red_since is None else t - red_since
            checked += 1
            assert not busy or all_red_s >= 5.0 - 1e-6, (t, ended, inside)
            held += all_red_s > 0
        if not any(c in GREEN_CHARS or c in "yY" for c in state):
            red_since = t if red_since is None else red_since
        else:
            red_since = None
        if any(c in GREEN_CHARS for c in state) and not any(c in "yY" for c in state):
            last_green = state
    assert checked >= 5
    assert held > 0  # the program has no all-red: each one seen was held for the box


def _scramble_net(ped_net: Path, out: Path) -> Path:
    """``ped_net`` with a two-green program: north-south vehicles with the crossings of the
    east and west arms (links 17, 19), then a pedestrian scramble (every crossing). The east and
    west crossings stay green from one green to the next; the north-south turns cross them."""
    text = ped_net.read_text(encoding="utf-8")
    start = text.index('<tlLogic id="A0"')
    end = text.index("</tlLogic>", start) + len("</tlLogic>")
    program = (
        '<tlLogic id="A0" type="static" programID="0" offset="0">\n'
        '        <phase duration="30" state="gGggrrrrgGggrrrrrGrG"/>\n'
        '        <phase duration="3"  state="yyyyrrrryyyyrrrrrGrG"/>\n'
        '        <phase duration="15" state="rrrrrrrrrrrrrrrrGGGG"/>\n'
        '        <phase duration="3"  state="rrrrrrrrrrrrrrrrrGrG"/>\n'
        "    </tlLogic>"
    )
    out.write_text(text[:start] + program + text[end:], encoding="utf-8")
    return out


def test_a_crossing_crossed_by_an_ending_stream_shows_red_through_the_switch(
    ped_net: Path, tmp_path: Path
) -> None:
    """A crossing green before and after a switch stays green only if no vehicle stream whose
    green ends crosses it: a turning vehicle still inside, yielding to people on it, must be
    able to leave before the next green (a scramble) starts. Checked from the outside: the
    states SUMO showed, against the net's own conflicts (``sim.conflicts``), under ``count``
    with turning traffic and people on every crossing."""
    net_file = _scramble_net(ped_net, tmp_path / "scramble.net.xml")
    routes = _traffic_and_people(tmp_path / "scramble.rou.xml", ("top0", "bottom0"), 5, 12)
    states = _states_under_count(net_file, routes, tmp_path / "run")
    net = read_signals(net_file)["A0"]
    greens = {"gGggrrrrgGggrrrrrGrG", "rrrrrrrrrrrrrrrrGGGG"}
    kept_green = cleared = 0
    last = None  # (index, state) of the last green shown
    for i, state in enumerate(states):
        if state not in greens:
            continue
        if last is not None and state != last[1] and i > last[0] + 1:
            a, between = last[1], states[last[0] + 1 : i]
            for k in range(len(state)):
                if not (net.crossing[k] and a[k] in GREEN_CHARS and state[k] in GREEN_CHARS):
                    continue
                ending = [
                    j
                    for j in range(len(state))
                    if not net.crossing[j]
                    and net.foe[j, k]
                    and a[j] in GREEN_CHARS
                    and state[j] not in GREEN_CHARS
                ]
                red = any(s[k] == "r" for s in between)
                if ending:
                    assert red, (i, k, ending)
                    cleared += 1
                else:
                    kept_green += not red
        last = (i, state)
    assert cleared > 0  # north-south to scramble: east and west crossings went red
    assert kept_green > 0  # scramble to north-south: nothing ending crosses them, they stay green


def test_after_the_walk_the_crossings_close_and_the_vehicle_green_goes_on(
    ped_net: Path, tmp_path: Path
) -> None:
    """``count`` holding a green for its vehicles ends the walk and keeps the vehicles going
    in the program's own variant without the crossings (``sim.timing`` rule 2). Checked from
    the outside, on what SUMO showed under heavy turning traffic and people on every crossing:
    such switches happen, every vehicle link keeps its indication through them (no yellow),
    the crossing shows red once closed, and no crossing is ever green together with a foe
    vehicle link of priority (``sim.conflicts``)."""
    routes = _traffic_and_people(tmp_path / "walk.rou.xml", ARMS, 4, 15)
    states = _states_under_count(ped_net, routes, tmp_path / "run")
    net = read_signals(ped_net)["A0"]
    # the longest pedestrian clearance: the longest crossing at the design speed
    lengths = [
        float(lane.get("length"))
        for e in ET.parse(ped_net).getroot().iter("edge")
        if e.get("function") == "crossing"
        for lane in e.iter("lane")
    ]
    clear_steps = math.ceil(max(lengths) / DEFAULT_PED_SPEED_MPS)
    vehicle = [k for k in range(len(states[0])) if not net.crossing[k]]
    walks_ended = 0
    for i in range(1, len(states)):
        a, b = states[i - 1], states[i]
        for k in range(len(b)):
            if net.crossing[k] and b[k] == "G":
                assert not any(net.foe[j, k] and b[j] == "G" for j in vehicle), b
        closes = any(net.crossing[k] and a[k] == "G" and b[k] == "r" for k in range(len(a)))
        if not closes or not any(a[j] in GREEN_CHARS for j in vehicle):
            continue
        kept = 0  # steps every vehicle link keeps its indication after the crossing closed
        while i + kept < len(states) and all(states[i + kept][j] == a[j] for j in vehicle):
            kept += 1
        # beyond a pedestrian clearance before a yellow: the vehicle green went on
        walks_ended += kept > clear_steps + 1
    assert walks_ended > 5
