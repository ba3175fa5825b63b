"""Conformance check for controllers, in the spirit of Gymnasium's ``env_checker``.

:func:`check_controller` runs a controller without SUMO on a synthetic (or given) layout with
random traffic, the shared timing kernel applying its requests, and checks the contract the
runner relies on:

* ``Params`` is a frozen dataclass of floats whose defaults construct and validate;
* ``decide`` returns a numpy array of shape [n_signals] and dtype int64 whose entries are -1 or a
  green phase of that signal (``phase_ptr[s] <= p < phase_ptr[s + 1]``);
* two instances reset with the same seed and fed the same inputs return the same requests, also
  when the second sees ``moving_veh`` only on the lanes its ``moving_lanes`` names (0 elsewhere,
  as ``Backend.read`` leaves them), which must be incoming lanes;
* ``decide`` reads only the sensed view (``sim.state.SensedState``: no true counts) and does
  not modify it or the timing arrays it reads.

Controllers with ``drives_signals = False`` (SUMO times their signals) only get the ``Params``
checks. A failed check raises ``AssertionError`` naming the controller and the step; bad
arguments raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from controllers.base import Controller, get
from sim.layout import NetworkLayout
from sim.state import SensedState
from sim.timing import Timing, phase_demand_kernel


def random_layout(rng: np.random.Generator, n_signals: int | None = None) -> NetworkLayout:
    """A synthetic :class:`NetworkLayout` without SUMO: 1–4 greens per signal, 2–6 incoming
    lanes each with 1–2 movements into another signal's incoming lane or an outgoing-only lane,
    distinct green states, yellow 3 s, all-red 0 or 2 s."""
    if n_signals is None:
        n_signals = int(rng.integers(1, 6))
    if n_signals < 1:
        raise ValueError(f"n_signals must be at least 1, got {n_signals}")
    n_in_per = [int(rng.integers(2, 7)) for _ in range(n_signals)]
    n_in = sum(n_in_per)
    n_out_only = int(rng.integers(1, 2 * n_signals + 2))
    n_lanes = n_in + n_out_only
    first_in = np.concatenate([[0], np.cumsum(n_in_per)])

    move_in: list[int] = []
    move_out: list[int] = []
    move_sig: list[int] = []
    move_k: list[int] = []
    signal_moves: list[list[int]] = []
    for s in range(n_signals):
        own = list(range(first_in[s], first_in[s + 1]))
        targets = [x for x in range(n_lanes) if x not in own]
        moves = []
        for lane in own:
            for _ in range(int(rng.integers(1, 3))):
                moves.append(len(move_in))
                move_in.append(lane)
                move_out.append(int(rng.choice(targets)))
                move_sig.append(s)
                move_k.append(len(moves) - 1)
        signal_moves.append(moves)

    phase_states: list[str] = []
    phase_signal: list[int] = []
    for s in range(n_signals):
        own = list(range(first_in[s], first_in[s + 1]))
        n_greens = int(rng.integers(1, min(4, len(own)) + 1))
        states: list[str] = []
        while len(states) < n_greens:
            k = int(rng.integers(1, len(own) + 1))
            lanes = set(rng.choice(own, size=k, replace=False).tolist())
            st = "".join("G" if move_in[m] in lanes else "r" for m in signal_moves[s])
            if st not in states:
                states.append(st)
        phase_states += states
        phase_signal += [s] * len(states)

    lane_approach = np.full(n_lanes, -1, dtype=np.int64)
    lane_approach[:n_in] = np.arange(n_in)
    return NetworkLayout.from_parts(
        signal_ids=[f"s{s}" for s in range(n_signals)],
        lane_ids=[f"l{x}" for x in range(n_lanes)],
        n_in_lanes=n_in,
        lane_length_m=rng.uniform(30.0, 300.0, n_lanes),
        phase_states=phase_states,
        phase_signal=phase_signal,
        move_in_lane=move_in,
        move_out_lane=move_out,
        move_signal=move_sig,
        move_link_index=move_k,
        yellow_s=np.full(n_signals, 3.0),
        all_red_s=rng.choice([0.0, 2.0], size=n_signals),
        # drawn last: the draw order fixes the layout a seed gives
        program_green_s=rng.uniform(5.0, 40.0, len(phase_states)).round(),
        approach_ids=[f"e{x}" for x in range(n_in)],
        approach_signal=np.repeat(np.arange(n_signals), n_in_per),
        lane_approach=lane_approach,
    )


def random_traffic(rng: np.random.Generator, state: SensedState) -> None:
    """Fill ``state`` in place with random but consistent sensed counts: ``queue_veh`` and
    ``near_veh`` at most the vehicles on the lane (drawn up to its capacity), ``moving_veh`` the
    near vehicles that do not queue."""
    cap = np.floor(state.capacity_veh).astype(np.int64)
    lane = rng.integers(0, cap + 1)
    # many empty lanes, so that phases without demand occur
    lane[rng.random(lane.shape[0]) < 0.4] = 0
    queue = rng.integers(0, lane + 1)
    near = rng.integers(0, lane + 1)
    state.queue_veh[:] = queue
    state.near_veh[:] = near
    state.moving_veh[:] = np.maximum(near - queue, 0)


def _arrays(obj: Any, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        val = getattr(obj, name, None)
        if isinstance(val, np.ndarray):
            out[name] = val.copy()
        elif isinstance(val, float | int):
            out[name] = val
    return out


def _state_fields(state: SensedState) -> list[str]:
    return [f.name for f in dataclasses.fields(state)]


def _timing_fields(timing: Timing) -> list[str]:
    return [k for k, v in vars(timing).items() if isinstance(v, np.ndarray | float | int)]


def _resolve(name_or_cls: str | type[Controller]) -> type[Controller]:
    if isinstance(name_or_cls, str):
        return get(name_or_cls)
    if isinstance(name_or_cls, type) and issubclass(name_or_cls, Controller):
        return name_or_cls
    raise ValueError(f"expected a controller name or Controller subclass, got {name_or_cls!r}")


def check_params(cls: type[Controller]) -> None:
    """``Params`` is a frozen dataclass of float fields whose defaults construct and validate."""
    name = cls.name or cls.__name__
    params_cls = cls.Params
    assert dataclasses.is_dataclass(params_cls), f"{name}: Params must be a dataclass"
    params = params_cls()
    for f in dataclasses.fields(params_cls):
        val = getattr(params, f.name)
        assert isinstance(val, float | bool | str), f"{name}: {f.name} must be float, bool or str"
        try:
            setattr(params, f.name, val)
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError(f"{name}: Params must be a frozen dataclass")
    validate = getattr(params, "validate", None)
    if validate is not None:
        validate()
    parsed = cls.parse_params({})
    assert parsed == params, f"{name}: parse_params({{}}) must give the defaults"


def check_controller(
    name_or_cls: str | type[Controller],
    layout: NetworkLayout | None = None,
    n_steps: int = 300,
    seed: int = 0,
    params: Mapping[str, float] | None = None,
    dt_s: float = 1.0,
) -> None:
    """Check a controller against the runner's contract (module docstring); None when it passes.

    ``layout`` defaults to :func:`random_layout` of ``seed``; ``params`` override the defaults;
    ``n_steps`` steps of ``dt_s`` seconds are run with random traffic and the shared timing kernel.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    if not dt_s > 0:
        raise ValueError(f"dt_s must be positive, got {dt_s}")
    cls = _resolve(name_or_cls)
    name = cls.name or cls.__name__
    check_params(cls)
    if not cls.drives_signals:
        return
    rng = np.random.default_rng(seed)
    if layout is None:
        layout = random_layout(rng)
    parsed = cls.parse_params(dict(params or {}))
    a, b = cls(parsed), cls(parsed)
    a.reset(layout, np.random.default_rng(seed))
    b.reset(layout, np.random.default_rng(seed))
    timing_a = Timing(layout, cls.timing_defaults, dt_s)
    timing_b = Timing(layout, cls.timing_defaults, dt_s)
    state = SensedState.empty(layout)
    demand = np.zeros(layout.n_phases, dtype=np.bool_)
    lo = layout.phase_ptr[:-1]
    hi = layout.phase_ptr[1:]
    s_fields = _state_fields(state)
    t_fields = _timing_fields(timing_a)
    for step in range(n_steps):
        state.time_s = step * dt_s
        random_traffic(rng, state)
        before_state = _arrays(state, s_fields)
        before_timing = _arrays(timing_a, t_fields)
        where = f"{name}: step {step}"
        try:
            out_a = a.decide(state, timing_a)
        except AttributeError as exc:
            raise AssertionError(
                f"{where}: decide read what the sensed view does not hold ({exc}); controllers "
                "get only sim.state.SensedState, never the true counts"
            ) from exc
        for key, val in before_state.items():
            assert np.array_equal(getattr(state, key), val), (
                f"{where}: decide modified the sensed state ({key})"
            )
        for key, val in before_timing.items():
            assert np.array_equal(getattr(timing_a, key), val), (
                f"{where}: decide modified the timing ({key})"
            )
        assert isinstance(out_a, np.ndarray), (
            f"{where}: decide must return a numpy array, got {type(out_a).__name__}"
        )
        assert out_a.shape == (layout.n_signals,), (
            f"{where}: decide returned shape {out_a.shape}, expected ({layout.n_signals},)"
        )
        assert out_a.dtype == np.int64, f"{where}: decide returned dtype {out_a.dtype}, not int64"
        bad = (out_a != -1) & ((out_a < lo) | (out_a >= hi))
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise AssertionError(
                f"{where}: signal {s} requested phase {int(out_a[s])}, not -1 nor one of its "
                f"greens {int(lo[s])}..{int(hi[s]) - 1}"
            )
        req = out_a.copy()
        seen_b = state
        lanes = b.moving_lanes(timing_b)
        if lanes is not None:
            assert np.all((lanes >= 0) & (lanes < layout.n_in_lanes)), (
                f"{where}: moving_lanes names lanes that are not incoming lanes"
            )
            seen_b = dataclasses.replace(state, moving_veh=np.zeros_like(state.moving_veh))
            seen_b.moving_veh[lanes] = state.moving_veh[lanes]
        out_b = b.decide(seen_b, timing_b)
        assert np.array_equal(out_b, req), (
            f"{where}: two instances with the same seed and inputs requested {req.tolist()} "
            f"and {np.asarray(out_b).tolist()} (not deterministic, or decide reads moving_veh "
            "outside moving_lanes)"
        )
        phase_demand_kernel(
            layout.phase_lane_ptr, layout.phase_lane_idx, state.queue_veh, state.near_veh, demand
        )
        timing_a.step(req, demand)
        timing_b.step(req, demand)
