"""People at the signal (sim/people): crossings, waiting pedestrians, occupancy, person metrics.

Real SUMO on a one-signal net with sidewalks and crossings made by netgenerate; the net file is
read independently here. Kernels are compared with pure-Python twins on generated inputs.
"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import bundled_scenario, one_signal_ped_net, sumo_running
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError
from sim.layout import build_layout
from sim.people.crossings import (
    CrossingLayout,
    crossing_layout,
    move_crossings,
    read_crossings,
    read_pedestrian_lanes,
)
from sim.people.kernels import (
    DEFAULT_PED_SPEED_MPS,
    DEFAULT_WALK_S,
    green_hold_kernel,
    lane_yielding_kernel,
    ped_clear_s,
    ped_phase_demand_kernel,
    phase_ped_min_green_kernel,
    phase_ped_release_kernel,
    push_button_kernel,
)
from sim.people.metrics import people_metrics, route_vtype_classes, scan_people
from sim.people.record import CrossingRecorder, write_waits
from sim.people.run import PeopleAtSignals, PeopleParams
from sim.people.sensing import (
    DEFAULT_OCCUPANCY,
    Occupancy,
    PedSensor,
    demand_has_rides,
    parse_occupancy,
)
from sim.timing import PED_CLEAR, Timing, TimingParams

GREEN = "Gg"


@pytest.fixture(scope="module")
def ped_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signal ``A0`` (1 lane per way), sidewalks, a crossing on each arm, two bus stops."""
    folder = tmp_path_factory.mktemp("peds")
    net = folder / "peds.net.xml"
    one_signal_ped_net(net)
    (folder / "stops.add.xml").write_text(
        "<additional>\n"
        '  <busStop id="s1" lane="left0A0_1" startPos="50" endPos="75" lines="B"/>\n'
        '  <busStop id="s2" lane="A0right0_1" startPos="50" endPos="75" lines="B"/>\n'
        "</additional>\n",
        encoding="utf-8",
    )
    return net


def bundled_net(name: str) -> Path:
    """Net file of a bundled scenario (the test is skipped when it is not shipped)."""
    from sim.scenario import bundled_scenarios

    return bundled_scenarios()[bundled_scenario(name)].parent / f"{name}.net.xml"


def write_routes(path: Path, body: str) -> Path:
    path.write_text(f'<routes>\n  <vType id="bus" vClass="bus"/>\n{body}</routes>\n')
    return path


def net_crossings(net: Path) -> dict[str, dict]:
    """Crossings read from the net XML: length, controlling link indices, walking areas."""
    root = ET.parse(net).getroot()
    out: dict[str, dict] = {}
    for edge in root.iter("edge"):
        if edge.get("function") == "crossing":
            lane = edge.find("lane")
            assert lane is not None
            out[edge.get("id", "")] = {
                "lane": lane.get("id"), "length": float(lane.get("length", "0")),
                "links": set(), "walks": set(), "tl": None,
            }  # fmt: skip
    for c in root.iter("connection"):
        a, b = c.get("from", ""), c.get("to", "")
        for crossing, walk in ((b, a), (a, b)):
            if crossing in out:
                out[crossing]["walks"].add(walk)
                if c.get("tl"):
                    out[crossing]["tl"] = c.get("tl")
                    out[crossing]["links"].add(int(c.get("linkIndex", "-1")))
    return out


def test_crossing_layout_matches_net_file(ped_net: Path) -> None:
    truth = net_crossings(ped_net)
    assert len(truth) == 4
    with sumo_running(ped_net) as api:
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states,
                             read_crossings(ped_net))  # fmt: skip
    assert cl.n_crossings == 4
    assert set(cl.crossing_edge_ids) == set(truth)
    for c, edge in enumerate(cl.crossing_edge_ids):
        t = truth[edge]
        assert cl.crossing_lane_ids[c] == t["lane"]
        assert cl.crossing_length_m[c] == pytest.approx(t["length"])
        links = cl.crossing_link_idx[cl.crossing_link_ptr[c] : cl.crossing_link_ptr[c + 1]]
        assert set(links.tolist()) == t["links"]
        walks = cl.crossing_walk_idx[cl.crossing_walk_ptr[c] : cl.crossing_walk_ptr[c + 1]]
        assert {cl.walk_area_ids[w] for w in walks} == t["walks"]
        assert len(t["walks"]) == 2
        served = cl.crossing_phase_idx[cl.crossing_phase_ptr[c] : cl.crossing_phase_ptr[c + 1]]
        expect = [
            p for p, st_ in enumerate(lay.phase_states) if any(st_[k] in GREEN for k in links)
        ]
        assert served.tolist() == expect and expect
        for p in range(lay.n_phases):  # the transpose holds the same pairs
            row = cl.phase_crossing_idx[cl.phase_crossing_ptr[p] : cl.phase_crossing_ptr[p + 1]]
            assert (c in row.tolist()) == (p in expect)


def test_no_sidewalks_no_crossings() -> None:
    net = bundled_net("single")
    assert read_crossings(net) == {}
    with sumo_running(net) as api:
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states, {})
    assert cl.n_crossings == 0 and cl.phase_crossing_ptr.shape == (lay.n_phases + 1,)
    assert not cl.phase_crossing_ptr.any()


def test_downtown_has_crossings_at_every_signal() -> None:
    net = bundled_net("downtown")
    with sumo_running(net) as api:
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states,
                             read_crossings(net))  # fmt: skip
    assert lay.n_signals >= 9
    per_signal = np.bincount(cl.crossing_signal, minlength=lay.n_signals)
    assert (per_signal == 4).all()
    assert (np.diff(cl.crossing_phase_ptr) >= 1).all()


def hold_crossings_red(api, state: str, crossing_links: set[int], green: bool) -> None:
    """Show ``state`` with every crossing link red (or green), vehicles all red."""
    chars = ["G" if (green and k in crossing_links) else "r" for k in range(len(state))]
    api.trafficlight.setRedYellowGreenState("A0", "".join(chars))


def test_waiting_pedestrians_against_sumo(ped_net: Path, tmp_path: Path) -> None:
    """Three pedestrians held at a red crossing for a known time: counted, timed, released."""
    routes = write_routes(
        tmp_path / "walk.rou.xml",
        "".join(
            f'  <person id="w{i}" depart="{i}"><walk from="left0A0" to="A0right0"/></person>\n'
            for i in range(3)
        ),
    )
    tripinfo = tmp_path / "tripinfo.xml"
    release_s = 300.0  # they reach the crossing after 110-130 s of walking
    with sumo_running(ped_net, "-r", str(routes), "--tripinfo-output", str(tripinfo)) as api:
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states,
                             read_crossings(ped_net))  # fmt: skip
        links = set(cl.crossing_link_idx.tolist())
        state = api.trafficlight.getRedYellowGreenState("A0")
        sensor = PedSensor(cl)
        seen_max = 0
        while api.simulation.getMinExpectedNumber() > 0:
            t = api.simulation.getTime()
            hold_crossings_red(api, state, links, green=t >= release_s)
            api.simulationStep()
            now = api.simulation.getTime()
            sensor.read(api, now)
            # SUMO's own view: persons on a walking area of c heading to c and standing
            for c, edge in enumerate(cl.crossing_edge_ids):
                walks = {cl.walk_area_ids[w] for w in cl.crossing_walk_idx[
                    cl.crossing_walk_ptr[c] : cl.crossing_walk_ptr[c + 1]]}  # fmt: skip
                heading = [p for p in api.person.getIDList()
                           if api.person.getRoadID(p) in walks
                           and api.person.getNextEdge(p) == edge]  # fmt: skip
                standing = [p for p in heading if api.person.getWaitingTime(p) > 0]
                assert len(standing) <= sensor.waiting_ped[c] <= len(heading)
            seen_max = max(seen_max, int(sensor.waiting_ped.max()))
            if now > release_s + 300:
                break
        sensor.finish()
    assert seen_max == 3
    assert set(sensor.person_wait_s) == {"w0", "w1", "w2"}
    assert sorted(w[0] for w in sensor.waits) == ["w0", "w1", "w2"]  # one wait each
    assert len({w[1] for w in sensor.waits}) == 1  # at the same crossing
    walks = {p.get("id"): p.find("walk") for p in ET.parse(tripinfo).getroot().iter("personinfo")}
    for pid, waited in sensor.person_wait_s.items():
        # one wait per walk here; SUMO counts only the steps standing still, the wait also
        # the shuffling forward in the crowd and the start on green
        sumo_wait = float(walks[pid].get("waitingTime", "0"))
        assert sumo_wait <= waited <= sumo_wait + 5.0
        assert release_s - 140.0 < waited <= release_s - 100.0
    assert sensor.longest_wait_s == pytest.approx(max(sensor.person_wait_s.values()), abs=1.0)


def test_occupancy_per_lane_against_sumo(ped_net: Path, tmp_path: Path) -> None:
    """Cars count 1.3, a bus 40; with rides, the bus counts its riders + driver."""
    body = (
        '  <vehicle id="bus0" type="bus" depart="40" line="B"><route edges="left0A0 A0right0"/>'
        '<stop busStop="s1" duration="30"/><stop busStop="s2" duration="30"/></vehicle>\n'
        + "".join(f'  <vehicle id="car{i}" depart="{42 + 2 * i}"><route edges="left0A0 A0right0"/>'
                  "</vehicle>\n" for i in range(3))
    )  # fmt: skip
    riders = (
        '  <person id="r0" depart="0"><walk from="left0A0" busStop="s1"/>'
        '<ride busStop="s2" lines="B"/></person>\n'
    )
    adds = str(ped_net.parent / "stops.add.xml")
    for rides in (False, True):
        routes = write_routes(tmp_path / f"occ{rides}.rou.xml", (riders if rides else "") + body)
        assert demand_has_rides([routes]) == rides
        with sumo_running(ped_net, "-r", str(routes), "-a", adds) as api:
            lay = build_layout(api)
            occ = Occupancy(lay.lane_ids, DEFAULT_OCCUPANCY, rides)
            lane_veh = np.zeros(lay.n_lanes, dtype=np.int32)
            persons = np.zeros(lay.n_lanes)
            seen_bus = seen_rider = False
            for _ in range(200):
                api.simulationStep()
                for i, lane in enumerate(lay.lane_ids):
                    lane_veh[i] = api.lane.getLastStepVehicleNumber(lane)
                occ.read(api, lane_veh, persons)
                for i, lane in enumerate(lay.lane_ids):
                    expect = 0.0
                    for vid in api.lane.getLastStepVehicleIDs(lane):
                        if api.vehicle.getVehicleClass(vid) == "bus":
                            seen_bus = True
                            n = api.vehicle.getPersonNumber(vid)
                            seen_rider |= n > 0
                            expect += n + 1.0 if rides else 40.0
                        else:
                            expect += 1.3
                    assert persons[i] == pytest.approx(expect)
        assert seen_bus and seen_rider == rides


def test_people_metrics_from_sumo_tripinfo(ped_net: Path, tmp_path: Path) -> None:
    """A bus with a rider, two cars, a pedestrian held at a red crossing: each metric by its rule.

    Crossings stay red until 200 s (vehicles: north-south green, then east-west from 50 s); the
    pedestrian reaches the crossing after 90-140 s of walking and waits there until 200 s.
    """
    routes = write_routes(
        tmp_path / "m.rou.xml",
        '  <person id="r0" depart="0"><walk from="left0A0" busStop="s1"/>'
        '<ride busStop="s2" lines="B"/></person>\n'
        '  <person id="w0" depart="0"><walk from="left0A0" to="A0right0"/></person>\n'
        '  <vehicle id="car0" depart="30"><route edges="top0A0 A0bottom0"/></vehicle>\n'
        '  <vehicle id="car1" depart="31"><route edges="top0A0 A0bottom0"/></vehicle>\n'
        '  <vehicle id="bus0" type="bus" depart="45" line="B"><route edges="left0A0 A0right0"/>'
        '<stop busStop="s1" duration="10"/><stop busStop="s2" duration="10"/></vehicle>\n',
    )
    tripinfo = tmp_path / "tripinfo.xml"
    adds = str(ped_net.parent / "stops.add.xml")
    with sumo_running(ped_net, "-r", str(routes), "-a", adds, "--tripinfo-output",
                      str(tripinfo), "--tripinfo-output.write-unfinished") as api:  # fmt: skip
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states,
                             read_crossings(ped_net))  # fmt: skip
        links = set(cl.crossing_link_idx.tolist())
        phases = api.trafficlight.getAllProgramLogics("A0")[0].phases
        no_ped = ["".join("r" if k in links else ch for k, ch in enumerate(phases[i].state))
                  for i in (0, 3)]  # fmt: skip
        sensor = PedSensor(cl)
        while api.simulation.getMinExpectedNumber() > 0 and api.simulation.getTime() < 500:
            t = api.simulation.getTime()
            if t < 200:
                api.trafficlight.setRedYellowGreenState("A0", no_ped[0 if t < 50 else 1])
            elif t < 201:
                api.trafficlight.setProgram("A0", "0")
            api.simulationStep()
            sensor.read(api, api.simulation.getTime())
        sensor.finish()
    vtypes = route_vtype_classes([routes])
    assert vtypes["bus"] == "bus" and vtypes["DEFAULT_VEHTYPE"] == "passenger"
    m = people_metrics(tripinfo, vtypes, lambda vc: DEFAULT_OCCUPANCY.get(vc, 1.0),
                       sensor.person_wait_s, sensor.longest_wait_s)  # fmt: skip
    root = ET.parse(tripinfo).getroot()
    trips = {e.get("id"): e for e in root.iter("tripinfo")}
    people = {e.get("id"): e for e in root.iter("personinfo")}
    delay = {k: float(e.get("timeLoss")) + float(e.get("departDelay")) for k, e in trips.items()}
    walk_loss = {
        k: sum(float(s.get("timeLoss")) for s in e.iter("walk")) for k, e in people.items()
    }
    ride = people["r0"].find("ride")
    assert ride is not None and ride.get("vehicle") == "bus0"
    ride_loss = float(ride.get("timeLoss")) + float(ride.get("waitingTime"))
    assert m["pedestrians"] == 2
    assert m["ped_delay_s"] == pytest.approx((walk_loss["r0"] + walk_loss["w0"]) / 2)
    assert walk_loss["w0"] >= 200.0 - 140.0
    sumo_wait = float(people["w0"].find("walk").get("waitingTime"))  # its only wait
    assert 60.0 < sumo_wait <= m["ped_wait_max_s"] <= sumo_wait + 5.0
    assert m["delay_by_vclass_s"] == pytest.approx(
        {"bus": delay["bus0"], "passenger": (delay["car0"] + delay["car1"]) / 2}
    )
    # the bus carried a modelled rider: it counts its driver, the rider counts herself
    expect = (delay["bus0"] + 1.3 * (delay["car0"] + delay["car1"]) + walk_loss["w0"]
              + walk_loss["r0"] + ride_loss) / (1 + 2 * 1.3 + 2)  # fmt: skip
    assert m["person_delay_s"] == pytest.approx(expect)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bus", "expected VCLASS=PERSONS"),
        ("=3", "expected VCLASS=PERSONS"),
        ("lorry=2", "unknown vehicle class 'lorry'"),
        ("bus=x", "'x' is not a number"),
        ("bus=0", "must be a number > 0"),
        ("bus=nan", "must be a number > 0"),
        ("bus=inf", "must be a number > 0"),
        ("bus=3,bus=4", "bus given twice"),
    ],
)
def test_parse_occupancy_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        parse_occupancy(text)
    assert "\n" not in str(err.value)


def test_parse_occupancy_values() -> None:
    assert parse_occupancy("") == DEFAULT_OCCUPANCY
    got = parse_occupancy(" bus = 25 , truck=1.5")
    assert got == {**DEFAULT_OCCUPANCY, "bus": 25.0, "truck": 1.5}


# ---------------------------------------------------------------------------------------------
# kernels against pure-Python twins


def twin_phase_ped_min(ptr, idx, waiting, walk_s):
    return [
        walk_s if any(waiting[c] > 0 for c in idx[ptr[p] : ptr[p + 1]]) else 0.0
        for p in range(len(ptr) - 1)
    ]


@st.composite
def crossing_case(draw):
    n_c = draw(st.integers(0, 6))
    n_p = draw(st.integers(1, 6))
    rows = [draw(st.lists(st.integers(0, max(n_c - 1, 0)), max_size=3 if n_c else 0,
                          unique=True)) for _ in range(n_p)]  # fmt: skip
    ptr = np.zeros(n_p + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    idx = np.array([c for r in rows for c in r], dtype=np.int64)
    length = np.array(draw(st.lists(st.floats(2.0, 40.0), min_size=n_c, max_size=n_c)))
    waiting = np.array(draw(st.lists(st.integers(0, 3), min_size=n_c, max_size=n_c)),
                       dtype=np.int32)  # fmt: skip
    return ptr, idx, length.astype(np.float64), waiting


@settings(max_examples=200, deadline=None)
@given(crossing_case(), st.floats(0.1, 15.0))
def test_phase_ped_min_green_matches_twin(case, walk_s: float) -> None:
    ptr, idx, _, waiting = case
    out = np.full(len(ptr) - 1, -1.0)
    phase_ped_min_green_kernel(ptr, idx, waiting, walk_s, out)
    assert out.tolist() == pytest.approx(twin_phase_ped_min(ptr, idx, waiting, walk_s))
    demand = np.zeros(len(ptr) - 1, dtype=np.bool_)
    ped_phase_demand_kernel(ptr, idx, waiting, demand)
    assert demand.tolist() == [bool(v > 0) for v in out]


def test_ped_min_green_rule_by_hand() -> None:
    """A crossing with a waiting pedestrian: its green lasts the 7 s walk (or the signal's own
    minimum green, when longer); 12 m at 1.2 m/s is the 10 s clearance that follows it."""
    out = np.zeros(2)
    ptr, idx = np.array([0, 1, 1]), np.array([0])
    phase_ped_min_green_kernel(ptr, idx, np.array([1], dtype=np.int32), DEFAULT_WALK_S, out)
    assert out.tolist() == pytest.approx([7.0, 0.0])
    hold = np.zeros(2)
    green_hold_kernel(np.array([0, 1]), np.zeros(2, dtype=np.int8), np.zeros(2),
                      np.array([True, True]), np.array([5.0, 5.0]), out, hold)  # fmt: skip
    assert hold.tolist() == [7.0, 5.0]  # signal 1's green serves no waiting pedestrian
    assert ped_clear_s(12.0, DEFAULT_PED_SPEED_MPS) == pytest.approx(10.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=60),
       st.floats(0.1, 2.0))  # fmt: skip
def test_push_button_matches_twin(steps, dt_s: float) -> None:
    call = np.zeros(1, dtype=np.bool_)
    age = np.zeros(1)
    seen_n = np.zeros(1, dtype=np.int32)
    seen_s = np.zeros(1)
    t_call, t_age = False, 0.0
    for waiting, green in steps:
        push_button_kernel(np.array([waiting], dtype=np.int32), np.array([green]), dt_s,
                           call, age, seen_n, seen_s)  # fmt: skip
        if green:
            t_call, t_age = False, 0.0
        elif t_call:
            t_age += dt_s
        elif waiting:
            t_call, t_age = True, 0.0
        assert bool(call[0]) == t_call and seen_n[0] == int(t_call)
        assert math.isclose(seen_s[0], t_age, abs_tol=1e-9)


def test_scan_people_counts_downtown() -> None:
    net = bundled_net("downtown")
    routes = net.parent / "downtown.rou.xml"
    got = scan_people([routes])
    text = routes.read_text()
    assert got["persons"] == text.count("<person ") > 1000
    numbers = [int(x) for x in re.findall(r'<flow id="bus_[^"]*"[^>]* number="(\d+)"', text)]
    assert len(numbers) == 4 and got["buses"] == sum(numbers)
    assert got["rides"] == 0


def test_crossing_tables(tmp_path: Path) -> None:
    """Rows every interval in long format; single waits with their signal and crossing."""
    cl = crossing_layout_stub()
    rec = CrossingRecorder(cl, ("J1", "J2"), 0.0, 20.0, 10.0)
    for t in range(21):
        rec.record(float(t), np.array([t % 3, 1], dtype=np.int32), np.array([t * 1.0, 2.5]))
    path = rec.write(tmp_path, "csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["time_s"] for r in rows] == ["0", "0", "10", "10", "20", "20"]
    assert rows[2] == {"time_s": "10", "signal": "J1", "crossing": ":J1_c0_0",
                       "waiting_ped": "1", "wait_s": "10"}  # fmt: skip
    assert rows[3]["signal"] == "J2" and rows[3]["wait_s"] == "2.5"
    wpath = write_waits([("p1", 1, 3.0, 12.5)], cl, ("J1", "J2"), tmp_path, "csv")
    assert list(csv.DictReader(wpath.open())) == [
        {"person": "p1", "signal": "J2", "crossing": ":J2_c0_0", "begin_s": "3", "wait_s": "12.5"}
    ]


def crossing_layout_stub() -> CrossingLayout:
    """Two crossings at two signals, one green each (for the table writers)."""
    one = np.array([0, 1], dtype=np.int64)
    return CrossingLayout(
        crossing_lane_ids=(":J1_c0_0", ":J2_c0_0"),
        crossing_edge_ids=(":J1_c0", ":J2_c0"),
        crossed_edge_ids=(("a",), ("b",)),
        crossing_signal=one,
        crossing_length_m=np.array([8.0, 12.0]),
        crossing_link_ptr=np.array([0, 1, 2]),
        crossing_link_idx=np.array([4, 4]),
        walk_area_ids=(":J1_w0", ":J2_w0"),
        crossing_walk_ptr=np.array([0, 1, 2]),
        crossing_walk_idx=one,
        crossing_phase_ptr=np.array([0, 1, 2]),
        crossing_phase_idx=one,
        phase_crossing_ptr=np.array([0, 1, 2]),
        phase_crossing_idx=one,
    )


# ---------------------------------------------------------------------------------------------
# end to end: real SUMO, the real timing kernel, a controller that never asks for a crossing


def run_never_serving_crossings(
    ped_net: Path, tmp_path: Path, with_people: bool, end_s: float = 500.0, walk_s: float = 7.0
) -> dict:
    """Pedestrians cross at A0 while the controller requests only the vehicle greens without a
    crossing, alternating every 20 s; returns the longest wait, walks done, crossing greens."""
    routes = write_routes(
        tmp_path / f"e2e{with_people}.rou.xml",
        "".join(
            f'  <person id="p{i}" depart="{10 * i}"><walk from="{a}" to="{b}"/></person>\n'
            for i, (a, b) in enumerate(
                [("left0A0", "A0right0"), ("top0A0", "A0bottom0"), ("right0A0", "A0left0"),
                 ("bottom0A0", "A0top0"), ("left0A0", "A0right0"), ("top0A0", "A0bottom0")]
            )
        ),
    )  # fmt: skip
    tripinfo = tmp_path / f"e2e{with_people}.tripinfo.xml"
    params = TimingParams(min_green_s=5.0, max_green_s=30.0, max_wait_s=60.0)
    with sumo_running(ped_net, "-r", str(routes), "--tripinfo-output", str(tripinfo)) as api:
        lay = build_layout(api)
        people = PeopleAtSignals(
            api, lay, ped_net, [routes], PeopleParams(walk_s=walk_s), 0.0, end_s, 5.0, 1.0
        )
        cl = people.crossings
        timing = Timing(lay, params, 1.0)
        if with_people:
            people.attach(timing)
        served = np.diff(cl.phase_crossing_ptr) > 0
        vehicle_only = [p for p in range(lay.n_phases) if not served[p]]
        assert len(vehicle_only) == 2
        demand = np.zeros(lay.n_phases, dtype=np.bool_)
        request = np.zeros(1, dtype=np.int64)
        lane_veh = np.zeros(lay.n_lanes, dtype=np.int32)
        greens: list[tuple[int, float, float, bool]] = []  # phase, begin, end, began with peds
        clearances: list[tuple[float, float, int]] = []  # ped clearance: begin, end, left on it
        api.trafficlight.setRedYellowGreenState("A0", timing.state_string(0))
        while api.simulation.getTime() < end_s:
            api.simulationStep()
            now = api.simulation.getTime()
            people.read(api, now, lane_veh, timing.cur_p, timing.stage)
            request[0] = vehicle_only[int(now // 20) % 2]
            demand[:] = False
            demand[vehicle_only] = True  # vehicles always waiting on both axes
            if with_people:
                people.add_demand(demand)
            ped_waiting = people.phase_ped_min_s.copy()
            cur = int(timing.cur_p[0])  # people on the crossings of the green shown (or left)
            mine = cl.phase_crossing_idx[
                cl.phase_crossing_ptr[cur] : cl.phase_crossing_ptr[cur + 1]
            ]
            on_crossing = int(people.sensor.on_crossing_ped[mine].sum())
            timing.step(request, demand)
            if with_people:
                people.hold_min_green(timing)
            if timing.changed[0]:
                if clearances and clearances[-1][1] < 0:  # a pedestrian clearance ends now
                    clearances[-1] = (clearances[-1][0], now, on_crossing)
                if timing.stage[0] == PED_CLEAR:
                    clearances.append((now, -1.0, -1))
                api.trafficlight.setRedYellowGreenState("A0", timing.state_string(0))
                if greens and greens[-1][2] < 0:
                    greens[-1] = (greens[-1][0], greens[-1][1], now, greens[-1][3])
                if timing.stage[0] == 0 and served[timing.cur_p[0]]:
                    p = int(timing.cur_p[0])
                    greens.append((p, now, -1.0, ped_waiting[p] > 0))
        people.sensor.finish()
    arrived = sum(
        float(w.get("arrival", "-1")) >= 0 for w in ET.parse(tripinfo).getroot().iter("walk")
    )
    ped_min = [
        max(DEFAULT_WALK_S + cl.crossing_length_m[c] / DEFAULT_PED_SPEED_MPS
            for c in cl.phase_crossing_idx[cl.phase_crossing_ptr[p] : cl.phase_crossing_ptr[p + 1]])
        for p in range(lay.n_phases) if served[p]
    ]  # fmt: skip
    return {
        "longest_wait_s": people.sensor.longest_wait_s,
        "arrived": arrived,
        "greens": [g for g in greens if g[2] >= 0],
        "ped_min_s": min(ped_min),
        "clearances": [c for c in clearances if c[1] >= 0],
        "clear_s": min(ped_min) - DEFAULT_WALK_S,
    }


def test_pedestrians_starve_without_people_in_the_timing(ped_net: Path, tmp_path: Path) -> None:
    got = run_never_serving_crossings(ped_net, tmp_path, with_people=False)
    assert got["greens"] == []  # no crossing is ever green after the first 5 s
    # SUMO lets a pedestrian jammed for 300 s (--pedestrian.striping.jamtime) squeeze through
    assert got["longest_wait_s"] >= 300.0
    assert got["arrived"] < 6


def test_waiting_pedestrians_are_served_with_walk_and_clearance(
    ped_net: Path, tmp_path: Path
) -> None:
    """Starvation bound with pedestrian demand: every walk finishes, no wait much beyond
    max_wait + 4 greens x (walk + clearance + yellow); a crossing green that began with
    pedestrians waiting showed the 7 s walk (not the 5 s minimum green)."""
    got = run_never_serving_crossings(ped_net, tmp_path, with_people=True)
    assert got["arrived"] == 6
    assert got["longest_wait_s"] <= 60.0 + 4 * (got["ped_min_s"] + 3.0)
    with_peds = [g for g in got["greens"] if g[3]]
    assert with_peds
    for _, begin, end, _ in with_peds:
        assert end - begin >= DEFAULT_WALK_S - 1e-6


def test_a_crossing_closed_with_people_on_it_gets_its_clearance(
    ped_net: Path, tmp_path: Path
) -> None:
    """With a 1 s walk the 5 s minimum green ends while pedestrians are still on the crossing:
    the switch starts the pedestrian clearance (crossing red, vehicles still green), which runs
    until nobody is left on the crossing, at most its length at 1.2 m/s (5.3 s here)."""
    got = run_never_serving_crossings(ped_net, tmp_path, with_people=True, walk_s=1.0)
    assert got["arrived"] == 6
    assert got["clearances"]
    for begin, end, left_on_crossing in got["clearances"]:
        assert end - begin <= math.ceil(got["clear_s"]) + 1e-6
        assert left_on_crossing == 0 or end - begin >= got["clear_s"] - 1e-6


@settings(max_examples=100, deadline=None)
@given(crossing_case(), st.integers(0, 5))
def test_phase_ped_release_matches_twin(case, cur: int) -> None:
    """One signal owning every phase: waiting pedestrians at crossings the current green does
    not serve already."""
    ptr, idx, _, waiting = case
    n_p = len(ptr) - 1
    cur = cur % n_p
    out = np.full(n_p, -1.0)
    mark = np.zeros(len(waiting), dtype=np.bool_)
    phase_ped_release_kernel(np.array([0, n_p]), ptr, idx, waiting, np.array([cur]), mark, out)
    served_now = set(idx[ptr[cur] : ptr[cur + 1]].tolist())
    expect = [
        float(sum(waiting[c] for c in idx[ptr[p] : ptr[p + 1]] if c not in served_now))
        for p in range(n_p)
    ]
    assert out.tolist() == expect and not mark.any()


def test_move_crossings_and_yielding_lanes(ped_net: Path) -> None:
    """Movements pass the crossings over the roads they leave and enter; a lane yields while a
    crossing its movements pass shows red with pedestrians still on it (not while it is green)."""
    with sumo_running(ped_net) as api:
        lay = build_layout(api)
        cl = crossing_layout(api, lay.signal_ids, lay.phase_ptr, lay.phase_states,
                             read_crossings(ped_net))  # fmt: skip
        edge = [api.lane.getEdgeID(lane) for lane in lay.lane_ids]
    ins = [edge[i] for i in lay.move_in_lane]
    outs = [edge[i] for i in lay.move_out_lane]
    ptr, idx = move_crossings(cl, lay.move_signal, ins, outs)
    for m in range(len(ins)):
        got = {cl.crossing_edge_ids[c] for c in idx[ptr[m] : ptr[m + 1]]}
        expect = {cl.crossing_edge_ids[c] for c, crossed in enumerate(cl.crossed_edge_ids)
                  if ins[m] in crossed or outs[m] in crossed}  # fmt: skip
        assert got == expect
        if not ins[m].startswith(":"):  # a vehicle movement passes its own arm's crossing
            assert len(got) >= 1
    on = np.zeros(cl.n_crossings, dtype=np.int32)
    on[0] = 2
    out = np.zeros(lay.n_lanes, dtype=np.bool_)
    green = np.zeros(cl.n_crossings, dtype=np.bool_)
    lane_yielding_kernel(lay.move_in_lane, ptr, idx, on, green, out)
    expect_lanes = {int(lay.move_in_lane[m]) for m in range(len(ins))
                    if 0 in idx[ptr[m] : ptr[m + 1]].tolist()}  # fmt: skip
    assert set(np.flatnonzero(out).tolist()) == expect_lanes and expect_lanes
    green[0] = True  # people walking on green: the turning vehicles wait for a gap, not yield
    lane_yielding_kernel(lay.move_in_lane, ptr, idx, on, green, out)
    assert not out.any()


def test_pedestrian_lanes_are_exactly_the_crossing_links(ped_net: Path) -> None:
    """Leaving out links that touch a pedestrian lane leaves the vehicle links, nothing else."""
    ped_lanes = read_pedestrian_lanes(ped_net)
    truth = net_crossings(ped_net)
    assert {t["lane"] for t in truth.values()} < ped_lanes
    with sumo_running(ped_net) as api:
        links = [
            (k, c[0], c[1])
            for k, conns in enumerate(api.trafficlight.getControlledLinks("A0"))
            for c in conns
        ]
        allowed = {lane: api.lane.getAllowed(lane) for _, a, b in links for lane in (a, b)}
    ped_links = {k for k, a, b in links if a in ped_lanes or b in ped_lanes}
    assert ped_links == {k for t in truth.values() for k in t["links"]}
    for k, a, _ in links:
        if k not in ped_links:
            assert "pedestrian" not in allowed[a] and not a.startswith(":")


def test_benchmark_networks_are_reproducible(tmp_path: Path) -> None:
    """benchmarks/people/build_nets.py: same seed, same bytes; crossings at every signal; bus
    stops on the lines' routes."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "people" / "build_nets.py"
    for out in ("a", "b"):
        subprocess.run([sys.executable, str(script), str(tmp_path / out), "--nets", "grid3x3"],
                       check=True, capture_output=True)  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "a" / "grid3x3").iterdir())
    assert files == ["grid3x3.add.xml", "grid3x3.net.xml", "grid3x3.rou.xml", "grid3x3.sumocfg"]
    for name in files:
        a = (tmp_path / "a" / "grid3x3" / name).read_bytes()
        assert a == (tmp_path / "b" / "grid3x3" / name).read_bytes(), name
    folder = tmp_path / "a" / "grid3x3"
    truth = net_crossings(folder / "grid3x3.net.xml")
    per_signal: dict[str, int] = {}
    for t in truth.values():
        per_signal[t["tl"]] = per_signal.get(t["tl"], 0) + 1
    assert len(per_signal) == 9 and set(per_signal.values()) == {4}
    stops = {s.get("id"): s.get("lane", "").rsplit("_", 1)[0]
             for s in ET.parse(folder / "grid3x3.add.xml").getroot().iter("busStop")}  # fmt: skip
    flows = list(ET.parse(folder / "grid3x3.rou.xml").getroot().iter("flow"))
    assert len(flows) == 4 and {f.get("line") for f in flows} == {"L1", "L2"}
    for flow in flows:
        route = flow.find("route").get("edges").split()
        used = [stops[s.get("busStop")] for s in flow.iter("stop")]
        assert used and all(edge in route for edge in used)
    assert scan_people([folder / "grid3x3.rou.xml"])["persons"] > 3000


def test_scan_and_layout_leave_pedestrian_links_out() -> None:
    """downtown: the controlled lanes of the scan and the layout's lanes are the road lanes of
    the net's controlled vehicle connections; crossings stay in the state strings only."""
    net = bundled_net("downtown")
    from sim.scenario import scan_net

    root = ET.parse(net).getroot()
    roads = {
        f"{c.get('from')}_{c.get('fromLane')}"
        for c in root.iter("connection")
        if c.get("tl") and not c.get("from", "").startswith(":")
    }
    assert set(scan_net(net).controlled_lanes) == roads
    with sumo_running(net) as api:
        lay = build_layout(api)
        n_links = len(api.trafficlight.getControlledLinks(lay.signal_ids[0]))
    assert set(lay.lane_ids[: lay.n_in_lanes]) == roads
    assert not any(lane.startswith(":") for lane in lay.lane_ids)
    assert len(lay.phase_states[0]) == n_links


def test_benchmark_rand_net_whose_nearest_bus_ends_are_unconnected(tmp_path: Path) -> None:
    """``rand`` with seed 2: the edges nearest the west and east ends are not connected for a
    bus; the line takes the nearest pair that is, instead of failing."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "people" / "build_nets.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "--nets", "rand",
                           "--seed", "2"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    flows = list(ET.parse(tmp_path / "rand" / "rand.rou.xml").getroot().iter("flow"))
    assert len(flows) == 4 and {f.get("line") for f in flows} == {"L1", "L2"}
    assert all(len(f.find("route").get("edges").split()) > 3 for f in flows)
