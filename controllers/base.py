"""Controller protocol and the registry that maps names to controller classes."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from sim.errors import InputError
from sim.layout import NetworkLayout
from sim.scenario import NetScan
from sim.state import SensedState
from sim.timing import Timing, TimingParams


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A controller without parameters of its own."""


class Controller:
    """Base class. Subclasses set ``name``, ``Params`` and implement :meth:`decide`.

    ``drives_signals`` False means SUMO times the signals itself (fixed-time or SUMO's own
    adaptive programs); the runner then only records. ``reads_moving`` True asks for
    ``SensedState.moving_veh`` within the gap range: with ideal sensing the run then adds the gap
    detectors (``sim.sensing``), and :meth:`moving_lanes` may narrow which lanes are read.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    drives_signals: ClassVar[bool] = True
    reads_moving: ClassVar[bool] = False
    Params: ClassVar[type] = NoParams
    timing_defaults: ClassVar[TimingParams] = TimingParams()

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()
        self.layout: NetworkLayout | None = None
        self._request: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    @classmethod
    def parse_params(cls, values: Mapping[str, str | float | bool]) -> Any:
        """Build ``Params`` from ``{name: value}``; unknown names or bad values raise InputError.

        A field's annotation decides the conversion: ``float`` takes numbers (or their text),
        ``bool`` takes true/false, yes/no, 1/0 (any case), ``str`` takes text.
        """
        fields = {f.name: f for f in dataclasses.fields(cls.Params)}
        hints = typing.get_type_hints(cls.Params)
        kwargs: dict[str, float | bool | str] = {}
        for key, raw in values.items():
            k = key.replace("-", "_")
            if k not in fields:
                known = ", ".join(fields) or "none"
                raise InputError(
                    f"controller {cls.name!r} has no parameter {key!r} (known: {known})"
                )
            kwargs[k] = parse_value(key, raw, hints.get(k, float))
        params = cls.Params(**kwargs)
        validate = getattr(params, "validate", None)
        if validate is not None:
            validate()
        return params

    def sumo_args(self, scan: NetScan, workdir: Path) -> list[str]:
        """Extra SUMO options this controller needs (e.g. an additional program file)."""
        return []

    def additional_files(self, scan: NetScan, workdir: Path) -> list[Path]:
        """Additional files (e.g. signal programs) this controller writes into ``workdir`` for
        SUMO to load; the runner adds them to its single ``-a`` list, after the scenario's own."""
        return []

    def reset(self, layout: NetworkLayout, rng: np.random.Generator) -> None:
        """Prepare for a run on ``layout``; called once before the first step."""
        self.layout = layout
        self._request = np.full(layout.n_signals, -1, dtype=np.int64)

    def decide(self, state: SensedState, timing: Timing) -> NDArray[np.int64]:
        """Requested green (global phase index, -1 keeps the current one), shape [n_signals].

        ``state`` is the sensed view only (``sim.state.SensedState``): what the detectors
        report, never the true lane counts.
        """
        raise NotImplementedError

    def moving_lanes(self, timing: Timing) -> NDArray[np.int64] | None:
        """Incoming lanes whose ``moving_veh`` the next :meth:`decide` reads (called just before
        the step's readings, with the ``timing`` that decision will see), or None for all. Lanes
        left out read 0 this step, which saves two SUMO calls per lane."""
        return None

    def param_dict(self) -> dict[str, float | bool | str]:
        return dataclasses.asdict(self.params)


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def parse_value(key: str, raw: Any, kind: Any) -> float | bool | str:
    """``raw`` converted to ``kind`` (``float``, ``bool`` or ``str``), else a one-line InputError
    naming the parameter ``key`` and the expected type."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, str | int) else ""
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise InputError(f"parameter {key!r} must be true or false (or yes/no, 1/0), got {raw!r}")
    if kind is str:
        if isinstance(raw, str) and raw.strip():
            return raw.strip()
        raise InputError(f"parameter {key!r} must be a non-empty string, got {raw!r}")
    if isinstance(raw, bool):
        raise InputError(f"parameter {key!r} must be a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise InputError(f"parameter {key!r} must be a number, got {raw!r}") from None


REGISTRY: dict[str, type[Controller]] = {}


def register(cls: type[Controller]) -> type[Controller]:
    """Class decorator: add a controller under ``cls.name``; duplicates are refused."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in REGISTRY:
        raise ValueError(f"controller name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> type[Controller]:
    """Controller class by name, or an InputError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(
            f"unknown controller {name!r}; choose one of {', '.join(REGISTRY)}"
        ) from None


def create(name: str, params: Mapping[str, str | float] | None = None) -> Controller:
    cls = get(name)
    return cls(cls.parse_params(params or {}))
