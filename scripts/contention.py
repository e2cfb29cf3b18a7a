#!/usr/bin/env python3
"""Run an image or a bundled app with the contention monitor and print where harts wait.

    python scripts/contention.py --app contention --harts 4 --quantum 1
    python scripts/contention.py --app locks --harts 4 --schedule random --seed 2

Same options as `python -m emulator run` (console off unless --show-console); the run
directory gets summary.json and atomics.json (schema in emulator/contention.py).
"""

import sys

from emulator.cli import script_main

if __name__ == "__main__":
    sys.exit(script_main(__doc__, atomics=True))
