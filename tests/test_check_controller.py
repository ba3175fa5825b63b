"""``check_controller`` passes every registered controller and catches broken ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import resco_dir, sumo_running

import controllers
from controllers import Controller, check_controller
from controllers.check import random_layout
from controllers.greedy import Greedy
from sim.layout import build_layout


@pytest.mark.parametrize("name", controllers.available())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_registered_controller_passes(name: str, seed: int) -> None:
    check_controller(name, seed=seed)


def test_webster_replanning_passes() -> None:
    check_controller("webster", params={"update_s": 30.0}, n_steps=200)


def test_passes_on_a_real_layout() -> None:
    net = resco_dir("cologne3") / "cologne3.net.xml"
    with sumo_running(net) as api:
        layout = build_layout(api)
    for name in controllers.available():
        check_controller(name, layout=layout, n_steps=100)


class _Broken(Greedy):
    """Greedy with one defect switched on by a subclass."""

    name = "broken"

    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        return super().decide(state, timing)


class MutatesState(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        state.queue_veh[0] = 0 if state.queue_veh[0] else 1
        return super().decide(state, timing)


class ReadsTruth(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        if state.halting_veh.sum() > 0:  # ground truth: not in the sensed view
            raise AssertionError("unreachable: the sensed view has no halting_veh")
        return super().decide(state, timing)


class MutatesTiming(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        timing.t_stage_s += 1.0
        return super().decide(state, timing)


class WrongShape(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        return np.append(super().decide(state, timing), -1)


class WrongDtype(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        return super().decide(state, timing).astype(np.int32)


class ForeignPhase(_Broken):
    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        out = super().decide(state, timing).copy()
        out[0] = self.layout.n_phases  # not a phase of signal 0
        return out


class Random(_Broken):
    def reset(self, layout, rng):  # type: ignore[no-untyped-def]
        super().reset(layout, rng)
        self._own_rng = np.random.default_rng()  # ignores the seed

    def decide(self, state, timing):  # type: ignore[no-untyped-def]
        lo = self.layout.phase_ptr[:-1]
        return lo + self._own_rng.integers(0, self.layout.n_greens)


@dataclasses.dataclass
class MutableParams:
    period_s: float = 10.0


class MutableParamsController(_Broken):
    Params = MutableParams


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (MutatesState, "modified the sensed state"),
        (ReadsTruth, "sensed view does not hold"),
        (MutatesTiming, "modified the timing"),
        (WrongShape, "shape"),
        (WrongDtype, "dtype"),
        (ForeignPhase, "requested phase"),
        (Random, "not deterministic"),
        (MutableParamsController, "frozen"),
    ],
)
def test_catches_a_broken_controller(cls: type[Controller], message: str) -> None:
    layout = random_layout(np.random.default_rng(3), n_signals=4)
    with pytest.raises(AssertionError, match=message):
        check_controller(cls, layout=layout, n_steps=50)


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="n_steps"):
        check_controller("greedy", n_steps=0)
    with pytest.raises(ValueError, match="controller name or Controller subclass"):
        check_controller(42)  # type: ignore[arg-type]
