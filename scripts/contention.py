#!/usr/bin/env python3
"""Run an image or a bundled app with the contention monitor and print where harts wait.

    python scripts/contention.py --app contention --harts 4 --quantum 1
    python scripts/contention.py --app locks --harts 4 --schedule random --seed 2

Same options as `python -m emulator run` (console off unless --show-console); the run
directory gets summary.json and atomics.json (schema in emulator/contention.py).
"""

import argparse
import sys

from emulator.cli import add_run_options, options_from, run_and_report

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser)
    parser.add_argument("--show-console", action="store_true", help="copy the guest console")
    args = parser.parse_args()
    opts = options_from(args)
    opts.atomics = True
    opts.stream = args.show_console
    sys.exit(run_and_report(opts))
