"""Bad input, tried as a new user would: one ``error:`` line, exit 2, nothing left behind.

Each case runs ``python -m sim.cli`` in a subprocess from an empty working folder, with its bad
files in ``in/``. It must exit with code 2, print exactly one stderr line starting with
``error:`` and naming the problem, print no traceback and nothing on stdout, and leave the
folder as it found it: no output folder, no ``.partial`` folder, no ``runs/`` or ``results/``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GRID_ROUTES = REPO / "networks" / "grid4x4" / "grid4x4.rou.xml"


def sumocfg(folder: Path, net: str | Path, routes: str | Path | None = None) -> Path:
    """A ``.sumocfg`` in ``folder`` naming ``net`` and ``routes`` (as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    route = f'<route-files value="{routes}"/>' if routes else ""
    cfg = folder / f"{folder.name}.sumocfg"
    cfg.write_text(
        f'<configuration><input><net-file value="{net}"/>{route}</input>'
        '<time><begin value="0"/><end value="300"/></time></configuration>\n',
        encoding="utf-8",
    )
    return cfg


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def two_configs(folder: Path, net: Path) -> Path:
    """A folder holding two ``.sumocfg`` files."""
    sumocfg(folder, net)
    (folder / "other.sumocfg").write_text((folder / f"{folder.name}.sumocfg").read_text())
    return folder


def rejected_vehicle(folder: Path, net: Path) -> Path:
    """A scenario whose first vehicle SUMO refuses while loading (its own error message)."""
    routes = write(
        folder / "r.rou.xml",
        '<routes><vehicle id="v" depart="0" departSpeed="bogus">'
        '<route edges="A0B0"/></vehicle></routes>\n',
    )
    return sumocfg(folder, net, routes)


# (id, builder(inputs folder, fixtures) -> CLI arguments, text the error line must contain)
Builder = Callable[[Path, dict[str, Path]], list[str]]


def run_with(*extra: str) -> Builder:
    """``run`` on the tiny generated scenario with ``extra`` options."""
    return lambda d, fx: ["run", "--scenario", str(fx["tls"]), "--out", "out", *extra]


def scenario(make: Callable[[Path, dict[str, Path]], Path]) -> Builder:
    """``run`` on the scenario path that ``make`` writes into the inputs folder."""
    return lambda d, fx: ["run", "--scenario", str(make(d, fx)), "--out", "out"]


def compare_with(*extra: str) -> Builder:
    return lambda d, fx: ["compare", "--scenario", str(fx["tls"]), "--out", "out", *extra]


CASES: list[tuple[str, Builder, str]] = [
    # files
    (
        "malformed-net-xml",
        scenario(lambda d, fx: sumocfg(d / "s", write(d / "s" / "n.net.xml", "<net><edge id="))),
        "not valid XML",
    ),
    (
        "empty-net-file",
        scenario(lambda d, fx: sumocfg(d / "s", write(d / "s" / "n.net.xml", ""))),
        "n.net.xml",
    ),
    (
        "binary-net-file",
        scenario(lambda d, fx: sumocfg(d / "s", write(d / "s" / "n.net.xml", bytes(range(256))))),
        "n.net.xml",
    ),
    (
        "route-file-as-net",
        scenario(lambda d, fx: sumocfg(d / "s", GRID_ROUTES)),
        "not a SUMO network",
    ),
    ("txt-as-scenario", scenario(lambda d, fx: write(d / "notes.txt", "hello\n")), "notes.txt"),
    (
        "malformed-sumocfg",
        scenario(lambda d, fx: write(d / "s" / "s.sumocfg", "<configuration><input>")),
        "s.sumocfg",
    ),
    (
        "sumocfg-without-net",
        scenario(lambda d, fx: write(d / "s" / "s.sumocfg", "<configuration/>\n")),
        "net",
    ),
    (
        "sumocfg-missing-route-file",
        scenario(lambda d, fx: sumocfg(d / "s", fx["tls_net"], d / "s" / "gone.rou.xml")),
        "gone.rou.xml",
    ),
    (
        "malformed-route-file",
        scenario(
            lambda d, fx: sumocfg(
                d / "s", fx["tls_net"], write(d / "s" / "r.rou.xml", "<routes><vehicle id=")
            )
        ),
        "r.rou.xml",
    ),
    (
        "routes-of-another-network",
        scenario(lambda d, fx: sumocfg(d / "s", fx["tls_net"], GRID_ROUTES)),
        "edge",
    ),
    (
        "sumo-rejects-a-vehicle",
        scenario(lambda d, fx: rejected_vehicle(d / "s", fx["tls_net"])),
        "Invalid departSpeed",
    ),
    (
        "sumo-rejects-a-vehicle-traci",
        lambda d, fx: [
            "run",
            "--backend",
            "traci",
            "--scenario",
            str(rejected_vehicle(d / "s", fx["tls_net"])),
            "--out",
            "out",
        ],
        "Invalid departSpeed",
    ),
    (
        "network-without-traffic-lights",
        lambda d, fx: ["run", "--scenario", str(fx["notls"]), "--out", "out"],
        "no traffic lights",
    ),
    (
        "folder-with-two-sumocfg",
        scenario(lambda d, fx: two_configs(d / "two", fx["tls_net"])),
        "2 .sumocfg",
    ),
    (
        "folder-without-sumocfg",
        scenario(lambda d, fx: (d / "empty").mkdir() or d / "empty"),
        ".sumocfg",
    ),
    ("unknown-scenario-name", lambda d, fx: ["run", "--scenario", "atlantis"], "atlantis"),
    # durations and numbers
    ("end-negative", run_with("--end", "-5"), "time window"),
    ("begin-negative", run_with("--begin", "-100", "--end", "50"), "--begin"),
    ("end-absurd", run_with("--end", "1e12"), "7 days"),
    ("min-green-zero", run_with("--min-green-s", "0"), "--min-green-s"),
    ("max-green-absurd", run_with("--max-green-s", "1e9"), "--max-green-s"),
    ("min-green-nan", run_with("--min-green-s", "nan"), "--min-green-s"),
    ("yellow-negative", run_with("--yellow-s", "-1"), "--yellow-s"),
    ("box-clear-negative", run_with("--box-clear-max-s", "-1"), "--box-clear-max-s"),
    ("box-clear-nan", run_with("--box-clear-max-s", "nan"), "--box-clear-max-s"),
    ("detection-range-zero", run_with("--detection-range-m", "0"), "--detection-range-m"),
    ("queue-interval-zero", run_with("--queue-interval-s", "0"), "--queue-interval-s"),
    ("seed-not-a-number", run_with("--seed", "abc"), "--seed"),
    ("fail-fraction-above-one", run_with("--fail-detectors", "1.5"), "--fail-detectors"),
    ("stuck-s-zero", run_with("--stuck-s", "0"), "--stuck-s"),
    # names
    ("unknown-controller", run_with("--controller", "psychic"), "psychic"),
    ("unknown-backend", run_with("--backend", "carrier-pigeon"), "--backend"),
    ("unknown-sensing", run_with("--sensing", "telepathy"), "--sensing"),
    ("unknown-fail-mode", run_with("--fail-mode", "flaky"), "--fail-mode"),
    ("unknown-option", run_with("--frobnicate"), "--frobnicate"),
    ("param-without-value", run_with("--param", "nonsense"), "KEY=VALUE"),
    ("param-unknown-key", run_with("--param", "warp_factor=9"), "warp_factor"),
    ("param-not-a-number", run_with("--param", "extend_veh=lots"), "extend_veh"),
    ("unknown-signal", run_with("--signals", "nowhere"), "nowhere"),
    # compare
    ("compare-seeds-not-numbers", compare_with("--seeds", "1,x"), "--seeds"),
    ("compare-empty-controllers", compare_with("--controllers", ""), "--controllers"),
    ("compare-only-commas", compare_with("--controllers", ",,"), "--controllers"),
    # output folder
    (
        "output-under-a-file",
        lambda d, fx: [
            "run",
            "--scenario",
            str(fx["tls"]),
            "--out",
            str(write(d / "afile", "x") / "out"),
        ],
        "afile is a file",
    ),
    (
        "output-is-a-file",
        lambda d, fx: ["run", "--scenario", str(fx["tls"]), "--out", str(write(d / "f", "x"))],
        "is a file",
    ),
]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(("build", "mentions"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_no_leftovers(
    build: Builder,
    mentions: str,
    tmp_path: Path,
    tiny_tls_scenario: Path,
    no_tls_scenario: Path,
) -> None:
    fx = {
        "tls": tiny_tls_scenario,
        "tls_net": tiny_tls_scenario.parent / "tinytls.net.xml",
        "notls": no_tls_scenario,
    }
    inputs = tmp_path / "in"
    inputs.mkdir()
    args = build(inputs, fx)
    before = listing(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert mentions.lower() in lines[0].lower(), lines[0]
    assert proc.stdout == ""
    assert listing(tmp_path) == before  # no output folder, no .partial, no runs/ or results/


def test_the_table_has_at_least_20_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 20
