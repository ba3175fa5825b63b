"""Plots: ``compare --plot`` writes every figure as a real image; ``lightwatch plot`` options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import bundled_scenario, run_cli
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from sim.plots import (
    CONTROLLER_COLORS,
    busiest_signal,
    collect_runs,
    controller_color,
    read_queues,
)

FIGURES = ("queue_network", "delay_ecdf", "compare_bars", "network_map")


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``compare`` of fixed and count on grid4x4, seeds 1 and 2, with ``--plot``."""
    out = tmp_path_factory.mktemp("cmp") / "R"
    res = run_cli(
        "compare",
        "--scenario",
        bundled_scenario("grid4x4"),
        "--controllers",
        "fixed,count",
        "--seeds",
        "1,2",
        "--end",
        "600",
        "--jobs",
        "2",
        "--plot",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    return out


def _has_color(img: np.ndarray, color: str, tol: float = 0.03) -> bool:
    rgb = np.asarray(to_rgb(color))
    return bool((np.abs(img[..., :3] - rgb).max(axis=-1) < tol).any())


def test_compare_plot_writes_every_figure(compared: Path) -> None:
    plots = compared / "plots"
    names = sorted(p.stem for p in plots.glob("*.png"))
    queue_signal = [n for n in names if n.startswith("queue_signal_")]
    assert len(queue_signal) == 1
    assert sorted([*FIGURES, *queue_signal]) == names
    for path in plots.glob("*.png"):
        img = imread(path)
        h, w = img.shape[:2]
        assert 300 <= w <= 2500 and 250 <= h <= 2500, (path.name, w, h)
        assert img[..., :3].std() > 0.02, f"{path.name} looks blank"
        assert path.stat().st_size < 200_000, f"{path.name} is larger than 200 kB"
    # the busiest signal gets the per-approach plot
    runs = collect_runs([compared])
    assert queue_signal[0] == f"queue_signal_{busiest_signal(runs)}"


def test_controller_colours_are_the_same_in_every_line_plot(compared: Path) -> None:
    for stem in ("queue_network", "delay_ecdf", f"queue_signal_{_busiest(compared)}"):
        img = imread(compared / "plots" / f"{stem}.png")
        for name in ("fixed", "count"):
            assert _has_color(img, controller_color(name)), f"{name} colour missing in {stem}"


def _busiest(compared: Path) -> str:
    return busiest_signal(collect_runs([compared]))


def test_compare_folder_lists_exactly_its_runs(compared: Path) -> None:
    runs = collect_runs([compared])
    assert sorted((r.controller, r.seed) for r in runs) == [
        ("count", 1),
        ("count", 2),
        ("fixed", 1),
        ("fixed", 2),
    ]


def test_plot_command_svg_signal_and_subset(compared: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    res = run_cli(
        "plot",
        str(compared / "fixed" / "seed1"),
        str(compared / "count" / "seed1"),
        "--signal",
        "A0",
        "--svg",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    stems = {p.stem for p in out.glob("*.png")}
    assert stems == {*FIGURES, "queue_signal_A0"}
    assert {p.stem for p in out.glob("*.svg")} == stems
    assert (out / "network_map.svg").read_text().lstrip().startswith("<?xml")


def test_plot_errors_are_one_line(compared: Path, tmp_path: Path) -> None:
    res = run_cli("plot", str(compared), "--signal", "NOPE", "--out", str(tmp_path / "x"))
    assert res.returncode == 2
    assert res.stderr.startswith("error: no signal 'NOPE'")
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_cli("plot", str(tmp_path / "missing"))
    assert res.returncode == 2 and "not found" in res.stderr
    (tmp_path / "empty").mkdir()
    res = run_cli("plot", str(tmp_path / "empty"))
    assert res.returncode == 2 and "no finished runs" in res.stderr


def test_read_queues_long_to_matrix(tmp_path: Path) -> None:
    (tmp_path / "queues.csv").write_text(
        "time_s,signal,approach,halting\n0,S,a,1\n0,S,b,2\n0,T,c,0\n5,S,a,3\n5,S,b,0\n5,T,c,9\n"
    )
    q = read_queues(tmp_path)
    assert q.approach_ids == ("a", "b", "c") and q.approach_signal == ("S", "S", "T")
    np.testing.assert_array_equal(q.time_s, [0.0, 5.0])
    np.testing.assert_array_equal(q.halting_veh, [[1, 2, 0], [3, 0, 9]])


def test_controller_colours_fixed_and_distinct() -> None:
    known = [controller_color(n) for n in CONTROLLER_COLORS]
    assert len(set(known)) == len(known)
    assert controller_color("some-new-controller") == controller_color("some-new-controller")
    assert controller_color("count") == CONTROLLER_COLORS["count"]


def test_runs_of_one_controller_with_other_settings_are_not_pooled() -> None:
    from sim.plots import RunData, group_runs

    def run(controller: str, seed: int, extend: float, min_green_s: float = 5.0) -> RunData:
        manifest = {
            "controller": controller,
            "seed": seed,
            "controller_params": {"extend_veh": extend},
            "timing": {"min_green_s": min_green_s, "yellow_s": None},
        }
        return RunData(path=Path(f"/x/{controller}{seed}{extend}"), summary={"manifest": manifest})

    groups = group_runs([run("count", 2, 0.0), run("count", 1, 0.0), run("fixed", 1, 0.0)])
    assert {k: [r.seed for r in v] for k, v in groups.items()} == {"count": [1, 2], "fixed": [1]}
    groups = group_runs([run("count", 1, 0.0), run("count", 1, 1.0), run("count", 2, 1.0, 7.0)])
    assert list(groups) == [
        "count (extend_veh=0.0, min_green_s=5.0)",
        "count (extend_veh=1.0, min_green_s=5.0)",
        "count (extend_veh=1.0, min_green_s=7.0)",
    ]
