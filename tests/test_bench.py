"""``lightwatch bench``: suites, resume, the regression gate and the Dask executor (real SUMO).

One tiny suite (bundled ``single``, 600 s, fixed and count, seeds 1 and 2) is run once per module
and blessed; the other tests reuse its results (``--resume``) or rerun it into fresh folders.
"""

from __future__ import annotations

import json
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
from sim.errors import InputError

SUITE = """\
name = "tiny"
seeds = [1, 2]

[defaults]
end_s = 600.0

[[scenarios]]
name = "single"

{fixed}
[[controllers]]
name = "count"
{count_extra}
"""
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
        assert summary["manifest"]["end_s"] == 600.0
    for ctl in ("fixed", "count"):
        entry = report["results"]["single"][ctl]
        delays = [read_summary(out, f"single/{ctl}/seed{s}")["delay_s"] for s in (1, 2)]
        assert entry["n_seeds"] == 2
        assert entry["mean"]["delay_s"] == pytest.approx(sum(delays) / 2)
        # 95 % CI of two values: t(1) * |a - b| / 2
        assert entry["ci95"]["delay_s"] == pytest.approx(12.706 * abs(delays[0] - delays[1]) / 2)
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


def test_gate_fails_and_names_the_metric_after_a_worse_setting(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    suite = write_suite(tmp_path, count_extra="max_green_s = 5.0", fixed=False)
    proc = lightwatch(
        "bench", "--suite", suite, "--out", tmp_path / "out", "--compare", blessed["baseline"]
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith("error: ") and "worse than the baseline" in error
    assert "single/count delay_s" in error
    assert "max_green_s None -> 5.0" in proc.stdout  # the changed setting is reported
    assert "single/fixed is in the baseline but was not run" in proc.stdout


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


def test_sumo_version_mismatch_asks_for_a_rebless_and_does_not_fail(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    base = doctored(blessed, tmp_path, sumo_version="0.0.1")
    proc = lightwatch(
        "bench", "--suite", blessed["suite"], "--out", blessed["out"], "--resume",
        "--compare", base,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "baseline must be re-blessed" in proc.stderr
    assert "SUMO 0.0.1" in proc.stderr


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


def test_resume_reruns_a_result_made_with_another_configuration(
    blessed: dict[str, Path], tmp_path: Path
) -> None:
    suite = bench.load_suite(write_suite(tmp_path, count_extra="max_green_s = 30.0"))
    same, other = (
        [r for r in suite.runs if r.controller == c and r.seed == 1] for c in ("fixed", "count")
    )
    assert bench._done(blessed["out"], same[0]) is not None
    assert bench._done(blessed["out"], other[0]) is None


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
    assert bench.parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["2", "abc", "-1%", ""])
def test_bad_tolerances(text: str) -> None:
    with pytest.raises(InputError, match="tolerance"):
        bench.parse_tolerance(text)


def _report(delay: float, queue: float, veh_h: float) -> dict[str, Any]:
    mean = {"delay_s": delay, "queue_mean_veh": queue, "throughput_veh_h": veh_h}
    entry = {"n_seeds": 1, "mean": mean, "ci95": {}, "settings": {}, "seeds": {}}
    return {
        "suite": "t",
        "seeds": [1],
        "lightwatch_version": "1",
        "sumo_version": "1.28.0",
        "results": {"s": {"c": entry}},
    }


def test_compare_directions_and_tolerance() -> None:
    base = bench.make_baseline(_report(100.0, 2.0, 1000.0))
    same = bench.compare(_report(101.9, 2.039, 981.0), base, 0.02)
    assert same.regressions == [] and same.rebless_needed is None
    worse = bench.compare(_report(102.1, 1.0, 979.0), base, 0.02)
    assert [f.metric for f in worse.regressions] == ["delay_s", "throughput_veh_h"]
    better = bench.compare(_report(50.0, 0.0, 2000.0), base, 0.0)
    assert better.regressions == []
    from_zero = bench.compare(
        _report(100.0, 0.1, 1000.0), bench.make_baseline(_report(100, 0, 1000)), 0.5
    )
    assert [f.metric for f in from_zero.regressions] == ["queue_mean_veh"]


def test_baseline_missing_or_foreign_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="baseline not found"):
        bench.load_baseline(tmp_path / "none.json")
    other = tmp_path / "other.json"
    other.write_text('{"delay_s": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="not a lightwatch bench baseline"):
        bench.load_baseline(other)
    proc = lightwatch("bench", "--suite", tmp_path / "none.toml", "--compare", other)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
