"""What lightwatch costs over SUMO running alone, measured side by side in one run.

    python benchmarks/speed.py [--rows grid4x4,city,traci,metro,kernel,startup]
                               [--repeat 5] [--repeat-large 3] [--markdown]

Rows (each simulation in a fresh process, seed 1, ``--time-to-teleport -1``):
  grid4x4  ``count``/libsumo on bundled ``grid4x4`` (1 h) over SUMO alone;
  city     the same on ``city`` (100 signals, 1 h);
  traci    ``count``/TraCI on ``grid4x4`` (1 h) over the same reference;
  metro    ``count``/libsumo on ``metro`` (1024 signals, its 900 s window);
  kernel   the count controller alone: one decision round for 10,000 synthetic signals;
  startup  process start to the first simulation step of ``grid4x4``, with a warm numba cache and
           with an empty one (``NUMBA_CACHE_DIR`` pointed at a new temporary folder).

SUMO alone is the ``sumo`` binary on the same net and demand with SUMO's built-in ``actuated``
program (the one of the ``sumo-actuated`` controller) and no client, writing the same outputs as a
lightwatch run (tripinfo with unfinished vehicles, statistics). A lightwatch run is the
``lightwatch run`` command in its own process. Per row and repetition the two alternate; the table
gives medians over repetitions of:
  * loop: lightwatch's own ``wall_s`` (SUMO start, net loading and the simulation loop, from
    ``summary.json``) over the ``sumo`` process wall time;
  * process: the whole ``lightwatch run`` process (imports, scenario checks, output) over the whole
    ``sumo`` process;
  * memory: peak resident memory of the process tree (VmHWM of every process, summed; with
    libsumo SUMO lives inside the lightwatch process, with TraCI it is a child) over the ``sumo``
    process's.
The two controllers do not time the signals alike, so the ratios also hold that difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from speed_kernel import kernel_round_s  # noqa: E402

ALL_ROWS = ("grid4x4", "city", "traci", "metro", "kernel", "startup")
"""Row names for ``--rows`` in their printing order."""

SIM_ROWS = ("grid4x4", "city", "traci", "metro")
LARGE_ROWS = frozenset(("city", "metro"))
"""Rows repeated ``--repeat-large`` times (their runs take minutes)."""


@dataclass(frozen=True)
class RowSpec:
    """One lightwatch-over-SUMO comparison and its targets (ratios; None: no target)."""

    scenario: str
    backend: str
    what: str
    loop_target: float | None
    process_target: float | None
    rss_target: float | None = None


ROW_SPECS: dict[str, RowSpec] = {
    "grid4x4": RowSpec("grid4x4", "libsumo", "grid4x4 1 h, libsumo", 1.3, 1.3),
    "city": RowSpec("city", "libsumo", "city 1 h (100 signals), libsumo", 1.5, 1.5),
    "traci": RowSpec("grid4x4", "traci", "grid4x4 1 h, TraCI", 5.0, 5.0),
    "metro": RowSpec("metro", "libsumo", "metro 900 s (1024 signals), libsumo", 1.5, 1.5, 1.5),
}


@dataclass(frozen=True)
class Measure:
    """One process: wall time [s], CPU time [s], peak resident memory of its tree [MB]."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    loop_s: float | None = None  # lightwatch's own wall_s from summary.json
    delay_s: float | None = None
    running: int | None = None  # vehicles still in the network at the end (lightwatch)
    gridlock: bool | None = None


# --- helpers (unit-tested) --------------------------------------------------------------------


def parse_rows(value: str) -> list[str]:
    """``"grid4x4,metro"`` → row names in printing order; ``"all"`` → every row."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names or names == ["all"]:
        return list(ALL_ROWS)
    unknown = [n for n in names if n not in ALL_ROWS]
    if unknown:
        raise ValueError(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ALL_ROWS)}")
    return [r for r in ALL_ROWS if r in names]


def ratio(mine: Sequence[float], ref: Sequence[float]) -> float:
    """Median of ``mine`` over median of ``ref`` (both non-empty, ``ref`` positive)."""
    if not mine or not ref:
        raise ValueError("ratio of an empty sample")
    base = statistics.median(ref)
    if base <= 0:
        raise ValueError("ratio over a non-positive reference")
    return statistics.median(mine) / base


def verdict(value: float, target: float | None) -> str:
    """``"≤ 1.3× met"`` / ``"≤ 1.3× not met"`` / ``"-"`` when there is no target."""
    if target is None:
        return "-"
    return f"≤ {target:g}× {'met' if value <= target else 'not met'}"


def vmhwm_kb(status_text: str) -> int:
    """Peak resident set size (``VmHWM``, kB) in the text of ``/proc/PID/status``; 0 if absent."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def render(rows: list[tuple[str, str, str]], markdown: bool) -> str:
    """The result table: (measurement, result, target) rows as aligned text or Markdown."""
    if markdown:
        out = ["| measurement | result | target |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        return "\n".join(out)
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b}  [{c}]" for a, b, c in rows)


# --- measuring processes ----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return kids


class TreePeak:
    """Samples the peak resident memory (VmHWM) of a process and its descendants.

    VmHWM only grows, so the last value read per process is (close to) its peak; the tree's peak
    is their sum (an upper bound when the processes do not peak together)."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            todo = [self.pid]
            while todo:
                pid = todo.pop()
                try:
                    with open(f"/proc/{pid}/status") as f:
                        kb = vmhwm_kb(f.read())
                except OSError:
                    continue
                if kb:
                    self.peak_kb[pid] = max(kb, self.peak_kb.get(pid, 0))
                todo += _children(pid)
            self._stop.wait(self.every_s)

    def stop(self) -> float:
        """Stop sampling; the tree's peak in MB."""
        self._stop.set()
        self._thread.join()
        return sum(self.peak_kb.values()) / 1024


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd`` to completion; its wall and CPU time and peak tree memory (``wait4``'s
    ``ru_maxrss`` when larger than the sampled peak)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = TreePeak(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampled_mb = peak.stop()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    # ru_maxrss is in kB on Linux; it covers the process and its waited-for children (max)
    rss_mb = max(sampled_mb, usage.ru_maxrss / 1024)
    return Measure(wall, usage.ru_utime + usage.ru_stime, rss_mb)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def sumo_alone(scenario_name: str, workdir: Path) -> Measure:
    """SUMO with its built-in actuated program and no client."""
    import controllers
    from sim.metrics import tripinfo_metrics
    from sim.scenario import resolve, scan_net
    from sim.sumo_home import sumo_binary

    scenario = resolve(scenario_name)
    scan = scan_net(scenario.net_file)
    if scenario.net_file.name.endswith(".gz"):  # the program writer reads plain XML only
        plain = workdir / "net.net.xml"
        plain.write_bytes(gzip.decompress(scenario.net_file.read_bytes()))
        scan = dataclasses.replace(scan, net_file=plain)
    program = controllers.create("sumo-actuated").additional_files(scan, workdir)
    tripinfo = workdir / "tripinfo.xml"
    cmd = [
        sumo_binary("sumo"),
        *scenario.sumo_args(),
        "-a", ",".join([*map(str, scenario.additional_files), *map(str, program)]),
        "--seed", "1",
        "--time-to-teleport", "-1",
        "--tripinfo-output", str(tripinfo),
        "--tripinfo-output.write-unfinished",
        "--tripinfo-output.write-undeparted",
        "--statistic-output", str(workdir / "statistics.xml"),
        "--no-step-log", "--no-warnings", "--duration-log.disable",
    ]  # fmt: skip
    m = run_process(cmd)
    delay = float(tripinfo_metrics(tripinfo, scenario.begin_s, scenario.end_s)["delay_s"])
    return dataclasses.replace(m, delay_s=delay)


def lightwatch_run(scenario: str, backend: str, workdir: Path) -> Measure:
    """``lightwatch run`` (count, seed 1) as its own process."""
    out = workdir / f"lw-{backend}"
    cmd = [
        sys.executable, "-m", "sim.cli", "run",
        "--scenario", scenario, "--controller", "count", "--seed", "1",
        "--backend", backend, "--out", str(out),
    ]  # fmt: skip
    m = run_process(cmd, env=_env())
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return dataclasses.replace(
        m,
        loop_s=float(summary["wall_s"]),
        delay_s=summary["delay_s"],
        running=summary.get("running"),
        gridlock=summary.get("gridlock"),
    )


def side_by_side(spec: RowSpec, repeat: int) -> tuple[list[Measure], list[Measure]]:
    """Alternate SUMO alone and lightwatch ``repeat`` times: (reference, lightwatch)."""
    ref: list[Measure] = []
    mine: list[Measure] = []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lw-speed-") as tmp:
            ref.append(sumo_alone(spec.scenario, Path(tmp)))
            mine.append(lightwatch_run(spec.scenario, spec.backend, Path(tmp)))
        print(
            f"  {spec.what} {i + 1}/{repeat}: sumo {ref[-1].wall_s:.1f} s "
            f"{ref[-1].rss_mb:.0f} MB, lightwatch {mine[-1].wall_s:.1f} s "
            f"(loop {mine[-1].loop_s:.1f} s) {mine[-1].rss_mb:.0f} MB; delay sumo "
            f"{ref[-1].delay_s:.0f} s, lightwatch {mine[-1].delay_s:.0f} s, "
            f"running {mine[-1].running}, gridlock {mine[-1].gridlock}",
            flush=True,
        )
    return ref, mine


def sim_rows(spec: RowSpec, ref: list[Measure], mine: list[Measure]) -> list[tuple[str, str, str]]:
    """Table rows (loop, process, memory) of one comparison."""
    med = statistics.median
    n = len(ref)
    loop = ratio([m.loop_s or 0.0 for m in mine], [m.wall_s for m in ref])
    proc = ratio([m.wall_s for m in mine], [m.wall_s for m in ref])
    cpu = ratio([m.cpu_s for m in mine], [m.cpu_s for m in ref])
    rss = ratio([m.rss_mb for m in mine], [m.rss_mb for m in ref])
    ref_wall = med([m.wall_s for m in ref])
    return [
        (
            f"`count` {spec.what}: loop over SUMO alone",
            f"{loop:.2f}× ({med([m.loop_s or 0.0 for m in mine]):.1f} / {ref_wall:.1f} s), "
            f"median of {n}",
            verdict(loop, spec.loop_target),
        ),
        (
            f"`count` {spec.what}: process over `sumo` process",
            f"{proc:.2f}× wall ({med([m.wall_s for m in mine]):.1f} / {ref_wall:.1f} s), "
            f"{cpu:.2f}× CPU",
            verdict(proc, spec.process_target),
        ),
        (
            f"`count` {spec.what}: peak memory",
            f"{rss:.2f}× ({med([m.rss_mb for m in mine]):.0f} / "
            f"{med([m.rss_mb for m in ref]):.0f} MB)",
            verdict(rss, spec.rss_target),
        ),
    ]


# --- startup ----------------------------------------------------------------------------------

_PROBE = """
import json, sys, time
from sim.runner import RunConfig, run
first = []
def hook(backend, timing):
    if not first:
        first.append(time.time())
run(RunConfig(scenario=sys.argv[1], controller="count", seed=1, end_s=float(sys.argv[2]),
              out=sys.argv[3]), on_step=hook)
print(json.dumps({"first_step": first[0]}))
"""


def startup_s(scenario: str, workdir: Path, numba_cache: Path | None = None) -> float:
    """Seconds from starting a Python process that runs ``count`` on ``scenario`` to its first
    simulation step (imports, scenario checks, SUMO start, layout, kernels loaded or compiled)."""
    out = workdir / f"startup-{time.monotonic_ns()}"
    env = _env(**({"NUMBA_CACHE_DIR": str(numba_cache)} if numba_cache else {}))
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, scenario, "5", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"startup probe failed: {proc.stderr[-2000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["first_step"]) - t0


def startup_rows(scenario: str, repeat: int) -> list[tuple[str, str, str]]:
    """Warm-cache startup (median of ``repeat``) and the extra cost of an empty numba cache."""
    with tempfile.TemporaryDirectory(prefix="lw-startup-") as tmp:
        work = Path(tmp)
        startup_s(scenario, work)  # fills the ordinary cache
        warm = [startup_s(scenario, work) for _ in range(repeat)]
        cold = []
        for i in range(repeat):
            cache = work / f"numba-cache-{i}"
            cache.mkdir()
            cold.append(startup_s(scenario, work, cache))
    w, c = statistics.median(warm), statistics.median(cold)
    print(f"  startup on {scenario}: warm {warm}, cold {cold}", flush=True)
    return [
        (f"startup to first step, {scenario}, warm numba cache", f"{w:.2f} s", "-"),
        (
            f"startup to first step, {scenario}, empty numba cache",
            f"{c:.2f} s (+{c - w:.2f} s compiling)",
            "-",
        ),
    ]


# --- report -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="all", help=f"comma-separated: {', '.join(ALL_ROWS)}")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of grid4x4/traci/startup")
    ap.add_argument("--repeat-large", type=int, default=3, help="repetitions of city and metro")
    ap.add_argument("--startup-scenario", default="grid4x4")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    try:
        rows = parse_rows(args.rows)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.repeat < 1 or args.repeat_large < 1:
        print("error: --repeat and --repeat-large must be at least 1", file=sys.stderr)
        return 2

    from sim import __version__
    from sim.sumo_home import sumo_version

    print(
        f"lightwatch {__version__}, SUMO {sumo_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    table: list[tuple[str, str, str]] = []
    for row in rows:
        if row in SIM_ROWS:
            spec = ROW_SPECS[row]
            repeat = args.repeat_large if row in LARGE_ROWS else args.repeat
            table += sim_rows(spec, *side_by_side(spec, repeat))
        elif row == "kernel":
            round_s, n = kernel_round_s()
            table.append(
                (
                    f"`count` decision round, {n:,} synthetic signals",
                    f"{round_s * 1e3:.3f} ms per round = {n / round_s:.3g} decisions/s",
                    "< 1 ms",
                )
            )
        elif row == "startup":
            table += startup_rows(args.startup_scenario, args.repeat)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    print(render(table, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
