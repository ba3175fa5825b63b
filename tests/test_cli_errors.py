"""Bad input on the command line: one ``error:`` line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def check_bad_input(proc: subprocess.CompletedProcess, out: Path, mentions: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert mentions.lower() in lines[0].lower(), lines[0]
    assert not out.exists()
    assert not out.with_name(out.name + ".partial").exists()
    assert not list(out.parent.glob(f"{out.name}*"))


@pytest.mark.parametrize(
    ("extra", "mentions"),
    [
        (["--min-green-s", "60", "--max-green-s", "10"], "--max-green-s"),
        (["--controller", "no-such-controller"], "no-such-controller"),
        (["--backend", "no-such-backend"], "--backend"),
        (["--seed", "one"], "--seed"),
        (["--end", "0", "--begin", "10"], "time window"),
        (["--walk-s", "-1"], "--walk-s"),
        (["--ped-speed-mps", "0"], "--ped-speed-mps"),
        (["--occupancy", "bus=lots"], "--occupancy"),
    ],
    ids=[
        "min-above-max-green",
        "unknown-controller",
        "unknown-backend",
        "seed-text",
        "end-before",
        "walk-negative",
        "ped-speed-zero",
        "occupancy-text",
    ],
)
def test_run_rejects_bad_options(
    extra: list[str],
    mentions: str,
    tiny_tls_scenario: Path,
    tmp_path: Path,
    cli: Callable,
) -> None:
    out = tmp_path / "out"
    proc = cli("run", "--scenario", str(tiny_tls_scenario), "--out", str(out), *extra)
    check_bad_input(proc, out, mentions)


def test_run_rejects_a_missing_path(tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "nowhere" / "x.sumocfg"
    proc = cli("run", "--scenario", str(missing), "--out", str(out))
    check_bad_input(proc, out, "x.sumocfg")


def test_run_rejects_a_net_without_traffic_lights(
    no_tls_scenario: Path, tmp_path: Path, cli: Callable
) -> None:
    out = tmp_path / "out"
    proc = cli("run", "--scenario", str(no_tls_scenario), "--out", str(out))
    check_bad_input(proc, out, "no traffic lights")


def test_compare_rejects_an_unknown_controller(
    tiny_tls_scenario: Path, tmp_path: Path, cli: Callable
) -> None:
    out = tmp_path / "cmp"
    proc = cli(
        "compare",
        "--scenario",
        str(tiny_tls_scenario),
        "--controllers",
        "count,no-such-controller",
        "--out",
        str(out),
    )
    check_bad_input(proc, out, "no-such-controller")


def test_the_same_options_run_when_valid(
    tiny_tls_scenario: Path, tmp_path: Path, cli: Callable
) -> None:
    """The error cases above fail because of the bad value, not the scenario or the folder."""
    out = tmp_path / "out"
    proc = cli(
        "run",
        "--scenario",
        str(tiny_tls_scenario),
        "--out",
        str(out),
        "--min-green-s",
        "10",
        "--max-green-s",
        "60",
        "--begin",
        "0",
        "--end",
        "120",
        "--seed",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ('controller = "count"\n', "unknown key 'controller' (nearest valid key: 'controllers')"),
        ("min-green-s = 7.0\n", "unknown key 'min-green-s' (nearest valid key: 'min_green_s')"),
        ("seeds = [1, 1]\n", "seeds repeat"),
        ('controllers = "fixed,count"\nend_s = "late"\n', "end_s must be a number"),
    ],
    ids=["run-key", "flag-name", "repeated-seed", "wrong-type"],
)
def test_compare_rejects_a_bad_config_file(
    body: str, mentions: str, tiny_tls_scenario: Path, tmp_path: Path, cli: Callable
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'scenario = "{tiny_tls_scenario}"\n' + body, encoding="utf-8")
    out = tmp_path / "cmp"
    proc = cli("compare", "--config", str(config), "--out", str(out))
    check_bad_input(proc, out, mentions)
