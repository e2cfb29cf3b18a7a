#!/usr/bin/env python3
"""Sweep benchmarks x configurations x harts x seeds with the virtual-time model (the same as
`python -m emulator bench`): CSV, JSON, a markdown table and plots in the run directory.

    python scripts/sweep.py --benchmarks bench-larson --configs bbuddy-spin --harts 1 2 4
    python scripts/sweep.py --out runs/full-sweep         # every benchmark, default grid
"""

import argparse
import sys

from emulator.cli import add_bench_options, cmd_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_options(parser)
    sys.exit(cmd_bench(parser.parse_args()))
