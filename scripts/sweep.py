#!/usr/bin/env python3
"""Sweep the allocation benchmarks: `python -m emulator bench` (same options)."""

import sys

from emulator.cli import main

if __name__ == "__main__":  # spawned workers import this module again
    sys.exit(main(["bench", *sys.argv[1:]]))
