#!/usr/bin/env python3
"""Boot an image or a bundled app: the same options as `python -m emulator run`.

python scripts/boot.py --app hello --harts 4
python scripts/boot.py build/guest/hello.default.<key>.elf --harts 2 --schedule random
"""

import argparse
import sys

from emulator.cli import add_run_options, options_from, run_and_report

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser)
    sys.exit(run_and_report(options_from(parser.parse_args())))
