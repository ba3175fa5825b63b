"""Network layout built from real nets, checked against the net XML read independently."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import resco_dir, sumo_running

from sim import layout as layout_mod
from sim.errors import InputError
from sim.layout import ALL_RED, PED_CLEAR, NetworkLayout, build_layout, csr_rows
from sim.layout import YELLOW as YELLOW_STAGE
from sim.scenario import scan_net

GREEN = "Gg"
YELLOW = "yYu"
NETS = ["grid4x4", "cologne1", "ingolstadt7"]


@dataclass
class NetXml:
    """What the net file says about its traffic lights, parsed without sim/ code."""

    programs: dict[str, list[tuple[str, float]]]  # tls id -> [(state, duration)] in order
    links: dict[str, set[tuple[str, str, int]]]  # tls id -> {(from lane, to lane, link index)}
    lane_length_m: dict[str, float]
    lane_edge: dict[str, str]


def read_net(net_file: Path) -> NetXml:
    root = ET.parse(net_file).getroot()
    programs: dict[str, list[tuple[str, float]]] = {}
    for tl in root.iter("tlLogic"):
        assert tl.get("id") not in programs, "several programs per signal: extend this test"
        programs[tl.get("id", "")] = [
            (ph.get("state", ""), float(ph.get("duration", "0"))) for ph in tl.iter("phase")
        ]
    links: dict[str, set[tuple[str, str, int]]] = {}
    for c in root.iter("connection"):
        if c.get("tl"):
            links.setdefault(c.get("tl", ""), set()).add(
                (
                    f"{c.get('from')}_{c.get('fromLane')}",
                    f"{c.get('to')}_{c.get('toLane')}",
                    int(c.get("linkIndex", "-1")),
                )
            )
    lengths, edges = {}, {}
    for edge in root.iter("edge"):
        for lane in edge.iter("lane"):
            lengths[lane.get("id", "")] = float(lane.get("length", "0"))
            edges[lane.get("id", "")] = edge.get("id", "")
    return NetXml(programs, links, lengths, edges)


def is_green_phase(state: str) -> bool:
    return any(c in GREEN for c in state) and not any(c in YELLOW for c in state)


@pytest.fixture(scope="module", params=NETS)
def net(request: pytest.FixtureRequest) -> Iterator[tuple[str, NetworkLayout, NetXml]]:
    name = request.param
    net_file = resco_dir(name) / f"{name}.net.xml"
    with sumo_running(net_file) as api:
        layout = build_layout(api)
    yield name, layout, read_net(net_file)


def signal_greens(lay: NetworkLayout, s: int) -> list[str]:
    return list(lay.phase_states[lay.phase_ptr[s] : lay.phase_ptr[s + 1]])


def test_signals_are_the_nets_traffic_lights(net: tuple) -> None:
    _, lay, xml = net
    assert sorted(lay.signal_ids) == sorted(xml.programs)
    assert lay.phase_ptr[0] == 0 and lay.phase_ptr[-1] == lay.n_phases
    assert np.all(np.diff(lay.phase_ptr) >= 1)
    for s in range(lay.n_signals):
        assert np.all(lay.phase_signal[lay.phase_ptr[s] : lay.phase_ptr[s + 1]] == s)


def test_green_phases_are_the_programs_non_yellow_greens(net: tuple) -> None:
    _, lay, xml = net
    for s, tls_id in enumerate(lay.signal_ids):
        program = xml.programs[tls_id]
        want = list(dict.fromkeys(st for st, _ in program if is_green_phase(st)))
        assert signal_greens(lay, s) == want, tls_id
        for p in range(lay.phase_ptr[s], lay.phase_ptr[s + 1]):
            durations = [d for st, d in program if st == lay.phase_states[p]]
            assert lay.program_green_s[p] == max(durations)
        yellows = [d for st, d in program if any(c in YELLOW for c in st)]
        assert lay.yellow_s[s] == (max(yellows) if yellows else 3.0)


def test_transition_strings_follow_the_links(net: tuple) -> None:
    _, lay, _ = net
    for s in range(lay.n_signals):
        greens = range(lay.phase_ptr[s], lay.phase_ptr[s + 1])
        for p in greens:
            for q in greens:
                a, b = lay.phase_states[p], lay.phase_states[q]
                ending = [
                    i
                    for i, (x, y) in enumerate(zip(a, b, strict=True))
                    if x in GREEN and (y not in GREEN or (x == "G" and y == "g"))
                ]
                assert lay.needs_clearance[p, q - lay.phase_ptr[s]] == bool(ending)
                yellow = lay.transition_state(p, q, YELLOW_STAGE)
                red = lay.transition_state(p, q, ALL_RED)
                assert len(yellow) == len(red) == len(a)
                assert [i for i, c in enumerate(yellow) if c == "y"] == ending
                assert [i for i, c in enumerate(red) if c == "y"] == []
                for i in ending:
                    assert red[i] == "r"
                for i, x in enumerate(a):
                    if i not in ending:  # kept as in p: greens in both stay, reds stay red
                        assert yellow[i] == red[i] == x
                    assert not (yellow[i] in GREEN and x not in GREEN)  # nothing new turns green


def test_transition_matches_the_programs_own_yellow(net: tuple) -> None:
    """Where the program goes green -> yellow -> next green, the synthesized yellow equals the
    program's yellow phase on every link not green in both greens. Links green in both stay green
    (documented in sim/layout.py); some programs (ingolstadt7) flash those yellow too."""
    name, lay, xml = net
    n_checked = 0
    for s, tls_id in enumerate(lay.signal_ids):
        program = [st for st, _ in xml.programs[tls_id]]
        index = {st: lay.phase_ptr[s] + i for i, st in enumerate(signal_greens(lay, s))}
        for i, st in enumerate(program):
            nxt = program[(i + 1) % len(program)]
            after = program[(i + 2) % len(program)]
            if st in index and after in index and any(c in YELLOW for c in nxt):
                got = lay.transition_state(index[st], index[after], YELLOW_STAGE)
                for k, (a, b) in enumerate(zip(st, after, strict=True)):
                    if a in GREEN and b in GREEN:
                        assert got[k] == a, (tls_id, i, k)
                    else:
                        assert got[k] == nxt[k], (tls_id, i, k)
                n_checked += 1
    assert n_checked >= lay.n_signals, name


def test_movements_are_the_nets_controlled_links(net: tuple) -> None:
    _, lay, xml = net
    got: dict[str, set[tuple[str, str, int]]] = {}
    for m in range(len(lay.move_in_lane)):
        got.setdefault(lay.signal_ids[lay.move_signal[m]], set()).add(
            (
                lay.lane_ids[lay.move_in_lane[m]],
                lay.lane_ids[lay.move_out_lane[m]],
                int(lay.move_link_index[m]),
            )
        )
    assert got == xml.links
    for s, tls_id in enumerate(lay.signal_ids):
        width = max(k for _, _, k in xml.links[tls_id]) + 1
        assert all(len(st) >= width for st in signal_greens(lay, s)), tls_id


def test_lanes_and_approaches_are_consistent(net: tuple) -> None:
    _, lay, xml = net
    assert len(set(lay.lane_ids)) == lay.n_lanes
    in_lanes = {a for links in xml.links.values() for a, _, _ in links}
    out_lanes = {b for links in xml.links.values() for _, b, _ in links}
    assert set(lay.lane_ids[: lay.n_in_lanes]) == in_lanes
    assert set(lay.lane_ids) == in_lanes | out_lanes
    np.testing.assert_allclose(
        lay.lane_length_m, [xml.lane_length_m[x] for x in lay.lane_ids], rtol=1e-6
    )
    assert np.all(lay.lane_approach[lay.n_in_lanes :] == -1)
    assert np.all(lay.lane_approach[: lay.n_in_lanes] >= 0)
    for lane_idx in range(lay.n_in_lanes):
        a = lay.lane_approach[lane_idx]
        lane = lay.lane_ids[lane_idx]
        assert lay.approach_ids[a] == xml.lane_edge[lane]
        sig = lay.signal_ids[lay.approach_signal[a]]
        assert any(x == lane for x, _, _ in xml.links[sig])
    # every approach has a lane; approaches of one signal are distinct edges
    assert set(lay.lane_approach[: lay.n_in_lanes]) == set(range(lay.n_approaches))
    pairs = list(zip(lay.approach_signal.tolist(), lay.approach_ids, strict=True))
    assert len(set(pairs)) == len(pairs)


def test_a_lane_is_permissive_in_a_green_when_every_move_it_shows_is_g() -> None:
    """Links 0 (lane 0 through), 1 (lane 0 left), 2 (lane 1 left); greens: Ggg (lane 0 mixed,
    lane 1 only permissive), ggG, rGG, Grr (lane 0 protected through, its left red)."""
    base = dict(
        signal_ids=["a"],
        lane_ids=["l0", "l1", "o2", "o3"],
        n_in_lanes=2,
        lane_length_m=np.full(4, 50.0),
        phase_states=["Ggg", "ggG", "rGG", "Grr"],
        phase_signal=[0, 0, 0, 0],
        program_green_s=[20.0, 10.0, 10.0, 10.0],
        move_in_lane=[0, 0, 1],
        move_out_lane=[2, 3, 3],
        move_signal=[0, 0, 0],
        move_link_index=[0, 1, 2],
        yellow_s=[3.0],
        all_red_s=[0.0],
        approach_ids=["e0", "e1"],
        approach_signal=[0, 0],
        lane_approach=np.array([0, 1, -1, -1]),
    )
    lay = NetworkLayout.from_parts(**base)
    perm = lay.permissive_lanes()
    rows = [
        list(zip(lay.phase_lane_idx[lo:hi].tolist(), perm[lo:hi].tolist(), strict=True))
        for lo, hi in itertools.pairwise(lay.phase_lane_ptr.tolist())
    ]
    assert rows == [
        [(0, False), (1, True)],
        [(0, True), (1, False)],
        [(0, False), (1, False)],
        [(0, False)],
    ]


def test_phase_lanes_are_the_lanes_with_a_green_link(net: tuple) -> None:
    _, lay, _ = net
    for p, st in enumerate(lay.phase_states):
        s = lay.phase_signal[p]
        moves = [
            m
            for m in range(len(lay.move_in_lane))
            if lay.move_signal[m] == s and st[lay.move_link_index[m]] in GREEN
        ]
        got_moves = lay.phase_move_idx[lay.phase_move_ptr[p] : lay.phase_move_ptr[p + 1]]
        assert sorted(got_moves.tolist()) == moves
        got_lanes = lay.phase_lane_idx[lay.phase_lane_ptr[p] : lay.phase_lane_ptr[p + 1]]
        assert got_lanes.tolist() == sorted({int(lay.move_in_lane[m]) for m in moves})
        assert len(got_lanes) > 0  # every green serves some lane


def test_ingolstadt7_cluster_signal() -> None:
    """The large joined signal: one logic over several junctions, each green serving its links."""
    net_file = resco_dir("ingolstadt7") / "ingolstadt7.net.xml"
    xml = read_net(net_file)
    cluster = next(t for t in xml.programs if t.startswith("cluster_306484187"))
    with sumo_running(net_file) as api:
        lay = build_layout(api)
    s = lay.signal_ids.index(cluster)
    approaches = [a for a in range(lay.n_approaches) if lay.approach_signal[a] == s]
    assert len(approaches) >= 2
    greens = signal_greens(lay, s)
    n_links = len(xml.programs[cluster][0][0])
    assert len(greens) >= 2 and all(len(g) == n_links for g in greens)
    served = {
        int(lay.move_link_index[m])
        for p in range(lay.phase_ptr[s], lay.phase_ptr[s + 1])
        for m in lay.phase_move_idx[lay.phase_move_ptr[p] : lay.phase_move_ptr[p + 1]]
    }
    assert served == {k for _, _, k in xml.links[cluster] if any(g[k] in GREEN for g in greens)}


# --------------------------------------------------------------------------------------------
# scan_net errors


def test_scan_net_reads_signals_and_controlled_lanes() -> None:
    net_file = resco_dir("cologne1") / "cologne1.net.xml"
    xml = read_net(net_file)
    scan = scan_net(net_file)
    assert set(scan.tls_ids) == set(xml.programs)
    lanes = {a for links in xml.links.values() for a, _, _ in links}
    assert set(scan.controlled_lanes) == lanes
    assert all(scan.controlled_lanes[x] == xml.lane_length_m[x] for x in lanes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<net version="1.20"><edge id="a"><lane id="a_0" length="1"', "not valid XML"),
        ('<routes><vehicle id="v" depart="0"/></routes>', "not a SUMO network"),
        ('<net version="1.20"><edge id="a"><lane id="a_0" length="x"/></edge></net>', "malformed"),
    ],
)
def test_scan_net_rejects_bad_files(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.net.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as err:
        scan_net(path)
    assert "\n" not in str(err.value)


def test_scan_net_rejects_a_net_without_traffic_lights(no_tls_scenario: Path) -> None:
    with pytest.raises(InputError, match="no traffic lights"):
        scan_net(no_tls_scenario.parent / "notls.net.xml")


def test_scan_net_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        scan_net(tmp_path / "missing.net.xml")


def test_build_layout_rejects_a_net_without_traffic_lights(no_tls_scenario: Path) -> None:
    with (
        sumo_running(no_tls_scenario.parent / "notls.net.xml") as api,
        pytest.raises(InputError, match="no traffic lights"),
    ):
        build_layout(api)


# --------------------------------------------------------------------------------------------
# the one constructor and its helpers, on a hand-built layout


def test_csr_rows_compresses_rows_in_order() -> None:
    ptr, idx = csr_rows([[2, 0], [], [1]])
    assert ptr.tolist() == [0, 2, 2, 3] and idx.tolist() == [2, 0, 1]
    assert ptr.dtype == idx.dtype == np.int64
    ptr, idx = csr_rows([])
    assert ptr.tolist() == [0] and idx.shape == (0,)


@pytest.mark.parametrize(
    ("state", "green"),
    [("GGrr", True), ("grrs", True), ("rrrr", False), ("Gyrr", False), ("GYrr", False),
     ("Gurr", False), ("yyyy", False)],
)  # fmt: skip
def test_a_green_phase_has_green_and_no_yellow(state: str, green: bool) -> None:
    assert layout_mod.is_green_phase(state) is green


def test_from_parts_derives_phase_rows_and_clearances() -> None:
    """Signal 0: links 0 (lane 0 -> 3), 1 (lane 0 -> 4), 2 (lane 1 -> 3) and greens GGr, rrG,
    GrG; signal 1: link 0 (lane 2 -> 4), green G. A switch needs clearance where a link green
    before is not green after."""
    lay = NetworkLayout.from_parts(
        signal_ids=["a", "b"],
        lane_ids=["l0", "l1", "l2", "o3", "o4"],
        n_in_lanes=3,
        lane_length_m=np.full(5, 50.0),
        phase_states=["GGr", "rrG", "GrG", "G"],
        phase_signal=[0, 0, 0, 1],
        program_green_s=[20.0, 20.0, 10.0, 30.0],
        move_in_lane=[0, 0, 1, 2],
        move_out_lane=[3, 4, 3, 4],
        move_signal=[0, 0, 0, 1],
        move_link_index=[0, 1, 2, 0],
        yellow_s=[3.0, 3.0],
        all_red_s=[0.0, 2.0],
        approach_ids=["e0", "e1", "e2"],
        approach_signal=[0, 0, 1],
        lane_approach=np.array([0, 1, 2, -1, -1]),
    )
    assert lay.phase_ptr.tolist() == [0, 3, 4]
    moves = [lay.phase_move_idx[lay.phase_move_ptr[p] : lay.phase_move_ptr[p + 1]].tolist()
             for p in range(4)]  # fmt: skip
    lanes = [lay.phase_lane_idx[lay.phase_lane_ptr[p] : lay.phase_lane_ptr[p + 1]].tolist()
             for p in range(4)]  # fmt: skip
    assert moves == [[0, 1], [2], [0, 2], [3]]
    assert lanes == [[0], [1], [0, 1], [2]]
    want = [[False, True, True], [True, False, False], [True, True, False], [False, False, False]]
    assert lay.needs_clearance.tolist() == want
    with pytest.raises(ValueError, match="grouped by signal"):
        NetworkLayout.from_parts(**{**_parts(lay), "phase_signal": [0, 1, 0, 0]})


def _parts(lay: NetworkLayout) -> dict:
    keep = (
        "lane_length_m", "phase_states", "program_green_s", "move_in_lane", "move_out_lane",
        "move_signal", "move_link_index", "yellow_s", "all_red_s", "approach_ids",
        "approach_signal", "lane_approach", "signal_ids", "lane_ids", "n_in_lanes",
    )  # fmt: skip
    return {k: getattr(lay, k) for k in keep} | {"phase_signal": lay.phase_signal}


def two_link_layout(
    states: list[str],
    peds: frozenset[int],
    foes: dict[int, frozenset[int]] | None = None,
) -> NetworkLayout:
    """One signal ``a``: vehicle links 0 and 1 from lanes ``l0``/``l1`` into ``o2``, the other
    positions of ``states`` pedestrian links where ``peds`` says so."""
    return NetworkLayout.from_parts(
        signal_ids=["a"],
        lane_ids=["l0", "l1", "o2"],
        n_in_lanes=2,
        lane_length_m=np.full(3, 50.0),
        phase_states=states,
        phase_signal=[0] * len(states),
        program_green_s=[20.0] * len(states),
        move_in_lane=[0, 1],
        move_out_lane=[2, 2],
        move_signal=[0, 0],
        move_link_index=[0, 1],
        yellow_s=[3.0],
        all_red_s=[2.0],
        approach_ids=["e0", "e1"],
        approach_signal=[0, 0],
        lane_approach=np.array([0, 1, -1]),
        ped_links=[peds],
        ped_foes=[foes] if foes is not None else None,
    )


def test_a_continuing_crossing_clears_when_a_stream_crossing_it_ends() -> None:
    """Links 0 and 1 are vehicle links, 2 and 3 crossings; link 0's path crosses crossing 2,
    link 1's crosses crossing 3. From ``gGGG`` to the scramble ``rrGG`` both vehicle links end,
    so both crossings (green in both greens) are cleared too; from ``gGGG`` to ``rGGG`` only
    link 0 ends: crossing 2 is cleared, crossing 3 stays green. A crossing that opens clears
    the permissive link 0 as before."""
    peds, foes = frozenset({2, 3}), {2: frozenset({0}), 3: frozenset({1})}
    clears = layout_mod.clears
    assert clears("gGGG", "rrGG", peds, foes) == [True, True, True, True]
    assert clears("gGGG", "rGGG", peds, foes) == [True, False, True, False]
    assert clears("gGGG", "rGGG", peds) == [True, False, False, False]  # no paths known
    assert clears("gGrG", "gGGG", peds, foes) == [True, False, False, False]
    lay = two_link_layout(["gGGG", "rGGG"], peds, foes)
    assert lay.transition_state(0, 1, PED_CLEAR) == "gGrG"  # pedestrian clearance: crossing 2 red
    assert lay.transition_state(0, 1, YELLOW_STAGE) == "yGrG"
    assert lay.transition_state(0, 1, ALL_RED) == "rGrG"
    assert lay.transition_state(1, 0, YELLOW_STAGE) == "rGGG"  # nothing ends; link 0 opens after


def test_crossing_foes_are_the_links_from_or_to_the_edges_it_crosses(tmp_path: Path) -> None:
    """``layout.ped_foes`` (from SUMO's internal foes of the crossing lane) against the net file
    alone: a crossing is crossed by exactly the vehicle links that come from or go to an edge
    it crosses (``<crossing edges=...>``)."""
    from conftest import one_signal_ped_net

    net = one_signal_ped_net(tmp_path / "one.net.xml")
    root = ET.parse(net).getroot()
    crossed = {
        e.get("id"): set(e.get("crossingEdges", "").split())
        for e in root.iter("edge")
        if e.get("function") == "crossing"
    }
    link_of: dict[int, tuple[str, str]] = {}
    crossing_link: dict[int, str] = {}
    for c in root.iter("connection"):
        if c.get("tl") != "A0":
            continue
        k = int(c.get("linkIndex"))
        if c.get("to") in crossed:
            crossing_link[k] = c.get("to")
        elif not c.get("from").startswith(":"):
            link_of[k] = (c.get("from"), c.get("to"))
    with sumo_running(net) as api:
        lay = build_layout(api)
    assert set(lay.ped_foes[0]) == set(crossing_link) == lay.ped_links[0]
    for k, edge in crossing_link.items():
        want = {j for j, (a, b) in link_of.items() if a in crossed[edge] or b in crossed[edge]}
        assert lay.ped_foes[0][k] == want, k


def test_a_green_continues_another_when_it_only_closes_crossings() -> None:
    """Links 0 and 1 are vehicle links, 2 and 3 crossings. ``GgrG`` and ``Ggrr`` show the
    vehicles of ``GgGG`` as it does and only close crossings: they continue it (``Ggrr``, with
    fewer crossings open, is its continuation); ``GGrr`` changes a vehicle link, ``GgGG``
    itself and a green opening a crossing do not. Without crossings nothing continues."""
    states = ["GgGG", "GgrG", "Ggrr", "GGrr", "rgGG"]
    lay = two_link_layout(states, frozenset({2, 3}))
    assert lay.continues().tolist() == [
        [False, True, True, False, False],
        [False, False, True, False, False],
        [False] * 5,
        [False] * 5,
        [False] * 5,
    ]
    assert lay.vehicle_continuation().tolist() == [2, 2, -1, -1, -1]
    assert not two_link_layout(states, frozenset()).continues().any()
    assert two_link_layout(states, frozenset()).vehicle_continuation().tolist() == [-1] * 5
