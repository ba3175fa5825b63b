"""Run one scenario with one controller and seed, and write its results.

The loop (no logic of its own beyond wiring):
    step SUMO → read state into arrays → controller requests greens → timing kernel makes them
    safe → set the states of signals that changed → record queues.
People (``sim.people.run``; only when a controlled signal has a crossing or the demand has
vehicles other than cars): read waiting pedestrians and occupants after the vehicle state, hand
them to the sensed state after the detector faults, OR waiting pedestrians into the sensed and the
true demand, tell the timing kernel where people wait at or walk on crossings (its pedestrian
clearance), and after the timing step hold a green that began with pedestrians waiting for the
walk. With SUMO-timed controllers pedestrians are only recorded.
Results are written into ``<out>.partial/`` and moved to ``<out>/`` only when complete; a run that
fails mid-way leaves ``<out>.partial/`` with a ``PARTIAL`` file saying why.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim import __version__, outdir
from sim.backend import Backend
from sim.deadlock import DEADLOCK_SAMPLE_S, DeadlockWatch
from sim.errors import InputError, LightwatchError, RunFailed, Terminated
from sim.faults import (
    SUSPECT_AFTER_S,
    DetectorFaults,
    GridlockWatch,
    SuspectDetector,
    check_fault_options,
    red_wait_kernel,
)
from sim.junction_box import JunctionBox
from sim.layout import NetworkLayout, build_layout
from sim.metrics import QueueRecorder, statistics_metrics, tripinfo_metrics
from sim.people import run as people_run
from sim.report.outputs import study_metrics, study_sumo_args
from sim.results import SignalRecorder, check_format, write_queues
from sim.scenario import (
    PROFILES,
    NetScan,
    Scenario,
    check_routes,
    check_sumo_args,
    demand_scale,
    load,
    merge_sumo_args,
    scan_net,
    with_profile,
)
from sim.sensing import SENSING, SensorFiles, lane_detectors, write_sensors
from sim.sumo_home import sumo_version
from sim.timing import _EPS, Timing, TimingParams, phase_demand_kernel

GRIDLOCK_SAMPLE_S = 10.0  # the gridlock watch (and truth.lane_veh) is refreshed this often


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run. Keys equal the CLI flags (with ``_`` for ``-``)."""

    scenario: str | None = None
    controller: str = "count"
    seed: int = 1
    begin_s: float | None = None
    end_s: float | None = None
    out: str | None = None
    backend: str = "libsumo"
    gui: bool = False
    params: dict[str, float] = field(default_factory=dict)
    min_green_s: float | None = None
    max_green_s: float | None = None
    max_wait_s: float | None = None
    yellow_s: float | None = None
    all_red_s: float | None = None
    box_clear_max_s: float | None = None
    detection_range_m: float = 100.0
    gap_range_m: float = 40.0
    sensing: str = "ideal"
    detector_length_m: float = 50.0
    queue_interval_s: float = 5.0
    format: str = "csv"  # queues/signals tables: csv | parquet
    time_to_teleport_s: float = -1.0
    junction_blocker_s: float = 60.0  # SUMO's --ignore-junction-blocker; -1 never
    sumo_args: tuple[str, ...] = ()
    net_file: str | None = None
    route_files: tuple[str, ...] = ()  # a comma-separated string is accepted too
    signals: tuple[str, ...] = ()  # controlled signal ids; empty: all (comma-separated ok)
    profile: str = "constant"
    demand: str | None = None  # light | medium | heavy
    demand_scale: float | None = None
    fail_detectors: float = 0.0  # fraction of controlled lanes whose detector fails
    fail_seed: int = 1
    fail_mode: str = "silent"  # silent | stuck
    suspect_after_s: float | None = None  # None: SUSPECT_AFTER_S with --fail-detectors, else off
    stuck_s: float = 300.0  # gridlock: all vehicles on controlled lanes halted this long
    study: bool = False  # per-approach time loss and arrivals (sim/report/outputs.py)
    emissions: bool = False  # SUMO's emission device on every vehicle
    walk_s: float = people_run.DEFAULT_WALK_S  # pedestrian walk interval of a crossing green
    ped_speed_mps: float = people_run.DEFAULT_PED_SPEED_MPS  # design walking speed, clearance
    occupancy: str = ""  # persons per vClass, "bus=40,passenger=1.3"; "" the defaults

    def __post_init__(self) -> None:
        # config files may give lists or comma-separated strings; keep tuples (hashable, frozen)
        for key in ("route_files", "signals"):
            value = getattr(self, key)
            items = value.split(",") if isinstance(value, str) else value
            unique = dict.fromkeys(str(v).strip() for v in items if str(v).strip())
            object.__setattr__(self, key, tuple(unique))
        if isinstance(self.sumo_args, str):
            object.__setattr__(self, "sumo_args", tuple(self.sumo_args.split()))
        else:
            object.__setattr__(self, "sumo_args", tuple(str(v) for v in self.sumo_args))

    def scale(self) -> float:
        """Factor on the number of vehicles (``--demand`` / ``--demand-scale``; 1 by default)."""
        return demand_scale(self.demand, self.demand_scale)

    def validate(self) -> None:
        if self.scenario and self.net_file:
            raise InputError("give either --scenario or --net-file with --route-files, not both")
        if self.route_files and not self.net_file:
            raise InputError("--route-files needs --net-file (or use --scenario)")
        if not self.scenario and not self.net_file:
            raise InputError(
                "no scenario: give --scenario NAME|FILE.sumocfg or --net-file X.net.xml "
                "--route-files A.rou.xml"
            )
        if self.profile not in PROFILES:
            raise InputError(
                f"unknown demand profile {self.profile!r}; choose one of {', '.join(PROFILES)}"
            )
        self.scale()
        check_sumo_args(self.sumo_args)
        check_format(self.format)
        if self.detection_range_m <= 0:
            raise InputError(
                f"--detection-range-m must be positive, got {self.detection_range_m:g}"
            )
        if self.gap_range_m <= 0:
            raise InputError(f"--gap-range-m must be positive, got {self.gap_range_m:g}")
        if self.detector_length_m <= 0:
            raise InputError(
                f"--detector-length-m must be positive, got {self.detector_length_m:g}"
            )
        if self.queue_interval_s <= 0:
            raise InputError(f"--queue-interval-s must be positive, got {self.queue_interval_s:g}")
        if self.sensing not in SENSING:
            raise InputError(
                f"unknown sensing {self.sensing!r}; choose one of {', '.join(SENSING)}"
            )
        check_durations(self)
        self.people_params()
        check_fault_options(
            self.fail_detectors, self.fail_mode, self.effective_suspect_after_s(), self.stuck_s
        )

    def people_params(self) -> people_run.PeopleParams:
        """``--walk-s``, ``--ped-speed-mps``, ``--occupancy`` and the sensing mode, checked."""
        params = people_run.PeopleParams(
            walk_s=float(self.walk_s),
            ped_speed_mps=float(self.ped_speed_mps),
            occupancy=people_run.parse_occupancy(self.occupancy),
            push_buttons=self.sensing == "detectors",
        )
        params.validate()
        return params

    def effective_suspect_after_s(self) -> float:
        """Detector-fault detection threshold; ``inf`` (off) unless faults are simulated or it
        is set explicitly: a quiet lane reads like a silent detector, so detection without
        faults would only raise false alarms."""
        if self.suspect_after_s is not None:
            return float(self.suspect_after_s)
        return SUSPECT_AFTER_S if self.fail_detectors > 0 else float("inf")


MAX_DURATION_S = 7 * 86400.0  # longest window, or timing value, a run accepts


def check_durations(cfg: RunConfig) -> None:
    """``InputError`` for a non-finite or absurdly long time value (e.g. ``--end 1e12``)."""
    flags = (
        ("--begin", cfg.begin_s),
        ("--end", cfg.end_s),
        ("--min-green-s", cfg.min_green_s),
        ("--max-green-s", cfg.max_green_s),
        ("--max-wait-s", cfg.max_wait_s),
        ("--yellow-s", cfg.yellow_s),
        ("--all-red-s", cfg.all_red_s),
        ("--box-clear-max-s", cfg.box_clear_max_s),
        ("--time-to-teleport", cfg.time_to_teleport_s),
        ("--junction-blocker-s", cfg.junction_blocker_s),
        ("--detection-range-m", cfg.detection_range_m),
        ("--detector-length-m", cfg.detector_length_m),
        ("--queue-interval-s", cfg.queue_interval_s),
    )
    for flag, value in flags:
        if value is not None and not math.isfinite(value):
            raise InputError(f"{flag} must be a finite number, got {value:g}")
    for flag, value in flags[2:8]:
        if value is not None and value > MAX_DURATION_S:
            raise InputError(f"{flag} of {value:g} s is longer than 7 days; is the unit right?")


@dataclass
class RunResult:
    summary: dict[str, Any]
    out_dir: Path


def default_out(scenario_name: str, controller: str, seed: int) -> Path:
    return Path("runs") / f"{scenario_name}-{controller}-seed{seed}"


def timing_params(cfg: RunConfig, defaults: TimingParams) -> TimingParams:
    """Controller defaults overridden by the values given in ``cfg``."""
    over = {
        k: getattr(cfg, k)
        for k in (
            "min_green_s",
            "max_green_s",
            "max_wait_s",
            "yellow_s",
            "all_red_s",
            "box_clear_max_s",
        )
        if getattr(cfg, k) is not None
    }
    params = dataclasses.replace(defaults, **over)
    params.validate()
    return params


def scenario_of(cfg: RunConfig, scenario: Scenario | None = None) -> Scenario:
    """The scenario ``cfg`` runs: loaded (unless given), demand profile applied, window set,
    ``--signals`` and the routes checked against the network."""
    if scenario is None:
        scenario = load(cfg.scenario, cfg.net_file, cfg.route_files, cfg.profile)
    else:
        scenario = with_profile(scenario, cfg.profile)
    scenario = scenario.with_window(cfg.begin_s, cfg.end_s)
    if scenario.begin_s < 0:
        raise InputError(f"--begin must not be negative, got {scenario.begin_s:g} s")
    if scenario.end_s - scenario.begin_s > MAX_DURATION_S:
        raise InputError(
            f"the time window {scenario.begin_s:g}-{scenario.end_s:g} s is longer than 7 days"
        )
    check_signals(cfg.signals, scan_net(scenario.net_file))
    check_routes(scenario)
    return scenario


def check_signals(signals: tuple[str, ...], scan: NetScan) -> None:
    """``InputError`` naming the ids in ``signals`` that are not traffic lights of the network."""
    unknown = [s for s in signals if s not in scan.tls_ids]
    if unknown:
        have = ", ".join(scan.tls_ids[:5]) + (", ..." if len(scan.tls_ids) > 5 else "")
        raise InputError(
            f"--signals names unknown signal(s) {', '.join(unknown)}; "
            f"the network has {len(scan.tls_ids)}: {have}"
        )


def run(
    cfg: RunConfig,
    scenario: Scenario | None = None,
    progress: Any = None,
    on_step: Callable[[Backend, Timing | None], None] | None = None,
) -> RunResult:
    """Run ``cfg`` and write ``summary.json``, ``queues.csv`` and SUMO's tripinfo to its out dir.

    ``on_step(backend, timing)`` is called once per step after the signal states are set
    (``timing`` is None for controllers that leave the timing to SUMO); tests use it to observe
    the signals.
    """
    import controllers

    cfg.validate()
    scenario = scenario_of(cfg, scenario)
    controller = controllers.create(cfg.controller, cfg.params)
    tparams = timing_params(cfg, controller.timing_defaults)
    scan = scan_net(scenario.net_file)
    out = Path(cfg.out) if cfg.out else default_out(scenario.name, cfg.controller, cfg.seed)
    backend = Backend(cfg.backend, gui=cfg.gui)  # checks --gui has a display
    tmp = outdir.prepare(out)
    t0 = time.perf_counter()
    try:
        gap_range_m = cfg.gap_range_m if controller.reads_moving else None  # else no gap set
        sensors = write_sensors(
            tmp, scan, cfg.sensing, cfg.detection_range_m, cfg.detector_length_m, gap_range_m
        )
        adds = [*map(str, scenario.additional_files), *map(str, sensors.files)]
        adds += [str(p) for p in controller.additional_files(scan, tmp)]
        scale = cfg.scale()
        args = [
            *scenario.sumo_args(),
            *(["--scale", f"{scale:g}"] if scale != 1.0 else []),
            "-a",
            ",".join(adds),
            "--seed",
            str(cfg.seed),
            "--time-to-teleport",
            f"{cfg.time_to_teleport_s:g}",
            "--ignore-junction-blocker",
            f"{cfg.junction_blocker_s if cfg.junction_blocker_s >= 0 else -1:g}",
            "--tripinfo-output",
            str(tmp / "tripinfo.xml"),
            "--tripinfo-output.write-unfinished",
            "--tripinfo-output.write-undeparted",
            "--statistic-output",
            str(tmp / "statistics.xml"),
            "--no-step-log",
            "--no-warnings",
            "--duration-log.disable",
        ]
        study = study_sumo_args(
            tmp, scan, scenario.begin_s, scenario.end_s, cfg.study, cfg.emissions
        )
        args = merge_sumo_args(args, controller.sumo_args(scan, tmp), study, cfg.sumo_args)
        backend.start(args, error_log=tmp / "sumo-errors.log")
        layout = backend.call(build_layout, backend.api, list(cfg.signals) or None)
        facts: dict[str, float] = {}  # timing facts of the run for the manifest
        summary = _loop(
            cfg,
            scenario,
            controller,
            tparams,
            backend,
            layout,
            sensors,
            tmp,
            progress,
            on_step,
            facts,
        )
    except InputError:
        backend.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (LightwatchError, KeyboardInterrupt, Terminated) as exc:
        backend.close()
        outdir.mark_partial(tmp, str(exc) or type(exc).__name__, backend.last_time_s)
        raise
    summary["wall_s"] = time.perf_counter() - t0
    summary["manifest"] = manifest(cfg, scenario, controller, tparams, backend.name)
    summary["manifest"]["timing"].update(facts)
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    outdir.finish(tmp, out)
    from sim.audit import audit_or_raise, audit_requested  # LIGHTWATCH_AUDIT=1: audit the run

    if audit_requested():
        audit_or_raise(out)
    return RunResult(summary=summary, out_dir=out.resolve())


def _loop(
    cfg: RunConfig,
    scenario: Scenario,
    controller: Any,
    tparams: TimingParams,
    backend: Backend,
    layout: NetworkLayout,
    sensors: SensorFiles,
    tmp: Path,
    progress: Any,
    on_step: Callable[[Backend, Timing | None], None] | None = None,
    facts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The run's loop; returns the summary metrics. ``facts`` receives ``ped_clear_max_s``, the
    longest pedestrian clearance of the run's signals (0 without crossings), for the audit."""
    people_files = [*scenario.route_files, *scenario.additional_files]
    people = backend.call(
        people_run.start,
        backend.api,
        cfg.people_params(),
        layout,
        scenario.net_file,
        people_files,
        scan_net(scenario.net_file).crossing_tls,
        (scenario.begin_s, scenario.end_s),
        cfg.queue_interval_s,
        backend.dt_s(),
    )
    gap_of = sensors.gap_detector_of
    sensed, truth = backend.bind(
        layout,
        lane_detectors(layout, sensors.queue_detector_of),
        None if gap_of is None else lane_detectors(layout, gap_of),
        ideal=sensors.ideal,
    )
    rng = np.random.default_rng(cfg.seed)
    controller.reset(layout, rng)
    dt = backend.dt_s()
    shown = backend.signal_states(layout.signal_ids)  # timing starts from SUMO's display
    timing = Timing(layout, tparams, dt, shown) if controller.drives_signals else None
    if people is not None and timing is not None:
        people.attach(timing)
    if facts is not None:
        facts["ped_clear_max_s"] = float(timing.ped_clear_s.max()) if timing is not None else 0.0
    boxed = timing is not None and bool(timing.box_max_s.any())
    paths = JunctionBox(backend.api, layout)  # internal lanes of every controlled link's path
    box = paths if boxed else None
    deadlock = DeadlockWatch(paths, cfg.stuck_s)
    demand = np.zeros(layout.n_phases, dtype=np.bool_)
    true_demand = np.zeros(layout.n_phases, dtype=np.bool_)  # for the starvation bound only
    # reliability (sim/faults.py): failed detectors, their detection, gridlock, longest red wait
    faults = DetectorFaults(layout, cfg.fail_detectors, cfg.fail_seed, cfg.fail_mode)
    suspects = SuspectDetector(layout, cfg.effective_suspect_after_s(), dt)
    detect_faults = np.isfinite(cfg.effective_suspect_after_s())
    suspect_phase = timing.suspect_phase if timing else np.zeros(layout.n_phases, dtype=np.int8)
    gridlock = GridlockWatch(cfg.stuck_s, dt, layout.lane_ids[: layout.n_in_lanes])
    gridlock_every = max(1, round(GRIDLOCK_SAMPLE_S / dt))  # steps between gridlock checks
    deadlock_every = max(1, round(DEADLOCK_SAMPLE_S / dt))  # steps between deadlock checks
    n_step = 0
    served = np.zeros(layout.n_lanes, dtype=np.bool_)
    red_wait_s = np.zeros(layout.n_in_lanes)
    max_red_wait_s = 0.0
    sensed_arrays = (sensed.queue_veh, sensed.near_veh, sensed.moving_veh)  # faults act on these
    recorder = QueueRecorder(layout, scenario.begin_s, scenario.end_s, cfg.queue_interval_s)
    signals = SignalRecorder(layout)
    if timing is not None:
        backend.set_states(layout.signal_ids, timing.changed, timing.state_string)
        signals.record(backend.time_s(), timing)
    else:
        signals.record_states(backend.time_s(), backend.signal_states(layout.signal_ids))
    end_s = scenario.end_s
    drives = timing is not None
    # SUMO-timed controllers: people are only recorded; no timing state, no crossing shown green
    cur_p = timing.cur_p if timing else layout.phase_ptr[:-1].copy()
    stage = timing.stage if timing else np.ones(layout.n_signals, dtype=np.int8)
    while True:
        backend.step()
        sample = n_step % gridlock_every == 0
        look_inside = n_step % deadlock_every == 0
        n_step += 1
        # moving_veh only where the decision reads it (everywhere while faults freeze readings)
        moving_lanes = controller.moving_lanes(timing) if drives and not faults.n_failed else None
        backend.read(
            sensed, truth, lane_veh=sample or people is not None, moving_lanes=moving_lanes
        )
        now = sensed.time_s
        if people is not None:
            backend.call(people.read, backend.api, now, truth.lane_veh, cur_p, stage)
        if faults.n_failed:
            for k, values in enumerate(sensed_arrays):
                faults.apply(str(k), values)
        if detect_faults:
            suspects.update(sensed.queue_veh, sensed.near_veh, sensed.suspect_lane, suspect_phase)
            suspects.mask(sensed.suspect_lane, *sensed_arrays)
        if people is not None and drives:
            people.sense(sensed)  # after faults: yielding queues read as discharging
        if sample:
            gridlock.update(now, truth.lane_veh, truth.halting_veh)
        if look_inside:
            backend.call(deadlock.update, backend.api, now)
        recorder.record(now, truth.halting_veh)
        if progress is not None:
            progress(now, backend.running_veh)
        if now >= end_s - _EPS:
            break
        if drives:
            request = controller.decide(sensed, timing)
            phase_demand_kernel(
                layout.phase_lane_ptr,
                layout.phase_lane_idx,
                sensed.queue_veh,
                sensed.near_veh,
                demand,
            )
            halting = truth.halting_veh  # true counts: a silent detector cannot starve a phase
            phase_demand_kernel(
                layout.phase_lane_ptr, layout.phase_lane_idx, halting, halting, true_demand
            )
            if people is not None:  # waiting pedestrians are demand, for the starvation bound too
                people.add_demand(demand)
                people.add_demand(true_demand, true=True)
            if box is not None:
                backend.call(box.read, backend.api, timing, timing.box_busy)
            timing.step(request, demand, true_demand)
            if people is not None:  # the walk of a green that begins with pedestrians waiting
                people.hold_min_green(timing)
            backend.set_states(layout.signal_ids, timing.changed, timing.state_string)
            signals.record(now, timing)
            worst_s = red_wait_kernel(
                layout.phase_lane_ptr,
                layout.phase_lane_idx,
                timing.cur_p,
                timing.stage,
                truth.halting_veh,
                dt,
                served,
                red_wait_s,
            )
            max_red_wait_s = max(max_red_wait_s, worst_s)
        else:
            signals.record_states(now, backend.signal_states(layout.signal_ids))
        if on_step is not None:
            on_step(backend, timing)
    backend.close()
    try:
        summary: dict[str, Any] = tripinfo_metrics(tmp / "tripinfo.xml", scenario.begin_s, end_s)
        summary.update(statistics_metrics(tmp / "statistics.xml"))
        summary.update(study_metrics(tmp, list(layout.approach_ids)))
        summary.update(
            people_run.finish(people, cfg.people_params(), people_files, tmp, cfg.format)
        )
    except (ET.ParseError, OSError) as exc:
        raise RunFailed(f"SUMO's output files are incomplete: {exc}") from None
    summary.update(gridlock.report())
    summary.update(deadlock.report())
    summary["detectors_failed"] = faults.n_failed
    summary.update(suspects.report(faults.failed_idx))
    summary["max_red_wait_s"] = max_red_wait_s if drives else None
    summary["queue_mean_veh"] = recorder.queue_mean_veh()
    summary["queue_max_veh"] = recorder.max
    summary["n_signals"] = layout.n_signals
    write_queues(recorder, tmp, cfg.format)
    signals.write(tmp, cfg.format)
    return summary


def manifest(
    cfg: RunConfig, scenario: Scenario, controller: Any, tparams: TimingParams, backend: str
) -> dict[str, Any]:
    """What produced a result: versions, resolved configuration and command line."""
    return {
        "lightwatch_version": __version__,
        "sumo_version": sumo_version(),
        "scenario": scenario.name,
        "net_file": str(scenario.net_file),
        "route_files": [str(p) for p in scenario.route_files],
        "begin_s": scenario.begin_s,
        "end_s": scenario.end_s,
        "controller": controller.name,
        "controller_params": controller.param_dict(),
        "timing": dataclasses.asdict(tparams),
        "seed": cfg.seed,
        "profile": cfg.profile,
        "demand_scale": cfg.scale(),
        "signals": list(cfg.signals),
        "backend": backend,
        "config": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()
        },
        "command": sys.argv,
    }
