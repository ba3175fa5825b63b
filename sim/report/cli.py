"""``lightwatch report RESULTS... [--out DIR] [--format html|md|csv]``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sim.report.render import FORMATS, build, markdown, study_sets, write_csv_stream, write_report
from sim.report.tables import APPROACH_COLUMNS, LOS_THRESHOLDS_S, parse_thresholds


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for report.html and its CSV tables (default: RESULTS/report for one folder, "
    "else ./report).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="html",
    show_default=True,
    help="html: write the report; md / csv: print the intersection table to paste elsewhere.",
)
@click.option(
    "--los-thresholds",
    default=",".join(f"{v:g}" for v in LOS_THRESHOLDS_S),
    show_default=True,
    help="Upper control-delay bounds of LOS A-E [s/veh].",
)
def report_cmd(results: tuple[Path, ...], out: Path | None, fmt: str, los_thresholds: str) -> None:
    """Signal study of finished runs: RESULTS are run, compare or bench folders."""
    thresholds = parse_thresholds(los_thresholds)
    if fmt in ("md", "csv"):
        sets = study_sets(list(results))
        columns = APPROACH_COLUMNS if len(sets) == 1 else ("scenario", *APPROACH_COLUMNS)
        tables = {name: build(dirs, thresholds)["approaches"] for name, dirs in sets.items()}
        if fmt == "csv":
            write_csv_stream(
                [{"scenario": n, **r} for n, rows in tables.items() for r in rows], columns
            )
            return
        for name, rows in tables.items():
            click.echo(f"\n## {name}\n" if len(sets) > 1 else "", nl=False)
            click.echo(markdown(rows, APPROACH_COLUMNS), nl=False)
        return
    if out is None:
        out = results[0] / "report" if len(results) == 1 else Path("report")
    path = write_report(list(results), out, fmt, thresholds)
    click.echo(str(path))


def report_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``compare --report``: the caller sets ``study`` and ``emissions`` on its runs and calls
    :func:`sim.report.render.write_report` on their folders with ``OUT/report``."""
    return click.option(
        "--report",
        is_flag=True,
        help="Also write the signal study OUT/report/report.html (turns on --study --emissions).",
    )(f)
