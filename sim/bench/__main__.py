"""``python -m sim.bench CONFIG.json``: run one configuration in this process (Dask workers)."""

import sys

from sim.bench.executors import main_run_config

if len(sys.argv) != 2:
    print("usage: python -m sim.bench CONFIG.json", file=sys.stderr)
    sys.exit(2)
main_run_config(sys.argv[1])
