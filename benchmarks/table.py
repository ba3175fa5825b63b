"""Print a bench result as a Markdown table (the first comparison in benchmarks/README.md).

    python benchmarks/table.py results/bench/controllers/bench.json

Rows are scenarios, columns controllers; each cell is mean ``delay_s`` (± half-width of the 95 %
interval over seeds) over mean ``throughput_veh_h``. The lowest delay of a row is in bold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(report: dict) -> str:
    """Markdown table of ``report`` (the content of a ``bench.json``)."""
    results = report["results"]
    controllers: list[str] = []
    for per in results.values():
        controllers += [c for c in per if c not in controllers]
    head = "| scenario | " + " | ".join(f"`{c}`" for c in controllers) + " |"
    lines = [head, "|---" * (len(controllers) + 1) + "|"]
    for scenario, per in results.items():
        delays = {c: e["mean"]["delay_s"] for c, e in per.items()}
        best = min(delays.values())
        cells = []
        for c in controllers:
            e = per.get(c)
            if e is None:
                cells.append("–")
                continue
            d, ci = e["mean"]["delay_s"], e["ci95"]["delay_s"]
            text = f"{d:.1f} ± {ci:.1f}"
            if d == best:
                text = f"**{text}**"
            cells.append(f"{text} / {e['mean']['throughput_veh_h']:.0f}")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python benchmarks/table.py BENCH.json", file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    seeds = ",".join(map(str, report["seeds"]))
    print(
        f"delay s (± 95 % CI) / throughput veh/h, mean over seeds {seeds}, "
        f"lightwatch {report['lightwatch_version']}, SUMO {report['sumo_version']}\n"
    )
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
