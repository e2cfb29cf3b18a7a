#!/usr/bin/env python3
"""Trace every allocator call per hart: `python -m emulator run --trace --quiet` (same options)."""

import sys

from emulator.cli import main

if __name__ == "__main__":  # spawned workers import this module again
    sys.exit(main(["run", "--trace", "--quiet", *sys.argv[1:]]))
