#!/usr/bin/env python3
"""Where harts wait: `python -m emulator run --atomics --quiet` (same options)."""

import sys

from emulator.cli import main

if __name__ == "__main__":  # spawned workers import this module again
    sys.exit(main(["run", "--atomics", "--quiet", *sys.argv[1:]]))
