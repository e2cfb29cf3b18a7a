#!/usr/bin/env python3
"""Boot an image or a bundled app: `python -m emulator run` (same options)."""

import sys

from emulator.cli import main

if __name__ == "__main__":  # spawned workers import this module again
    sys.exit(main(["run", *sys.argv[1:]]))
