"""``lightwatch`` command line: run, compare, networks, bench, plot.

Errors in the input print one line (``error: ...``) and exit 2; a failed run exits 1.

Size: a little over 500 lines of click declarations (every option of ``run`` and ``compare`` is
spelled out once here); the work behind each command lives in its own module.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sim.bench.command import bench_cmd
from sim.config import config_options, save_resolved_config
from sim.errors import (
    InputError,
    LightwatchError,
    RunFailed,
    Terminated,
    install_sigterm_handler,
)
from sim.faults import FAIL_MODES, SUSPECT_AFTER_S
from sim.people.kernels import DEFAULT_PED_SPEED_MPS, DEFAULT_WALK_S
from sim.plots import plot_cmd
from sim.report.cli import report_option
from sim.report.outputs import study_options
from sim.results import FORMATS
from sim.runner import SENSING, RunConfig, run, scenario_of
from sim.scenario import DEMAND_SCALES, PROFILES
from sim.stats import numeric

TABLE_KEYS = (
    ("delay_s", "delay s"),
    ("trip_time_s", "trip s"),
    ("waiting_time_s", "wait s"),
    ("throughput_veh_h", "veh/h"),
    ("queue_mean_veh", "queue veh"),
    ("not_inserted", "not ins."),
    ("teleports", "teleports"),
    ("wall_s", "wall s"),
)
PEOPLE_TABLE_KEYS = (
    ("ped_delay_s", "ped delay s"),
    ("ped_wait_max_s", "ped wait max s"),
    ("delay_bus_s", "bus delay s"),
)
"""Columns added when a row has pedestrians or buses."""


def _parse_kv(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _params_for(controller: str, params: dict[str, str]) -> dict[str, str]:
    """The subset of ``params`` that ``controller`` knows."""
    import controllers

    cls = controllers.get(controller)
    known = {f.name for f in dataclasses.fields(cls.Params)}
    return {k: v for k, v in params.items() if k.replace("-", "_") in known}


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``run`` and ``compare``."""
    opts = [
        click.option(
            "--scenario",
            default=None,
            help="Bundled name, a .sumocfg, or a folder holding one (or use --net-file).",
        ),
        click.option(
            "--net-file", default=None, help="A SUMO .net.xml (with --route-files, no --scenario)."
        ),
        click.option(
            "--route-files",
            default="",
            help="Comma-separated route files for --net-file (A.rou.xml,B.rou.xml).",
        ),
        click.option(
            "--signals",
            default="",
            help="Comma-separated signal ids to control; the others keep their own programs.",
        ),
        click.option(
            "--profile",
            type=click.Choice(PROFILES),
            default="constant",
            show_default=True,
            help="Demand profile: route files <name>.<profile>.rou.xml beside the default ones.",
        ),
        click.option(
            "--demand",
            type=click.Choice(list(DEMAND_SCALES)),
            default=None,
            help="Demand level: light, medium, heavy = 0.6, 1.0, 1.4 x the vehicles.",
        ),
        click.option(
            "--demand-scale",
            type=float,
            default=None,
            help="Factor on the number of vehicles (SUMO --scale; same seed, same vehicles).",
        ),
        click.option("--begin", "begin_s", type=float, default=None, help="Start time [s]."),
        click.option("--end", "end_s", type=float, default=None, help="End time [s]."),
        click.option(
            "--backend",
            type=click.Choice(["libsumo", "traci"]),
            default="libsumo",
            show_default=True,
        ),
        click.option(
            "--min-green-s",
            type=float,
            default=None,
            help="Minimum green [s] (controller default).",
        ),
        click.option(
            "--max-green-s",
            type=float,
            default=None,
            help="Maximum green [s] while another phase waits.",
        ),
        click.option(
            "--max-wait-s",
            type=float,
            default=None,
            help="Starvation bound: a phase with demand waits at most about this [s].",
        ),
        click.option(
            "--yellow-s",
            type=float,
            default=None,
            help="Yellow time [s] (default: the network program's).",
        ),
        click.option(
            "--all-red-s",
            type=float,
            default=None,
            help="All-red time [s] (default: the network program's).",
        ),
        click.option(
            "--box-clear-max-s",
            type=float,
            default=None,
            help="Longest all-red added while a vehicle is still inside the junction on a link "
            "whose green ended [s] (default 5; 0 turns it off).",
        ),
        click.option(
            "--detection-range-m",
            type=float,
            default=100.0,
            show_default=True,
            help="Vehicles within this distance of the stop line count as approaching.",
        ),
        click.option(
            "--gap-range-m",
            type=float,
            default=40.0,
            show_default=True,
            help="Moving vehicles within this distance of the stop line count as still arriving.",
        ),
        click.option("--sensing", type=click.Choice(SENSING), default="ideal", show_default=True),
        click.option(
            "--detector-length-m",
            type=float,
            default=50.0,
            show_default=True,
            help="Lane-area detector length with --sensing detectors.",
        ),
        click.option(
            "--queue-interval-s",
            type=float,
            default=5.0,
            show_default=True,
            help="Sampling interval of queues.csv [s].",
        ),
        click.option(
            "--format",
            "format",
            type=click.Choice(FORMATS),
            default="csv",
            show_default=True,
            help="Table format of queues and signals (parquet needs the pyarrow extra).",
        ),
        click.option(
            "--time-to-teleport",
            "time_to_teleport_s",
            type=float,
            default=-1.0,
            show_default=True,
            help="SUMO's jam teleport time [s]; -1 never teleports.",
        ),
        click.option(
            "--junction-blocker-s",
            type=float,
            default=60.0,
            show_default=True,
            help="SUMO's --ignore-junction-blocker [s]: others pass a vehicle standing inside a "
            "junction this long (ends deadlocks of SUMO's junction model); -1 never.",
        ),
        click.option(
            "--stuck-s",
            type=float,
            default=300.0,
            show_default=True,
            help="Flag gridlock when every vehicle on the controlled lanes halts this long [s].",
        ),
        click.option(
            "--fail-detectors",
            type=float,
            default=0.0,
            show_default=True,
            metavar="FRACTION",
            help="Fraction of controlled lanes whose detector fails (reproducible, --fail-seed).",
        ),
        click.option("--fail-seed", type=int, default=1, show_default=True),
        click.option(
            "--fail-mode",
            type=click.Choice(FAIL_MODES),
            default="silent",
            show_default=True,
            help="silent: reads 0; stuck: freezes at its first non-zero reading.",
        ),
        click.option(
            "--suspect-after-s",
            type=float,
            default=None,
            help="A detector unchanged this long while its signal sees traffic is suspect [s]; "
            f"its phase then runs the net's fixed timing (default {SUSPECT_AFTER_S:g} with "
            "--fail-detectors, else off).",
        ),
        click.option(
            "--walk-s",
            type=float,
            default=DEFAULT_WALK_S,
            show_default=True,
            help="Walk interval [s] of a green that begins with pedestrians waiting at a "
            "crossing it serves; the pedestrian clearance that ends it lasts up to crossing "
            "length / --ped-speed-mps.",
        ),
        click.option(
            "--ped-speed-mps",
            type=float,
            default=DEFAULT_PED_SPEED_MPS,
            show_default=True,
            help="Design walking speed [m/s]: the longest pedestrian clearance is crossing "
            "length / this.",
        ),
        click.option(
            "--occupancy",
            default="",
            metavar="VCLASS=PERSONS,...",
            help="Persons per vehicle by vClass where the demand has no rides "
            "(default bus=40,coach=40,passenger=1.3, others 1).",
        ),
        click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="KEY=VALUE",
            help="Controller parameter, repeatable (e.g. -p extend_veh=1).",
        ),
        click.argument("sumo_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SUMO_OPTIONS]"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return config_options(study_options(f))


def _base_config(**kw: Any) -> dict[str, Any]:
    keys = {f.name for f in dataclasses.fields(RunConfig)}
    return {k: v for k, v in kw.items() if k in keys}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 1e5 else f"{v:.3g}"
    return str(v)


def print_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """A rich table: one row per label, the summary keys as columns."""
    from rich.console import Console
    from rich.table import Table

    rows = [(label, {**numeric(summary), **summary}) for label, summary in rows]
    people = [
        (k, head)
        for k, head in PEOPLE_TABLE_KEYS
        if any(isinstance(summary.get(k), int | float) for _, summary in rows)
    ]
    keys = (*TABLE_KEYS, *people)
    table = Table(title=title)
    table.add_column("controller")
    for _, head in keys:
        table.add_column(head, justify="right")
    for label, summary in rows:
        table.add_row(label, *(_fmt(summary.get(k, "")) for k, _ in keys))
    Console(width=max(100, 12 * (len(keys) + 1))).print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lightwatch")
def cli() -> None:
    """Adaptive traffic signal control on SUMO networks."""


@cli.command("run")
@run_options
@click.option("--controller", default="count", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default runs/SCENARIO-CONTROLLER-seedN).",
)
@click.option("--gui", is_flag=True, help="Watch the run in sumo-gui (uses the traci backend).")
def run_cmd(params: tuple[str, ...], **kw: Any) -> None:
    """Run one scenario with one controller and print its summary."""
    from sim.progress import RunProgress

    cfg = RunConfig(params=_parse_kv(params), **_base_config(**kw))
    cfg.validate()
    scenario = scenario_of(cfg)
    save_resolved_config(kw.get("save_config"), "run", scenario.begin_s, scenario.end_s)
    label = f"{scenario.name} {cfg.controller} seed {cfg.seed}"
    with RunProgress(label, scenario.begin_s, scenario.end_s) as progress:
        result = run(cfg, progress=progress)
    print_table(
        f"{result.summary['manifest']['scenario']} seed {cfg.seed}",
        [(cfg.controller, result.summary)],
    )
    _reliability_notes(result.summary)
    click.echo(f"results: {result.out_dir}")


def _reliability_notes(summary: dict[str, Any]) -> None:
    """One line each for gridlock (or a jammed lane) and failed detectors, when there is
    something to say."""
    if summary.get("gridlock"):
        click.echo(
            f"gridlock: every vehicle on the controlled lanes halted from "
            f"{summary['gridlock_at_s']:g} s for {summary['stuck_longest_s']:g} s at most; "
            f"{summary.get('running', 0)} vehicles still running at the end"
        )
    elif summary.get("jammed_lane"):
        click.echo(
            f"jam: every vehicle on lane {summary['jammed_lane']} halted from "
            f"{summary['jammed_at_s']:g} s (a lane stood still for up to "
            f"{summary['lane_stuck_longest_s']:g} s); "
            f"{summary.get('running', 0)} vehicles still running at the end"
        )
    if summary.get("blocked_junction"):
        click.echo(
            f"deadlock: a vehicle stood inside junction {summary['blocked_junction']} (lane "
            f"{summary['blocked_lane']}) from {summary['blocked_at_s']:g} s for "
            f"{summary['junction_stuck_longest_s']:g} s at most; "
            f"{summary.get('running', 0)} vehicles still running at the end "
            "(--junction-blocker-s lets the others pass it)"
        )
    if summary.get("detectors_failed"):
        click.echo(
            f"detectors: {summary['detectors_failed']} failed, "
            f"{summary['detectors_detected']} detected "
            f"({summary['detectors_false_alarms']} working ones flagged too)"
        )


def _parse_list(value: str, what: str, conv: Callable[[str], Any] = str) -> list[Any]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise InputError(f"{what} is empty")
    try:
        return [conv(v) for v in items]
    except ValueError:
        raise InputError(f"{what} must be a comma-separated list of integers: {value!r}") from None


@cli.command("compare")
@run_options
@click.option(
    "--controllers",
    "controller_list",
    default="fixed,count",
    show_default=True,
    help="Comma-separated controller names.",
)
@click.option("--seeds", default="1", show_default=True, help="Comma-separated seeds.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default results/SCENARIO).",
)
@click.option("--jobs", type=int, default=None, help="Parallel runs (default: CPU count).")
@click.option("--plot", is_flag=True, help="Also write the plots into OUT/plots/.")
@report_option
def compare_cmd(
    params: tuple[str, ...],
    controller_list: str,
    seeds: str,
    out: str | None,
    jobs: int | None,
    **kw: Any,
) -> None:
    """Run several controllers on the same scenario and seeds; print the mean per controller.

    The runs are an in-memory suite run and aggregated as by ``lightwatch bench``; a failed run
    is recorded, the others finish, then the command exits 1 naming the failures.
    """
    import controllers
    from sim.bench.aggregate import compare_report
    from sim.bench.executors import failure_message, local_jobs, run_dir, run_suite
    from sim.bench.suite import PlannedRun, plan_suite
    from sim.progress import CountProgress

    names = list(dict.fromkeys(_parse_list(controller_list, "--controllers")))
    for n in names:
        controllers.get(n)
    seed_list = list(dict.fromkeys(_parse_list(seeds, "--seeds", int)))
    kv = _parse_kv(params)
    for key in kv:
        if not any(_params_for(n, {key: ""}) for n in names):
            raise InputError(f"no controller among {', '.join(names)} has parameter {key!r}")
    base = _base_config(**kw)
    if kw.get("report"):  # the study needs SUMO's approach and emission outputs
        base.update(study=True, emissions=True)
    probe = RunConfig(**base)
    probe.validate()
    scenario = scenario_of(probe)
    save_resolved_config(kw.get("save_config"), "compare", scenario.begin_s, scenario.end_s)
    out_dir = Path(out) if out else Path("results") / scenario.name
    bases = {}
    for name in names:
        ctl_params = _params_for(name, kv)
        controllers.create(name, ctl_params)  # validate before starting anything
        bases[(scenario.name, name)] = RunConfig(controller=name, params=ctl_params, **base)
    suite = plan_suite(scenario.name, None, bases, seed_list, folders="{controller}/seed{seed}")
    n_jobs = local_jobs(jobs, len(suite.runs))
    click.echo(
        f"compare {scenario.name}: {len(names)} controllers x {len(seed_list)} seeds, "
        f"{n_jobs} parallel",
        err=True,
    )

    with CountProgress(f"compare {scenario.name}", len(suite.runs)) as progress:

        def on_run(
            _n: int, _total: int, r: PlannedRun, res: dict[str, Any] | None, err: str | None
        ) -> None:
            what = f"{r.controller} seed {r.seed}"
            if res is None:
                progress.done(f"FAILED {what}: {err}")
            else:
                progress.done(f"done {what}: delay {res['delay_s']:.1f} s")

        outcome = run_suite(suite, out_dir, n_jobs, echo=lambda _: None, on_run=on_run)
    report = compare_report(suite, outcome.results, outcome.failed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [(name, e["mean"]) for name, e in report["controllers"].items()]
    print_table(f"{scenario.name}, mean over seeds {','.join(map(str, seed_list))}", rows)
    click.echo(f"results: {out_dir.resolve()}")
    finished = [run_dir(out_dir, r) for r in suite.runs if r.key in outcome.results]
    if kw.get("plot") and finished:
        from sim.plots import plot_results

        files = plot_results(finished, out_dir / "plots")
        click.echo(f"plots: {(out_dir / 'plots').resolve()} ({len(files)} files)")
    if kw.get("report") and finished:
        from sim.report.render import write_report

        path = write_report(finished, out_dir / "report")
        click.echo(f"report: {path.resolve()}")
    if outcome.failed:
        raise RunFailed(failure_message(outcome, suite))


@cli.command("networks")
def networks_cmd() -> None:
    """List the bundled scenarios: signals, controlled lanes, vehicles, pedestrians, buses,
    window and profiles."""
    from rich.console import Console
    from rich.table import Table

    from sim.people.metrics import scan_people
    from sim.scenario import bundled_scenarios, check_routes, from_sumocfg, profiles, scan_net

    table = Table(title="bundled scenarios (use --scenario NAME, --profile PROFILE)")
    counts = ("signals", "controlled lanes", "vehicles", "pedestrians", "buses")
    for col in ("name", *counts, "window s", "profiles"):
        table.add_column(col, justify="right" if col in counts else "left")
    table.add_column("path", overflow="fold")
    for name, cfg in bundled_scenarios().items():
        sc = from_sumocfg(cfg, name=name)
        scan = scan_net(sc.net_file)
        people = scan_people(list(sc.route_files))
        table.add_row(
            name,
            str(len(scan.tls_ids)),
            str(len(scan.controlled_lanes)),
            str(check_routes(sc)),
            str(people["persons"]),
            str(people["buses"]),
            f"{sc.begin_s:g}-{sc.end_s:g}",
            ", ".join(profiles(sc)),
            str(cfg.parent),
        )
    Console(width=160).print(table)
    click.echo(
        "vehicles, pedestrians, buses: defined in the default (constant) route file; "
        "--demand-scale scales the vehicles"
    )


cli.add_command(bench_cmd)
cli.add_command(plot_cmd)

from sim.audit import audit_cmd  # noqa: E402  (lightwatch audit RUN...)
from sim.report.cli import report_cmd  # noqa: E402  (lightwatch report RESULTS...)
from sim.tune import tune_cmd  # noqa: E402  (lightwatch tune: grid search on the tuning seeds)

cli.add_command(audit_cmd)
cli.add_command(report_cmd)
cli.add_command(tune_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, exit 2 for bad input, 1 for failed runs."""
    install_sigterm_handler()
    try:
        cli.main(args=argv, prog_name="lightwatch", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except LightwatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted; finished runs are kept", err=True)
        sys.exit(130)
    except Terminated as exc:
        click.echo(f"error: {exc}; an unfinished run is left in its .partial folder", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
