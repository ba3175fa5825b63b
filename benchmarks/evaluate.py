"""The headline comparison on the evaluation seeds (benchmarks/PROTOCOL.md).

    python benchmarks/evaluate.py --run [--jobs 2]   # run (resumable) and print the table
    python benchmarks/evaluate.py                    # print the table from finished runs
    python benchmarks/evaluate.py --tune [--jobs 2]  # re-tune every peer (seeds 1-3), then --run
    python benchmarks/evaluate.py --run --networks single,corridor   # only these networks' rows
    python benchmarks/evaluate.py --run --controllers count   # one column; the rest: records

``--run`` runs ``benchmarks/suites/eval.toml`` (every controller at its defaults) and, per network,
a generated suite with each peer at its tuned setting from ``benchmarks/tuned/NAME.toml``, through
``lightwatch bench --resume`` (output under ``--out``, default ``results/eval``). A tuned setting
equal to the peer's defaults is not run again: its column repeats the default's figures.

Each cell: mean ``delay_s`` ± half-width of its 95 % interval (Student t over the seeds) / the worst
seed's delay; the lowest mean of a row is in bold. ``jam sN`` marks a run on seed N that jammed:
the runner flagged gridlock, a jammed lane or a blocked junction while some other column of that
row and seed did not, or more vehicles were still ``running`` at the end than ``JAM_FACTOR`` times
the fewest of any other column on that seed plus ``JAM_SLACK_VEH``. Below the table: count / best
tuned peer per row, their geometric mean, the rows where count's mean is above that peer's, the
seeds where count's delay exceeds 1.01 x fixed time, and the rows where count's throughput is below
99.5 % of the best peer's.

``--networks`` restricts everything to the rows of the named networks (``single`` covers
``single``, ``single.peak``, ...): the evaluation suite filtered to them (written to
``OUT/suites/``, with an absolute root, so its runs are the same runs as the full suite's and
either reuses the other's), their tuned suites, and the table. It lets the ten-hour evaluation
be done and published network by network.

Records (``benchmarks/records/eval.json``, committed): the per-seed figures the table reads
(``delay_s``, ``throughput_veh_h``, ``running`` and the jam watches' times) of every cell, with
the lightwatch and SUMO versions, git commit and date of its runs. Each printed table first
updates the records with the cells its runs produced, then fills the cells it has no runs for
from them, and says which cells came from records and from which commits. So the evaluation can
be built across machines and sessions, and after a change to one controller only its column is
run again (``--controllers NAME``: only those columns, default and tuned, are run); a column's
records must be refreshed whenever its code or the shared code under it changes.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import tomli_w
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
EVAL_SUITE = REPO / "benchmarks" / "suites" / "eval.toml"
TUNE_SUITE = REPO / "benchmarks" / "suites" / "tune-scenarios.toml"
TUNED_DIR = REPO / "benchmarks" / "tuned"
GRIDS = TUNED_DIR / "grids.toml"
TUNE_SEEDS = "1-3"
JAM_FACTOR = 2.0  # a run jams when running > JAM_FACTOR x fewest of the others + JAM_SLACK_VEH
JAM_SLACK_VEH = 20
JAM_KEYS = ("gridlock_at_s", "jammed_at_s", "blocked_at_s")  # the runner's jam watches
WORSE_THAN_FIXED = 1.01
THROUGHPUT_SHORT = 0.995
SUBJECT = "count"
BASELINE = "fixed"
RECORDS = REPO / "benchmarks" / "records" / "eval.json"
RECORD_KEYS = ("delay_s", "throughput_veh_h", "running", *JAM_KEYS)

sys.path.insert(0, str(REPO))
from sim.errors import InputError, LightwatchError  # noqa: E402
from sim.tune import run_bench, write_atomic  # noqa: E402
from sim.tuned import load_tuned  # noqa: E402


def tuned_label(peer: str) -> str:
    return f"{peer}.tuned"


def network_of(row: str) -> str:
    """The network part of an evaluation row label (``grid4x4.peak`` → ``grid4x4``)."""
    return row.split(".", 1)[0]


def is_default(peer: str, entry: dict[str, Any]) -> bool:
    """True when a tuned entry's params and settings equal the peer's defaults."""
    import controllers

    ctl = controllers.create(peer)
    if any(ctl.param_dict().get(k) != v for k, v in entry.get("params", {}).items()):
        return False
    return all(
        getattr(ctl.timing_defaults, k, None) == v for k, v in entry.get("settings", {}).items()
    )


def tuned_files(tuned_dir: Path) -> dict[str, dict[str, Any]]:
    """``{peer: tuned document}`` of every ``NAME.toml`` in ``tuned_dir`` (``grids.toml`` aside)."""
    docs = {}
    for path in sorted(tuned_dir.glob("*.toml")):
        if path.name != GRIDS.name:
            doc = load_tuned(path)
            docs[doc["controller"]] = doc
    return docs


def suite_rows(doc: dict[str, Any]) -> list[str]:
    """Row labels of an evaluation suite document, in order."""
    return [
        str(s.get("label") or s.get("name") or Path(str(s.get("path"))).name)
        for s in doc["scenarios"]
    ]


def controller_names(doc: dict[str, Any]) -> list[str]:
    """Controller names of a suite document, in order."""
    return [c["name"] if isinstance(c, dict) else c for c in doc["controllers"]]


def restrict(
    eval_suite: Path, networks: list[str], out: Path, controllers: list[str] | None = None
) -> Path:
    """Write ``eval_suite`` keeping only the rows of ``networks`` (all when empty) and the
    ``controllers`` (all when None) to ``out/suites/`` (absolute root: the runs are those of
    the full suite) and return its path. Raises InputError naming a network or controller the
    suite does not have."""
    doc = tomllib.loads(eval_suite.read_text(encoding="utf-8"))
    have = list(dict.fromkeys(network_of(r) for r in suite_rows(doc)))
    names = controller_names(doc)
    for name in controllers or []:
        if name not in names:
            raise InputError(
                f"--controllers: {eval_suite.name} has no controller {name!r} "
                f"(it has {', '.join(names)})"
            )
    networks = networks or have
    for net in networks:
        if net not in have:
            raise InputError(
                f"--networks: {eval_suite.name} has no network {net!r} (it has {', '.join(have)})"
            )
    doc["root"] = str((eval_suite.parent / str(doc.get("root", "."))).resolve())
    doc["scenarios"] = [
        s
        for s, row in zip(doc["scenarios"], suite_rows(doc), strict=True)
        if network_of(row) in networks
    ]
    if controllers is not None:
        doc["controllers"] = [
            c for c, n in zip(doc["controllers"], names, strict=True) if n in controllers
        ]
    parts = "+".join(networks) if networks != have else "all"
    if controllers is not None:
        parts += "-" + "+".join(controllers)
    path = out / "suites" / f"{eval_suite.stem}-{parts}.toml"
    write_atomic(path, tomli_w.dumps(doc))
    return path


def tuned_suites(
    eval_suite: Path, tuned: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], bool]]:
    """Per network: a suite of its evaluation rows × each peer at its tuned setting.

    Tuned files are keyed by network (the label part before the first dot). Returns
    ``({network: suite document}, {(row, peer): tuned equals default})``; a network without a
    tuned setting of a peer gets no entry for it.
    """
    from sim.tune import controller_entry

    doc = tomllib.loads(eval_suite.read_text(encoding="utf-8"))
    root = str((eval_suite.parent / str(doc.get("root", "."))).resolve())
    rows: dict[str, list[dict[str, Any]]] = {}
    for s, label in zip(doc["scenarios"], suite_rows(doc), strict=True):
        rows.setdefault(network_of(label), []).append({**s, "label": label})
    suites, same = {}, {}
    for net, scen in rows.items():
        entries = []
        for peer, t in tuned.items():
            entry = t["scenarios"].get(net)
            if entry is None:
                continue
            equal = is_default(peer, entry)
            same.update({(s["label"], peer): equal for s in scen})
            if equal:
                continue
            entries.append(
                controller_entry(
                    peer, tuned_label(peer), entry.get("params", {}), entry.get("settings", {})
                )
            )
        if entries:
            suites[net] = {
                "name": f"eval-tuned-{net}",
                "seeds": doc["seeds"],
                "root": root,
                "skip_missing": bool(doc.get("skip_missing", False)),
                **({"defaults": doc["defaults"]} if "defaults" in doc else {}),
                "scenarios": scen,
                "controllers": entries,
            }
    return suites, same


# ---------------------------------------------------------------------------------------------
# the table


def ci95(values: list[float]) -> float:
    """Half-width of the 95 % interval of the mean (Student t; 0 for one value)."""
    n = len(values)
    if n < 2:
        return 0.0
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    return float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


def merge(default: dict[str, Any], tuned_reports: list[dict[str, Any]], same: dict) -> dict:
    """``{row: {column: {seed: metrics}}}`` from the default bench and the tuned benches; a tuned
    column equal to the default repeats the default's seeds."""
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for row, per in default["results"].items():
        for col, e in per.items():
            table.setdefault(row, {})[col] = e["seeds"]
    for rep in tuned_reports:
        for row, per in rep["results"].items():
            for col, e in per.items():
                table.setdefault(row, {})[col] = e["seeds"]
    for (row, peer), equal in same.items():
        if equal and row in table and peer in table[row]:
            table[row][tuned_label(peer)] = table[row][peer]
    return table


def columns(table: dict[str, Any], peers: list[str]) -> list[str]:
    cols = []
    for p in peers:
        cols.append(p)
        if any(tuned_label(p) in per for per in table.values()):
            cols.append(tuned_label(p))
    return cols


def jams(per: dict[str, dict[str, dict[str, float]]], col: str) -> list[str]:
    """Seeds on which ``col`` jammed compared with the other columns of the row (module doc)."""
    out = []
    for seed, m in per[col].items():
        others = [per[c][seed] for c in per if c != col and seed in per[c]]
        if not others:
            continue
        fewest = min(o.get("running", math.inf) for o in others)
        gridlock = any(k in m and not all(k in o for o in others) for k in JAM_KEYS)
        if gridlock or m.get("running", 0) > JAM_FACTOR * fewest + JAM_SLACK_VEH:
            out.append(seed)
    return sorted(out, key=int)


def cell(seeds: dict[str, dict[str, float]], best: bool, jammed: list[str]) -> str:
    d = [m["delay_s"] for m in seeds.values()]
    text = f"{sum(d) / len(d):.1f} ± {ci95(d):.1f}"
    text = f"**{text}**" if best else text
    text += f" / {max(d):.0f}"
    if jammed:
        text += " jam " + ",".join(f"s{s}" for s in jammed)
    return text


def mean(seeds: dict[str, dict[str, float]], key: str) -> float:
    return sum(m[key] for m in seeds.values()) / len(seeds)


def markdown(table: dict[str, Any], peers: list[str], seeds: list[int]) -> str:
    cols = columns(table, peers)
    head = "| scenario | " + " | ".join(f"`{c}`" for c in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for row, per in table.items():
        best = min(mean(per[c], "delay_s") for c in cols if c in per)
        cells = [
            cell(per[c], mean(per[c], "delay_s") == best, jams(per, c)) if c in per else "–"
            for c in cols
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + acceptance(table, peers)


def acceptance(table: dict[str, Any], peers: list[str]) -> str:
    """count / best tuned peer per row, the geometric mean, count > 1.01 x fixed, throughput."""
    lines = [
        "| scenario | count s | best tuned peer | peer s | count / peer |",
        "|---|---|---|---|---|",
    ]
    ratios, worse, short, jammed, lost = [], [], [], [], []
    for row, per in table.items():
        if SUBJECT not in per:
            continue
        tuned_cols = [
            tuned_label(p) if tuned_label(p) in per else p
            for p in peers
            if p not in (SUBJECT, BASELINE) and (p in per or tuned_label(p) in per)
        ]
        if not tuned_cols:
            continue
        c = mean(per[SUBJECT], "delay_s")
        peer = min(tuned_cols, key=lambda k: mean(per[k], "delay_s"))
        p = mean(per[peer], "delay_s")
        ratios.append(c / p)
        if c > p:
            lost.append(f"{row} ({c / p:.3f})")
        lines.append(f"| {row} | {c:.1f} | `{peer}` | {p:.1f} | {c / p:.3f} |")
        if BASELINE in per:
            for seed, m in per[SUBJECT].items():
                f = per[BASELINE].get(seed)
                if f is not None and m["delay_s"] > WORSE_THAN_FIXED * f["delay_s"]:
                    worse.append(f"{row} s{seed} ({m['delay_s']:.1f} vs {f['delay_s']:.1f})")
        others = [k for k in per if k != SUBJECT]
        top = max(mean(per[k], "throughput_veh_h") for k in others)
        tp = mean(per[SUBJECT], "throughput_veh_h")
        if tp < THROUGHPUT_SHORT * top:
            short.append(f"{row} ({tp:.0f} vs {top:.0f} veh/h)")
        jammed += [f"{row} s{s}" for s in jams(per, SUBJECT)]
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else math.nan
    lines += [
        "",
        f"- geometric mean of count / best tuned peer over {len(ratios)} rows: {geo:.3f}",
        "- rows where count's mean is above the best tuned peer's: "
        + ("; ".join(lost) if lost else "none"),
        f"- seeds where count's delay > {WORSE_THAN_FIXED} x fixed: "
        + ("; ".join(worse) if worse else "none"),
        f"- rows where count's throughput < {THROUGHPUT_SHORT:.1%} of the best peer's: "
        + ("; ".join(short) if short else "none"),
        "- count's jams: " + ("; ".join(jammed) if jammed else "none"),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# records


def load_records(path: Path) -> dict[str, Any]:
    """The records document (``{"cells": {row: {column: {...}}}}``; empty when absent)."""
    if not path.is_file():
        return {"cells": {}}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"records {path} are not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), dict):
        raise InputError(f"records {path} have no 'cells' table")
    return doc


def git_commit() -> str | None:
    """Short commit of the checkout the runs were made with (None outside git)."""
    r = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (r.stdout.strip() or None) if r.returncode == 0 else None


def record_cells(
    records: dict[str, Any], table: dict[str, Any], meta: dict[str, Any]
) -> dict[str, Any]:
    """``records`` with every cell of ``table`` (made from runs) replaced: its seeds' figures in
    ``RECORD_KEYS`` and ``meta`` (versions, commit, date)."""
    cells = records.setdefault("cells", {})
    for row, per in table.items():
        for col, seeds in per.items():
            cells.setdefault(row, {})[col] = {
                **meta,
                "seeds": {
                    seed: {k: m[k] for k in RECORD_KEYS if m.get(k) is not None}
                    for seed, m in seeds.items()
                },
            }
    return records


def fill_from_records(
    table: dict[str, Any], records: dict[str, Any], rows: list[str], cols: list[str]
) -> dict[str, str]:
    """Add to ``table`` the cells of ``rows`` x ``cols`` it lacks that ``records`` hold; returns
    ``{"row / column": "commit date"}`` of the cells taken."""
    taken = {}
    for row in rows:
        for col in cols:
            rec = records["cells"].get(row, {}).get(col)
            if rec is None or col in table.get(row, {}):
                continue
            table.setdefault(row, {})[col] = rec["seeds"]
            taken[f"{row} / {col}"] = f"{rec.get('commit') or '?'} {rec.get('date', '?')}"
    return taken


def records_note(taken: dict[str, str]) -> str:
    """One line: how many cells came from records, per commit and date."""
    if not taken:
        return ""
    by = Counter(taken.values())
    parts = ", ".join(f"{n} at {origin}" for origin, n in sorted(by.items()))
    return f"cells from records (commit, date of their runs): {parts}\n\n"


# ---------------------------------------------------------------------------------------------
# running


def bench(suite: Path, out: Path, jobs: int | None) -> None:
    """``lightwatch bench --resume``; its tables go to stderr, keeping stdout for the table."""
    run_bench(suite, out, jobs, resume=True, stdout=sys.stderr)


def tune_all(jobs: int | None, out: Path) -> None:
    """One ``lightwatch tune`` per grid of ``grids.toml``; tuned files into ``benchmarks/tuned``."""
    grids = tomllib.loads(GRIDS.read_text(encoding="utf-8"))
    for peer, grid in grids.items():
        cmd = [sys.executable, "-m", "sim.cli", "tune", "--controller", peer]
        for key, values in grid.items():
            cmd += ["--grid", f"{key}=" + ",".join(_text(v) for v in values)]
        cmd += ["--suite", str(TUNE_SUITE), "--seeds", TUNE_SEEDS, "--resume"]
        cmd += ["--out", str(out / "tune" / peer), "--save", str(TUNED_DIR / f"{peer}.toml")]
        if jobs:
            cmd += ["--jobs", str(jobs)]
        rc = subprocess.run(cmd, check=False, stdout=sys.stderr).returncode
        if rc != 0:
            raise SystemExit(rc)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="store_true", help="run the suites first (resumable)")
    ap.add_argument("--tune", action="store_true", help="re-tune every peer first")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("results") / "eval")
    ap.add_argument("--suite", type=Path, default=EVAL_SUITE, help="evaluation suite")
    ap.add_argument("--tuned-dir", type=Path, default=TUNED_DIR)
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    ap.add_argument(
        "--networks", default=None, help="only the rows of these networks (comma-separated)"
    )
    ap.add_argument(
        "--controllers",
        default=None,
        help="only run these controllers' columns (comma-separated); the others from records",
    )
    ap.add_argument("--records", type=Path, default=RECORDS, help="the records file")
    args = ap.parse_args(argv)
    networks = [n.strip() for n in args.networks.split(",") if n.strip()] if args.networks else []
    only = (
        [c.strip() for c in args.controllers.split(",") if c.strip()]
        if args.controllers is not None
        else None
    )
    try:
        if args.networks is not None and not networks:
            raise InputError("--networks: give at least one network name")
        if only is not None and not only:
            raise InputError("--controllers: give at least one controller name")
        full = tomllib.loads(args.suite.read_text(encoding="utf-8"))
        peers = controller_names(full)
        if networks or only is not None:
            args.suite = restrict(args.suite, networks, args.out, only)
        if args.tune:
            tune_all(args.jobs, args.out.parent)
        tuned = tuned_files(args.tuned_dir)
        if only is not None:
            tuned = {k: v for k, v in tuned.items() if k in only}
        suites, same = tuned_suites(args.suite, tuned)
        ran = args.run or args.tune
        if ran:
            bench(args.suite, args.out / "default", args.jobs)
        reports = []
        for net, doc in suites.items():
            path = args.out / "tuned" / net / "suite.toml"
            if ran:
                write_atomic(path, tomli_w.dumps(doc))
                bench(path, path.parent, args.jobs)
            if (path.parent / "bench.json").is_file():
                reports.append(json.loads((path.parent / "bench.json").read_text()))
        rows = suite_rows(tomllib.loads(args.suite.read_text(encoding="utf-8")))
        records = load_records(args.records)
        default_file = args.out / "default" / "bench.json"
        if default_file.is_file():
            default = json.loads(default_file.read_text(encoding="utf-8"))
        elif records["cells"]:
            default = {"results": {}, "seeds": full["seeds"], **records.get("versions", {})}
        else:
            print(f"error: {default_file} not found; run with --run first", file=sys.stderr)
            return 2
        default["results"] = {r: default["results"][r] for r in rows if r in default["results"]}
        table = merge(default, reports, same)
        if ran and table:
            meta = {
                "lightwatch_version": default["lightwatch_version"],
                "sumo_version": default["sumo_version"],
                "commit": git_commit(),
                "date": date.today().isoformat(),
            }
            records = record_cells(records, table, meta)
            records["versions"] = {k: meta[k] for k in ("lightwatch_version", "sumo_version")}
            write_atomic(args.records, json.dumps(records, indent=1, sort_keys=True) + "\n")
        cols = [c for p in peers for c in (p, tuned_label(p))]
        taken = fill_from_records(table, records, rows, cols)
        missing = [r for r in rows if r not in table]
        if missing:
            raise InputError(
                f"{default_file} has no results for {', '.join(missing)}; run with --run"
            )
        table = {r: table[r] for r in rows}
    except LightwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept, continue with --run", file=sys.stderr)
        return 130
    text = (
        f"delay s: mean ± 95 % CI / worst seed, seeds {','.join(map(str, default['seeds']))}, "
        f"lightwatch {default.get('lightwatch_version', '?')}, "
        f"SUMO {default.get('sumo_version', '?')}\n\n"
        + records_note(taken)
        + markdown(table, peers, default["seeds"])
    )
    print(text)
    if args.markdown:
        write_atomic(args.markdown, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
