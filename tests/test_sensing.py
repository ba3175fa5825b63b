"""Sensing modes: ``ideal`` (whole-lane counts) against ``detectors`` (lane-area detectors of a
given length at each controlled stop line), on real SUMO runs.

Detectors see less than the ideal view: a 50 m detector on a 186 m lane misses the tail of a
longer queue, so on the same step the sensed queue is at most the true halting count.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import bundled_scenario

import controllers
from controllers.check import random_layout
from sim.backend import Backend
from sim.errors import InputError
from sim.runner import RunConfig, run
from sim.scenario import NetScan
from sim.sensing import lane_detectors, upstream_chain, write_detectors
from sim.state import SensedState, TrueCounts

DETECTOR_LENGTH_M = 50.0
COUNT_READERS = [n for n in controllers.available() if controllers.get(n).drives_signals]
"""Controllers that lightwatch drives from counts (the others leave timing to SUMO)."""


def _queues(out: Path) -> str:
    return (out / "queues.csv").read_text()


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("controller", COUNT_READERS)
def test_detector_sensing_runs_and_changes_the_run(controller: str, tmp_path: Path) -> None:
    name = bundled_scenario("single")
    # webster re-plans from measured flows every 15 min: give it two plans
    end_s = 1900.0 if controller == "webster" else 600.0
    runs = {}
    for sensing in ("ideal", "detectors"):
        out = tmp_path / sensing
        cfg = RunConfig(
            scenario=name,
            controller=controller,
            end_s=end_s,
            sensing=sensing,
            detector_length_m=DETECTOR_LENGTH_M,
            out=str(out),
        )
        runs[sensing] = run(cfg).summary
        assert runs[sensing]["arrived"] > 0
        assert runs[sensing]["manifest"]["config"]["sensing"] == sensing
    assert runs["detectors"]["manifest"]["config"]["detector_length_m"] == DETECTOR_LENGTH_M
    # the controller acted on what the detectors saw: the signal timing and so the queues differ
    assert _queues(tmp_path / "ideal") != _queues(tmp_path / "detectors")


def _long_lanes(detector_file: Path, min_length_m: float) -> set[str]:
    """Controlled lanes at least ``min_length_m`` long whose detector lies on that lane alone."""
    root = ET.parse(detector_file).getroot()
    return {
        d.get("lane", "")
        for d in root
        if d.get("lane") and float(d.get("endPos", "0")) >= min_length_m
    }


@pytest.mark.parametrize("length_m", [DETECTOR_LENGTH_M, 25.0])
def test_detectors_see_at_most_the_true_queue_on_every_step(
    length_m: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the same step, the queue sensed by a detector is ≤ the ideal (whole-lane) queue, on the
    lanes longer than 50 m (the corridor's side streets, 186 m). Their queues under ``count`` stay
    within about 50 m, so a 25 m detector must miss some of them (strictly less), a 50 m one may
    not.

    Lanes shorter than the detector are left out: their detector continues upstream, and a
    left-turner waiting inside the junction still overlaps the detector while the whole-lane
    count, which goes by the vehicle's front, no longer counts it."""
    name = bundled_scenario("corridor")
    out = tmp_path / "det"
    seen: dict[str, object] = {}
    read = Backend.read

    def capture(self: Backend, sensed, truth, **kw) -> None:
        read(self, sensed, truth, **kw)
        seen["sensed"], seen["truth"] = sensed, truth

    monkeypatch.setattr(Backend, "read", capture)
    n_steps = 0
    over = np.zeros(0, dtype=np.int64)  # steps with sensed > true, per checked lane
    missed = np.zeros(0, dtype=np.int64)  # vehicles missed (true - sensed), summed over steps
    idx = np.zeros(0, dtype=np.int64)

    def on_step(backend: Backend, timing) -> None:
        nonlocal n_steps, over, missed, idx
        if n_steps == 0:
            det_file = out.with_name(out.name + ".partial") / "detectors.add.xml"
            single = _long_lanes(det_file, DETECTOR_LENGTH_M)
            lanes = backend._lanes[: backend._n_in]
            idx = np.array([i for i, lane in enumerate(lanes) if lane in single], dtype=np.int64)
            over = np.zeros(len(idx), dtype=np.int64)
            missed = np.zeros(len(idx), dtype=np.int64)
        sensed = seen["sensed"].queue_veh[idx].astype(np.int64)
        truth = seen["truth"].halting_veh[idx].astype(np.int64)
        over += sensed > truth
        missed += truth - sensed
        n_steps += 1

    cfg = RunConfig(
        scenario=name,
        controller="count",
        profile="saturated",  # queues longer than the detector
        end_s=900,
        sensing="detectors",
        detector_length_m=length_m,
        out=str(out),
    )
    run(cfg, on_step=on_step)
    assert n_steps >= 800
    assert len(idx) >= 8, "corridor should have controlled lanes longer than the detector"
    assert over.sum() == 0, f"sensed queue above the true queue on {int(over.sum())} lane-steps"
    if length_m < DETECTOR_LENGTH_M:
        assert missed.sum() > 0, f"a {length_m:g} m detector never missed part of a queue"


# --------------------------------------------------------------------------------------------
# the sensed view holds no ground truth


def test_sensed_state_holds_no_true_counts() -> None:
    sensed = {f.name for f in dataclasses.fields(SensedState)}
    truth = {f.name for f in dataclasses.fields(TrueCounts)}
    assert truth == {"halting_veh", "lane_veh"}
    assert not sensed & truth
    lay = random_layout(np.random.default_rng(0))
    with pytest.raises(AttributeError):
        SensedState.empty(lay).halting_veh  # noqa: B018  (slots: no such attribute)


def test_controllers_get_only_the_sensed_view_in_a_real_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = controllers.create
    seen: list[object] = []

    def spying_create(name: str, params=None):  # type: ignore[no-untyped-def]
        ctl = create(name, params)
        decide = ctl.decide

        def spy(state, timing):  # type: ignore[no-untyped-def]
            seen.append(state)
            return decide(state, timing)

        ctl.decide = spy  # type: ignore[method-assign]
        return ctl

    monkeypatch.setattr(controllers, "create", spying_create)
    cfg = RunConfig(scenario=bundled_scenario("single"), end_s=60.0, out=str(tmp_path / "r"))
    run(cfg)
    assert len(seen) >= 50
    assert all(type(s) is SensedState for s in seen)


# --------------------------------------------------------------------------------------------
# sim.sensing: detector files and the lane -> detector link


def test_detectors_continue_upstream_and_quote_odd_lane_ids(tmp_path: Path) -> None:
    """A 30 m controlled lane fed by a 40 m lane: a 50 m detector starts 20 m before the
    feeder's end (40 + 29.9 - 50 = 19.9 m); ids with XML special characters survive."""
    lane = 'a&"<b>_0'
    scan = NetScan(
        tls_ids=("t",),
        controlled_lanes={lane: 30.0},
        lane_length_m={lane: 30.0, "up_0": 40.0},
        feeders={lane: ("up_0",)},
    )
    path = tmp_path / "d.add.xml"
    detector_of = write_detectors(path, scan, 50.0, prefix="p_")
    assert detector_of == {lane: "p_" + lane}
    (det,) = ET.parse(path).getroot()
    assert det.get("id") == "p_" + lane
    assert det.get("lanes") == f"up_0 {lane}"
    assert float(det.get("pos", "nan")) == pytest.approx(19.9)
    assert float(det.get("endPos", "nan")) == pytest.approx(29.9)
    assert upstream_chain(scan, lane, 25.0) == [lane]  # long enough: no feeder needed


def test_lane_detectors_follow_the_layout_order() -> None:
    lay = random_layout(np.random.default_rng(4))
    incoming = lay.lane_ids[: lay.n_in_lanes]
    detector_of = {lane: f"det{k}" for k, lane in reversed(list(enumerate(incoming)))}
    assert lane_detectors(lay, detector_of) == [f"det{k}" for k in range(lay.n_in_lanes)]
    del detector_of[incoming[1]]
    with pytest.raises(InputError, match=f"no detector for controlled lane '{incoming[1]}'"):
        lane_detectors(lay, detector_of)


# --------------------------------------------------------------------------------------------
# what a run reads: the gap set only for a controller that reads moving_veh, and only the lanes
# a decision needs


@pytest.mark.parametrize("controller", ["count", "max-pressure"])
def test_gap_detectors_only_for_a_controller_that_reads_moving(
    controller: str, tmp_path: Path
) -> None:
    out = tmp_path / controller
    run(
        RunConfig(
            scenario=bundled_scenario("single"), controller=controller, end_s=60.0, out=str(out)
        )
    )
    assert (out / "detectors.add.xml").is_file()
    reads = controllers.get(controller).reads_moving
    assert reads == (controller == "count")
    assert (out / "gap_detectors.add.xml").is_file() == reads


def test_reading_moving_only_on_holding_lanes_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``count`` on grid4x4 with ``moving_veh`` read on every lane and only on the lanes of the
    greens past min green: the same signal timing, queues and delay."""
    name = bundled_scenario("grid4x4")
    read = Backend.read
    n_read: list[int] = []

    def counting(self: Backend, sensed, truth, **kw) -> None:  # type: ignore[no-untyped-def]
        lanes = kw.get("moving_lanes")
        n_read.append(self._n_in if lanes is None else len(lanes))
        read(self, sensed, truth, **kw)

    monkeypatch.setattr(Backend, "read", counting)
    cfg = RunConfig(scenario=name, controller="count", end_s=900.0, out=str(tmp_path / "some"))
    some = run(cfg).summary
    n_some = sum(n_read)
    n_read.clear()
    monkeypatch.setattr(controllers.get("count"), "moving_lanes", lambda self, timing: None)
    every = run(dataclasses.replace(cfg, out=str(tmp_path / "all"))).summary
    assert n_some < 0.8 * sum(n_read), "the holding lanes should be a minority of the lanes"
    assert some["delay_s"] == every["delay_s"]
    for f in ("signals.csv", "queues.csv"):
        assert (tmp_path / "some" / f).read_text() == (tmp_path / "all" / f).read_text()
