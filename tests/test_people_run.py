"""People through the real runner (``sim.runner.run``): metrics and tables on ``downtown``, the
starvation bound for pedestrians, and no change on nets without people.

Real SUMO, short windows. The pedestrian starvation run uses a one-signal net made by netgenerate
(sidewalks, a crossing on each arm) and a controller registered only for the test that never asks
for a green serving a crossing.
"""

from __future__ import annotations

import csv
import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import bundled_scenario, one_signal_ped_net

import controllers
from controllers.base import REGISTRY, Controller
from sim.layout import NetworkLayout
from sim.people import run as people_run
from sim.people.crossings import read_crossings
from sim.people.kernels import DEFAULT_PED_SPEED_MPS, DEFAULT_WALK_S
from sim.runner import RunConfig, run
from sim.state import SensedState
from sim.timing import Timing, TimingParams

PEOPLE_KEYS = (
    "pedestrians",
    "ped_delay_s",
    "ped_wait_max_s",
    "delay_by_vclass_s",
    "person_delay_s",
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_downtown_run_has_people_metrics_and_tables(tmp_path: Path) -> None:
    """count on downtown, 300 s: the people metrics agree with SUMO's tripinfo and the tables."""
    out = tmp_path / "dt"
    cfg = RunConfig(scenario=bundled_scenario("downtown"), controller="count", end_s=300.0,
                    out=str(out))  # fmt: skip
    summary = run(cfg).summary
    root = ET.parse(out / "tripinfo.xml").getroot()
    walkers = [
        p for p in root.iter("personinfo")
        if float(p.get("depart", "-1")) >= 0 and p.find("walk") is not None
    ]  # fmt: skip
    assert summary["pedestrians"] == len(walkers) > 0
    assert summary["ped_delay_s"] > 0
    waits = rows(out / "ped_waits.csv")
    assert waits and summary["ped_wait_max_s"] == max(float(w["wait_s"]) for w in waits)
    crossings = rows(out / "crossings.csv")
    n_crossings = len(read_crossings(Path(summary["manifest"]["net_file"])))
    times = sorted({r["time_s"] for r in crossings}, key=float)
    assert len(crossings) == len(times) * n_crossings
    assert max(int(r["waiting_ped"]) for r in crossings) > 0
    by_class = summary["delay_by_vclass_s"]
    vtypes = {t.get("vType") for t in root.iter("tripinfo")}
    assert set(by_class) == {"passenger", "bus"} if "bus" in vtypes else {"passenger"}
    n = {c: 0 for c in by_class}
    for t in root.iter("tripinfo"):
        n["bus" if t.get("vType") == "bus" else "passenger"] += 1
    mean = sum(by_class[c] * n[c] for c in n) / sum(n.values())
    assert mean == pytest.approx(summary["delay_s"], rel=1e-9)
    assert summary["person_delay_s"] > 0


# ---------------------------------------------------------------------------------------------
# starvation bound for pedestrians, through the runner


class NeverCross(Controller):
    """Asks, every 20 s, for the other of the two greens that serve no crossing."""

    name = "test-never-cross"
    timing_defaults = TimingParams(min_green_s=5.0, max_green_s=30.0, max_wait_s=60.0)

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        super().reset(layout, rng)
        vehicle_links = set(layout.move_link_index.tolist())
        self.vehicle_only = [
            p for p, st in enumerate(layout.phase_states)
            if all(k in vehicle_links for k, c in enumerate(st) if c in "Gg")
        ]  # fmt: skip
        assert len(self.vehicle_only) == 2

    def decide(self, state: SensedState, timing: Timing) -> np.ndarray:
        self._request[0] = self.vehicle_only[int(state.time_s // 20) % 2]
        return self._request


@pytest.fixture()
def never_cross() -> Iterator[str]:
    REGISTRY[NeverCross.name] = NeverCross
    try:
        yield NeverCross.name
    finally:
        REGISTRY.pop(NeverCross.name, None)


@pytest.fixture(scope="module")
def ped_scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One signal ``A0`` with a crossing on each arm and a pedestrian every 8 s on one of the
    four walks across; no vehicles, so only pedestrians give the greens with crossings demand
    (each of them serves the same vehicle lanes as a green without crossings)."""
    folder = tmp_path_factory.mktemp("ped_run")
    net = folder / "one.net.xml"
    one_signal_ped_net(net)
    walks = [("left0A0", "A0right0"), ("top0A0", "A0bottom0"), ("right0A0", "A0left0"),
             ("bottom0A0", "A0top0")]  # fmt: skip
    body = "".join(
        f'  <person id="p{i}" depart="{8 * i}"><walk from="{walks[i % 4][0]}" '
        f'to="{walks[i % 4][1]}"/></person>\n'
        for i in range(60)
    )
    routes = folder / "one.rou.xml"
    routes.write_text(f"<routes>\n{body}</routes>\n", encoding="utf-8")
    return net, routes


def test_waiting_pedestrians_get_green_within_the_starvation_bound(
    ped_scenario: tuple[Path, Path], never_cross: str, tmp_path: Path
) -> None:
    """A controller that never asks for a crossing: pedestrians still cross, no single wait
    beyond max_wait + n_greens x (the longest green forced: walk + clearance + yellow + the
    all-red a vehicle left inside the junction may add) + one clearance."""
    net, routes = ped_scenario
    out = tmp_path / "never"
    cfg = RunConfig(net_file=str(net), route_files=(str(routes),), controller=never_cross,
                    end_s=600.0, out=str(out))  # fmt: skip
    summary = run(cfg).summary
    crossing_m = [float(x.get("length", "0")) for x in ET.parse(net).getroot().iter("lane")
                  if x.get("id", "").startswith(":A0_c")]  # fmt: skip
    walk_clear_s = DEFAULT_WALK_S + max(crossing_m) / DEFAULT_PED_SPEED_MPS
    signals = rows(out / "signals.csv")
    greens = {r["phase"] for r in signals}
    change_s = 3.0 + 0.0 + 5.0  # the net program's yellow, no all-red; --box-clear-max-s
    bound_s = 60.0 + len(greens) * (max(5.0, walk_clear_s) + change_s) + change_s
    assert summary["pedestrians"] > 0
    assert 20.0 < summary["ped_wait_max_s"] <= bound_s
    # only waiting pedestrians bring a crossing green here: each shows at least the walk (the
    # clearance that follows shows the crossing red)
    ped_links = {int(c.get("linkIndex", "-1")) for c in ET.parse(net).getroot().iter("connection")
                 if c.get("tl") and c.get("from", "").startswith(":")}  # fmt: skip
    crossing_greens = [
        float(b["time_s"]) - float(a["time_s"])
        for a, b in itertools.pairwise(signals)
        if a["stage"] == "0"
        and float(a["time_s"]) > 0  # the program's own green at 0 s
        and any(a["state"][k] in "Gg" for k in ped_links)
    ]
    assert crossing_greens and min(crossing_greens) >= DEFAULT_WALK_S - 1e-6
    served = {r["crossing"] for r in rows(out / "ped_waits.csv")}
    assert len(served) == 4  # pedestrians waited (and were let across) on every arm
    early = [  # a walk of at most 350 m takes under 300 s, waits within the bound included
        w for p in ET.parse(out / "tripinfo.xml").getroot().iter("personinfo")
        if float(p.get("depart", "-1")) <= 600.0 - 300.0 - bound_s for w in p.iter("walk")
    ]  # fmt: skip
    assert early and all(float(w.get("arrival", "-1")) >= 0 for w in early)


# ---------------------------------------------------------------------------------------------
# nets without people: as before


def test_a_net_without_people_runs_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """single (no sidewalks, cars only): no people during the run, neutral people metrics; forcing
    the people machinery on gives the same signals and vehicle metrics."""
    base = RunConfig(scenario=bundled_scenario("single"), controller="count", end_s=300.0)
    created: list[object] = []
    start = people_run.start

    def spy(*args: object) -> object:
        created.append(start(*args))
        return created[-1]

    monkeypatch.setattr(people_run, "start", spy)
    a = run(RunConfig(**{**base.__dict__, "out": str(tmp_path / "a")})).summary
    assert created == [None]
    assert not (tmp_path / "a" / "crossings.csv").exists()
    assert a["pedestrians"] == 0 and a["ped_delay_s"] is None and a["ped_wait_max_s"] is None
    assert a["delay_by_vclass_s"] == {"passenger": pytest.approx(a["delay_s"], rel=1e-9)}
    assert a["person_delay_s"] == pytest.approx(a["delay_s"], rel=1e-9)
    monkeypatch.setattr(people_run, "other_vehicles", lambda files: True)
    b = run(RunConfig(**{**base.__dict__, "out": str(tmp_path / "b")})).summary
    assert isinstance(created[-1], people_run.PeopleAtSignals)
    skip = {"wall_s", "manifest"}
    assert {k: v for k, v in a.items() if k not in skip} == {
        k: v for k, v in b.items() if k not in skip
    }
    assert (tmp_path / "a" / "signals.csv").read_bytes() == (
        tmp_path / "b" / "signals.csv"
    ).read_bytes()
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["pedestrians"] == 0


def test_people_options_are_checked() -> None:
    """One-line errors for --walk-s, --ped-speed-mps and --occupancy."""
    from sim.errors import InputError

    for kw, message in (
        ({"walk_s": -1.0}, "--walk-s"),
        ({"ped_speed_mps": 0.0}, "--ped-speed-mps"),
        ({"occupancy": "bus=-2"}, "--occupancy"),
        ({"occupancy": "tank=2"}, "unknown vehicle class"),
    ):
        with pytest.raises(InputError, match=message):
            RunConfig(scenario="single", **kw).validate()
    params = RunConfig(scenario="single", occupancy="bus=60", sensing="detectors").people_params()
    assert params.occupancy["bus"] == 60.0 and params.push_buttons
    assert controllers.get("count")  # the registry is intact
