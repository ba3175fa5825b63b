"""``lightwatch bench``: suites, resume, the regression gate and the Dask executor (real SUMO).

One tiny suite (bundled ``single``, 300 s, fixed and count, seeds 1 and 2) is run once per module
and blessed; the other tests reuse its results (``--resume``) or rerun it into fresh folders. The
gate's comparison logic is also tested on small hand-made reports and baselines.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sim import bench
from sim.bench import gate
from sim.bench.executors import _done
from sim.errors import InputError
from sim.sumo_home import sumo_version

SUITE = """\
name = "tiny"
seeds = [1, 2]

[defaults]
end_s = 300.0

[[scenarios]]
name = "single"

{fixed}
[[controllers]]
name = "count"
{count_extra}
"""
END_S = 300.0
KEYS = [f"single/{c}/seed{s}" for c in ("fixed", "count") for s in (1, 2)]


def lightwatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``lightwatch ARGS`` in a subprocess (its exit code and output are part of the contract)."""
    return subprocess.run(
        [sys.executable, "-c", "from sim.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_suite(folder: Path, count_extra: str = "", fixed: bool = True) -> Path:
    """The tiny suite; ``count_extra`` is added to count's table, ``fixed`` keeps that one."""
    path = folder / "tiny.toml"
    text = SUITE.format(count_extra=count_extra, fixed='[[controllers]]\nname = "fixed"\n' * fixed)
    path.write_text(text, encoding="utf-8")
    return path


def metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without what may differ between identical runs (wall time, manifest)."""
    return {k: v for k, v in summary.items() if k not in ("wall_s", "manifest")}


@pytest.fixture(scope="module")
def blessed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny suite run once with ``--bless``: its suite file, out folder and baseline."""
    root = tmp_path_factory.mktemp("bench")
    suite = write_suite(root)
    out = root / "out"
    base = root / "baseline.json"
    proc = lightwatch("bench", "--suite", suite, "--out", out, "--jobs", "2", "--bless", base)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "suite": suite, "out": out, "baseline": base}


def read_summary(out: Path, key: str) -> dict[str, Any]:
    return json.loads((out / "runs" / key / "summary.json").read_text(encoding="utf-8"))


def test_bench_writes_one_result_per_run_and_the_means(blessed: dict[str, Path]) -> None:
    out = blessed["out"]
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    for key in KEYS:
        summary = read_summary(out, key)
        assert summary["manifest"]["seed"] == int(key[-1])
        assert summary["manifest"]["end_s"] == END_S
    for ctl in ("fixed", "count"):
        entry = report["results"]["single"][ctl]
        delays = [read_summary(out, f"single/{ctl}/seed{s}")["delay_s"] for s in (1, 2)]
        assert entry["n_seeds"] == 2
        assert entry["mean"]["delay_s"] == pytest.approx(sum(delays) / 2)
        # 95 % CI of two values: t(0.975; 1 dof) * sd / sqrt(2) = tan(0.475 pi) * |a - b| / 2
        t_1 = math.tan(0.475 * math.pi)
        assert entry["ci95"]["delay_s"] == pytest.approx(t_1 * abs(delays[0] - delays[1]) / 2)
    baseline = json.loads(blessed["baseline"].read_text(encoding="utf-8"))
    assert baseline["sumo_version"] == report["sumo_version"]
    assert baseline["lightwatch_version"] == report["lightwatch_version"]
    assert baseline["results"]["single"]["count"]["mean"]["delay_s"] == pytest.approx(
        report["results"]["single"]["count"]["mean"]["delay_s"]
    )
    assert "wall_s" not in baseline["results"]["single"]["count"]["mean"]


def test_gate_passes_against_a_baseline_blessed_from_the_same_code(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    proc = lightwatch(
        "bench", "--suite", blessed["suite"], "--out", tmp_path, "--compare", blessed["baseline"]
    )
    assert proc.returncode == 0, proc.stderr
    assert "gate passed" in proc.stdout
    for key in KEYS:  # rerun from scratch: same seeds, same metrics
        assert metrics(read_summary(tmp_path, key)) == metrics(read_summary(blessed["out"], key))


def test_a_changed_setting_is_a_mismatch_and_nothing_runs(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    suite = write_suite(tmp_path, count_extra="max_green_s = 5.0", fixed=False)
    out = tmp_path / "out"
    proc = lightwatch("bench", "--suite", suite, "--out", out, "--compare", blessed["baseline"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "single/count settings differ from the baseline's: max_green_s None -> 5.0" in lines[0]
    assert "in the baseline but not in this bench: single/fixed" in lines[0]
    assert f"re-bless: lightwatch bench --suite {suite} --bless {blessed['baseline']}" in lines[0]
    assert not out.exists()  # known before anything ran


def test_other_seeds_are_a_mismatch(blessed: dict[str, Path], tmp_path: Path) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        blessed["suite"].read_text(encoding="utf-8").replace("seeds = [1, 2]", "seeds = [2, 3]")
    )
    proc = lightwatch(
        "bench", "--suite", suite, "--out", tmp_path / "o", "--compare", blessed["baseline"]
    )
    assert proc.returncode == 1, proc.stderr
    assert "seeds [2, 3] here, [1, 2] in the baseline" in proc.stderr.splitlines()[-1]
    # the same seeds in another order are the same seeds
    suite.write_text(
        blessed["suite"].read_text(encoding="utf-8").replace("seeds = [1, 2]", "seeds = [2, 1]")
    )
    args = ("bench", "--suite", suite, "--out", blessed["out"], "--resume")
    proc = lightwatch(*args, "--compare", blessed["baseline"])
    assert proc.returncode == 0, proc.stderr
    assert "gate passed: 6 metrics compared" in proc.stdout


def doctored(blessed: dict[str, Path], tmp_path: Path, **top: Any) -> Path:
    """The blessed baseline with count's delay 10 % lower and throughput 10 % higher."""
    data = json.loads(blessed["baseline"].read_text(encoding="utf-8"))
    mean = data["results"]["single"]["count"]["mean"]
    mean["delay_s"] *= 0.9
    mean["throughput_veh_h"] *= 1.1
    data.update(top)
    path = tmp_path / "doctored.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_gate_names_each_metric_worse_than_a_doctored_baseline(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    base = doctored(blessed, tmp_path)
    args = ("bench", "--suite", blessed["suite"], "--out", blessed["out"], "--resume")
    proc = lightwatch(*args, "--compare", base)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert "single/count delay_s" in error
    assert "single/count throughput_veh_h" in error
    assert "queue_mean_veh" not in error
    assert "0 to run" in proc.stderr  # everything reused
    # a tolerance wider than the doctored change passes
    assert lightwatch(*args, "--compare", base, "--tolerance", "15%").returncode == 0


def _patch_bumped(version: str) -> str:
    major, minor, patch = [*version.split("."), "0", "0"][:3]
    return f"{major}.{minor}.{int(patch) + 1}"


def test_a_sumo_patch_release_is_compared_strictly(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    other = _patch_bumped(sumo_version())
    base = doctored(blessed, tmp_path, sumo_version=other)
    args = ("bench", "--suite", blessed["suite"], "--out", blessed["out"], "--resume")
    proc = lightwatch(*args, "--compare", base)
    assert proc.returncode == 1, proc.stderr  # the doctored metrics are still found
    assert f"note: baseline blessed with SUMO {other}" in proc.stderr
    assert "compared strictly" in proc.stderr
    assert "single/count delay_s" in proc.stderr.splitlines()[-1]


def test_another_sumo_release_fails_and_names_the_rebless_command(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    major, minor = gate.sumo_release(sumo_version()) or (1, 0)
    base = doctored(blessed, tmp_path, sumo_version=f"{major}.{minor + 1}.0")
    args = ("bench", "--suite", blessed["suite"], "--out", blessed["out"], "--resume")
    proc = lightwatch(*args, "--compare", base)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"SUMO {sumo_version()} here, {major}.{minor + 1}.0 in the baseline" in lines[0]
    assert f"lightwatch bench --suite {blessed['suite']} --bless {base}" in lines[0]
    assert "gate passed" not in proc.stdout


def test_compare_with_nothing_to_compare_is_an_input_error(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    skipped = tmp_path / "skipped.toml"
    skipped.write_text(
        'seeds = [1]\nskip_missing = true\n[[scenarios]]\npath = "absent/x.sumocfg"\n'
        '[[controllers]]\nname = "count"\n',
        encoding="utf-8",
    )
    proc = lightwatch("bench", "--suite", skipped, "--compare", blessed["baseline"])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: --compare: nothing to compare")
    empty = tmp_path / "empty.json"
    data = json.loads(blessed["baseline"].read_text(encoding="utf-8"))
    empty.write_text(json.dumps({**data, "results": {}}), encoding="utf-8")
    proc = lightwatch("bench", "--suite", blessed["suite"], "--compare", empty)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"error: --compare: baseline {empty} holds no results, nothing to compare"
    ]


def test_resume_runs_only_the_missing_runs(blessed: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(blessed["out"], out)
    (out / "runs" / "single" / "count" / "seed2" / "summary.json").unlink()
    # a leftover of an interrupted run is redone as well
    shutil.rmtree(out / "runs" / "single" / "fixed" / "seed1")
    kept = {k: (out / "runs" / k / "summary.json").stat().st_mtime_ns for k in KEYS[1:3]}
    proc = lightwatch("bench", "--suite", blessed["suite"], "--out", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "2 already done, 2 to run" in proc.stderr
    ran = sorted(line.split()[1].rstrip(":") for line in proc.stderr.splitlines() if "] " in line)
    assert ran == ["single/count/seed2", "single/fixed/seed1"]
    for key, mtime in kept.items():
        assert (out / "runs" / key / "summary.json").stat().st_mtime_ns == mtime
    for key in KEYS:
        assert metrics(read_summary(out, key)) == metrics(read_summary(blessed["out"], key))


def test_a_bench_interrupted_halfway_resumes_with_only_the_missing_runs(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["bench", "--suite", str(blessed["suite"]), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sim.cli import main; main()", *args],
        # a background shell starts the tests with SIGINT ignored, which children inherit: undo
        # that, as benchmarks/sweep.py does, so the SIGINT below acts as Ctrl-C in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("runs/*/*/*/summary.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the bench and its worker
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    done = {k for k in KEYS if (out / "runs" / k / "summary.json").is_file()}
    assert 1 <= len(done) < len(KEYS)
    proc2 = lightwatch("bench", "--suite", blessed["suite"], "--out", out, "--resume")
    assert proc2.returncode == 0, proc2.stderr
    ran = {line.split()[1].rstrip(":") for line in proc2.stderr.splitlines() if "] " in line}
    assert ran == set(KEYS) - done
    for key in KEYS:
        assert metrics(read_summary(out, key)) == metrics(read_summary(blessed["out"], key))


def test_sigterm_to_the_bench_alone_stops_the_runs_in_flight(tmp_path: Path) -> None:
    # SIGTERM sent to the bench process only (a service manager, `kill PID`): its worker is not
    # told by the terminal, so the bench itself must stop the run it has in flight
    suite = tmp_path / "long.toml"
    suite.write_text(
        'name = "long"\nseeds = [1]\n\n[[scenarios]]\nname = "grid4x4"\nprofile = "saturated"\n'
        '\n[[controllers]]\nname = "count"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sim.cli import main; main()", "bench", "--suite", str(suite),
         "--out", str(out), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            trips = list(out.rglob("*.partial/tripinfo.xml"))
            if trips and b"<tripinfo " in trips[0].read_bytes():
                break  # the run is stepping
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert not list(out.rglob("summary.json"))  # the hour-long run did not go on to its end
    markers = list(out.rglob("*.partial/PARTIAL"))
    assert len(markers) == 1 and "simulated_time_s" in markers[0].read_text(encoding="utf-8")


def test_resume_reruns_a_result_made_with_another_configuration(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    suite = bench.load_suite(write_suite(tmp_path, count_extra="max_green_s = 30.0"))
    same, other = (
        [r for r in suite.runs if r.controller == c and r.seed == 1] for c in ("fixed", "count")
    )
    assert _done(blessed["out"], same[0]) is not None
    assert _done(blessed["out"], other[0]) is None


def test_dask_executor_equals_the_local_pool(blessed: dict[str, Path], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    suite = bench.load_suite(blessed["suite"])
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        outcome = bench.run_suite(
            suite, tmp_path, executor="dask", scheduler=cluster.scheduler_address, echo=print
        )
    assert not outcome.failed
    assert sorted(outcome.ran) == sorted(KEYS)
    for key in KEYS:
        local = read_summary(blessed["out"], key)
        remote = read_summary(tmp_path, key)
        diff = {k: (v, metrics(remote).get(k)) for k, v in metrics(local).items()}
        assert metrics(remote) == metrics(local), {k: v for k, v in diff.items() if v[0] != v[1]}
        assert remote["manifest"]["config"]["out"] == str((tmp_path / "runs" / key).resolve())
        assert (tmp_path / "runs" / key / "queues.csv").read_bytes() == (
            blessed["out"] / "runs" / key / "queues.csv"
        ).read_bytes()


def test_bench_records_a_failed_run_and_finishes_the_others(tmp_path: Path) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(
        'seeds = [1]\nscenarios = ["single"]\ncontrollers = ["fixed", "count"]\n'
        "[defaults]\nend_s = 120.0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    (out / "runs" / "single").mkdir(parents=True)
    (out / "runs" / "single" / "count").write_text("not a folder", encoding="utf-8")
    proc = lightwatch("bench", "--suite", suite, "--out", out)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: 1 of 2 runs failed: single/count/seed1")
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert list(report["failed"]) == ["single/count/seed1"]
    assert list(report["results"]["single"]) == ["fixed"]
    assert (out / "runs" / "single" / "fixed" / "seed1" / "summary.json").is_file()


def test_compare_records_a_failed_run_and_finishes_the_others(tmp_path: Path) -> None:
    """``compare`` runs through the bench executor: a run that fails (here: its folder is
    blocked by a file) is named at the end, exit 1, after the other runs finished."""
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "count").write_text("not a folder", encoding="utf-8")
    proc = lightwatch(
        "compare", "--scenario", "single", "--controllers", "fixed,count", "--seeds", "1,2",
        "--end", "120", "--out", out, "--jobs", "2",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith("error: 2 of 4 runs failed: single/count/seed1, single/count/seed2")
    assert "is a file, not a folder" in error
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert set(data["controllers"]) == {"fixed"}
    assert set(data["failed"]) == {"single/count/seed1", "single/count/seed2"}
    for seed in (1, 2):
        assert (out / "fixed" / f"seed{seed}" / "summary.json").is_file()
    delays = [data["controllers"]["fixed"]["seeds"][k]["delay_s"] for k in ("1", "2")]
    assert data["controllers"]["fixed"]["mean"]["delay_s"] == pytest.approx(sum(delays) / 2)


# --- suite files and gate logic without SUMO runs -------------------------------------------


def test_unknown_controllers_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'seeds = [1]\nscenarios = ["single"]\ncontrollers = ["fixed", "nope", "count", "zilch"]\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"unknown controller\(s\) nope, zilch; registered: "):
        bench.load_suite(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('seeds = []\nscenarios = ["single"]\ncontrollers = ["count"]', "seeds must be"),
        ('seeds = [1]\nscenarios = ["nowhere"]\ncontrollers = ["count"]', "no bundled scenario"),
        ('seeds = [1]\nscenarios = ["single"]\ncontrollers = []', "lists no controllers"),
        (
            'seeds = [1]\nscenarios = ["single"]\n[[controllers]]\nname = "count"\nmax_gren_s = 5',
            "unknown key 'max_gren_s'",
        ),
        (
            'seeds = [1]\nscenarios = ["single"]\n[[controllers]]\nname = "count"\nend_s = "x"',
            "end_s must be a number",
        ),
        (
            'seeds = [1]\nscenarios = ["single"]\n[[controllers]]\nname = "count"\n'
            "params = { extend_veh = -1 }",
            "extend_veh",
        ),
        ('seeds = [1]\nscenarios = ["single", "single"]\ncontrollers = ["count"]', "twice"),
        ('seeds = [1]\nscenarios = ["single"]\ncontrollers = ["count"]\nbogus = 1', "bogus"),
        ("seeds = [1", "not valid TOML"),
    ],
)
def test_bad_suites_are_input_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        bench.load_suite(path)


def test_suite_params_take_toml_booleans_as_tune_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    head = 'seeds = [1]\nscenarios = ["single"]\n[[controllers]]\nname = "sumo-actuated"\n'
    path.write_text(head + "params = { build_all_detectors = true, max_gap_s = 2 }\n")
    (run,) = bench.load_suite(path).runs
    assert run.config.params == {"build_all_detectors": "true", "max_gap_s": 2}
    path.write_text(head.replace("sumo-actuated", "count") + "params = { extend_veh = true }\n")
    with pytest.raises(InputError, match="'extend_veh' must be a number"):
        bench.load_suite(path)
    path.write_text(head + "params = { max_gap_s = [2] }\n")
    with pytest.raises(InputError, match="table of numbers, strings or booleans"):
        bench.load_suite(path)


def test_missing_scenario_paths_are_skipped_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    path = tmp_path / "suites" / "s.toml"
    body = (
        'seeds = [1]\nroot = ".."\n{skip}\n[[scenarios]]\nname = "single"\n'
        '[[scenarios]]\npath = "data/absent"\n[[controllers]]\nname = "count"\n'
    )
    path.write_text(body.format(skip="skip_missing = true"), encoding="utf-8")
    suite = bench.load_suite(path)
    assert suite.scenarios == ("single",)
    assert len(suite.skipped) == 1
    assert str(tmp_path / "data" / "absent") in suite.skipped[0]
    path.write_text(body.format(skip=""), encoding="utf-8")
    with pytest.raises(InputError, match="scenario file not found"):
        bench.load_suite(path)


def test_realworld_suite_resolves_against_the_repo_root() -> None:
    suite = bench.load_suite(Path(__file__).parents[1] / "benchmarks" / "suites" / "realworld.toml")
    resco = Path(__file__).resolve().parents[2] / "shared" / "scenarios" / "resco"
    names = ("cologne1", "cologne3", "cologne8", "ingolstadt1", "ingolstadt7", "ingolstadt21")
    present = tuple(n for n in names if (resco / n).is_dir())
    assert suite.scenarios == present
    assert len(suite.skipped) == len(names) - len(present)
    for r in suite.runs:
        assert Path(r.config.scenario).resolve() == (resco / r.scenario).resolve()


def test_committed_suites_load() -> None:
    folder = Path(__file__).parents[1] / "benchmarks" / "suites"
    for name in ("ci", "full"):
        suite = bench.load_suite(folder / f"{name}.toml")
        assert suite.runs and not suite.skipped


@pytest.mark.parametrize(
    ("text", "value"), [("2%", 0.02), ("0.5 %", 0.005), ("0.02", 0.02), ("0%", 0.0)]
)
def test_tolerance_parsing(text: str, value: float) -> None:
    assert gate.parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["2", "abc", "-1%", ""])
def test_bad_tolerances(text: str) -> None:
    with pytest.raises(InputError, match="tolerance"):
        gate.parse_tolerance(text)


def _report(
    delay: float = 100.0,
    queue: float = 2.0,
    veh_h: float = 1000.0,
    sumo: str = "1.28.0",
    seeds: tuple[int, ...] = (1,),
    settings: dict[str, Any] | None = None,
    pairs: tuple[tuple[str, str], ...] = (("s", "c"),),
) -> dict[str, Any]:
    """A hand-made bench report: the same means and settings for every pair."""
    mean = {"delay_s": delay, "queue_mean_veh": queue, "throughput_veh_h": veh_h}
    results: dict[str, Any] = {}
    for s, c in pairs:
        results.setdefault(s, {})[c] = {
            "n_seeds": len(seeds),
            "mean": dict(mean),
            "ci95": {},
            "settings": dict(settings or {}),
            "seeds": {},
        }
    return {
        "suite": "t",
        "seeds": list(seeds),
        "lightwatch_version": "1",
        "sumo_version": sumo,
        "results": results,
    }


def test_compare_directions_and_tolerance() -> None:
    base = gate.make_baseline(_report(100.0, 2.0, 1000.0))
    same = gate.compare(_report(101.9, 2.039, 981.0), base, 0.02)
    assert same.regressions == [] and same.mismatches == [] and len(same.findings) == 3
    worse = gate.compare(_report(102.1, 1.0, 979.0), base, 0.02)
    assert [f.metric for f in worse.regressions] == ["delay_s", "throughput_veh_h"]
    better = gate.compare(_report(50.0, 0.0, 2000.0), base, 0.0)
    assert better.regressions == []
    from_zero = gate.compare(
        _report(100.0, 0.1, 1000.0), gate.make_baseline(_report(100, 0, 1000)), 0.5
    )
    assert [f.metric for f in from_zero.regressions] == ["queue_mean_veh"]


def test_a_patch_release_is_a_note_and_the_comparison_stays_strict() -> None:
    base = gate.make_baseline(_report(sumo="1.28.0"))
    result = gate.compare(_report(delay=110.0, sumo="1.28.1"), base, 0.02)
    assert result.mismatches == []
    assert result.notes and "1.28.0" in result.notes[0] and "1.28.1" in result.notes[0]
    assert [f.metric for f in result.regressions] == ["delay_s"]
    assert gate.compare(_report(sumo="1.28.0"), base, 0.02).notes == []


@pytest.mark.parametrize(
    ("changed", "phrase"),
    [
        ({"sumo": "1.29.0"}, "SUMO 1.29.0 here, 1.28.0 in the baseline"),
        ({"sumo": "2.28.0"}, "SUMO 2.28.0 here"),
        ({"sumo": "git-main"}, "SUMO git-main here"),
        ({"seeds": (1, 3)}, "seeds [1, 3] here, [1, 2] in the baseline"),
        (
            {"settings": {"max_green_s": 30.0}},
            "s/c settings differ from the baseline's: max_green_s None -> 30.0",
        ),
        ({"pairs": (("s", "c"), ("s", "d"))}, "not in the baseline: s/d"),
        ({"pairs": (("t", "c"),)}, "in the baseline but not in this bench: s/c"),
    ],
)
def test_what_differs_from_the_baseline_is_named(changed: dict[str, Any], phrase: str) -> None:
    base = gate.make_baseline(_report(seeds=(1, 2)))
    report = _report(**{"seeds": (1, 2), **changed})
    found = gate.mismatches(report, base)
    assert any(phrase in m for m in found), found
    assert gate.compare(report, base, 0.02).mismatches == found


def test_equal_runs_are_no_mismatch() -> None:
    base = gate.make_baseline(_report(seeds=(1, 2), settings={"end_s": 300.0}))
    # same seeds in another order; a key absent on one side equals its RunConfig default
    report = _report(seeds=(2, 1), settings={"end_s": 300.0, "stuck_s": 300.0})
    assert gate.mismatches(report, base) == []
    assert gate.mismatches(_report(seeds=(2, 1), settings={"end_s": 301.0}), base) != []


def test_baseline_missing_or_foreign_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="baseline not found"):
        gate.load_baseline(tmp_path / "none.json")
    other = tmp_path / "other.json"
    other.write_text('{"delay_s": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="not a lightwatch bench baseline"):
        gate.load_baseline(other)
    proc = lightwatch("bench", "--suite", tmp_path / "none.toml", "--compare", other)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
